"""The kernel generator: optimised plans -> the source of one fused Numba kernel and the inputs it takes."""
