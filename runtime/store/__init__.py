"""The contact store: contacts column-wise and their events grouped by contact (``columns``), built from Arrow,
Parquet, pandas or Polars (``load``, with a schema from ``infer`` when none is given), saved and opened memory-mapped
(``persist``), and kept current on disk by appends, deletes and compactions over partitions (``partitioned``, with
``batch`` and ``combine``). Engines only read it."""
