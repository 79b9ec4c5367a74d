"""segmint's benchmarks: the compiled kernels timed with pytest-benchmark, and their memory-traffic lower bound."""
