"""The demo: a seeded synthetic contact base of any size that fits ``schema.toml``, for ``segmint demo``, the
benchmark and the tests.

``mix`` says what the population is made of, ``generator`` draws it (in memory, Arrow tables), ``files`` writes it
as Parquet and caches one folder per (contacts, seed), ``progress`` shows long steps on a terminal, ``showcase``
holds the rules ``segmint demo`` shows.
"""

from .files import demo_dir, write_parquet
from .generator import DEFAULT_NOW, GENERATOR_VERSION, DemoData, demo_schema, generate

__all__ = ["DEFAULT_NOW", "GENERATOR_VERSION", "DemoData", "demo_dir", "demo_schema", "generate", "write_parquet"]
