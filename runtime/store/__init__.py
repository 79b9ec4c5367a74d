"""The contact store: contacts column-wise and their events grouped by contact (``columns``), built from Arrow,
Parquet, pandas or Polars (``load``, with a schema from ``infer`` when none is given), saved and opened memory-mapped
(``persist``). Engines only read it."""
