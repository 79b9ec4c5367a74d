"""The demo: a seeded synthetic contact base of any size (``generate``) that fits ``schema.toml``, for ``segmint
demo``, the benchmark and the tests."""
