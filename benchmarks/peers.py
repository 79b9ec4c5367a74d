"""The engines segmint is compared with, as a user would set them up on the demo's Parquet folder.

- DuckDB: every Parquet file loaded into an in-memory table (``CREATE TABLE ... AS SELECT * FROM read_parquet``), so
  queries time the engine, not Parquet decoding; the suite's SQL (benchmarks/suite.py) runs on those tables. The
  Parquet files' dictionary-encoded columns (device, category, city, ...) become ENUM columns, as a user tuning
  DuckDB would make them: DuckDB reads them as VARCHAR, and ``device = 'ios'`` over 12M VARCHARs takes ~9x longer
  than over an ENUM (180 ms vs 20 ms at 1M contacts here).
- Polars: every file read eagerly into a DataFrame (``pl.read_parquet``), each query runs lazily over them
  (``df.lazy() ... .collect()``), so Polars optimises the whole query but decodes nothing.

Both use all the machine's cores (their defaults), as segmint's kernels do. Each answer is the numpy array of the
matching contacts' ids, fetched from the engine: the work a user needs to get the segment out.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from .suite import ID, Rule, sql_text


def parquet_files(directory: Path) -> dict[str, Path]:
    """Table name -> Parquet file of the demo folder: ``contacts`` and one per event type."""
    directory = Path(directory)
    files = {"contacts": directory / "contacts.parquet"}
    files.update({path.stem: path for path in sorted((directory / "events").glob("*.parquet"))})
    return files


class DuckDBPeer:
    name = "duckdb"

    def __init__(self, directory: Path) -> None:
        self.files = parquet_files(directory)
        self.db: duckdb.DuckDBPyConnection | None = None

    def load(self) -> None:
        """Create one in-memory table per Parquet file."""
        self.db = duckdb.connect()
        # Session time zone UTC: ``timestamptz - INTERVAL n DAY`` is then plain arithmetic on UTC instants, as
        # segmint's windows are (in a zone with daylight saving a day can be 23 or 25 hours).
        self.db.execute("SET TimeZone = 'UTC'")
        for table, path in self.files.items():
            source = f"read_parquet('{path}')"
            enums = []
            for column in pq.read_schema(path):
                if pa.types.is_dictionary(column.type):
                    name, enum = column.name, f"{table}_{column.name}"
                    self.db.execute(f"CREATE TYPE {enum} AS ENUM (SELECT DISTINCT {name} FROM {source} WHERE {name} "
                                    "IS NOT NULL)")  # fmt: skip
                    enums.append(f"{name}::{enum} AS {name}")
            columns = f"* REPLACE ({', '.join(enums)})" if enums else "*"
            self.db.execute(f"CREATE TABLE {table} AS SELECT {columns} FROM {source}")

    def ids(self, rule: Rule, now: dt.datetime) -> np.ndarray:
        assert self.db is not None, "load() first"
        params = dict(rule.peer_params) or None
        return self.db.execute(sql_text(rule, now), params).fetchnumpy()[ID]

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


class PolarsPeer:
    name = "polars"

    def __init__(self, directory: Path) -> None:
        self.files = parquet_files(directory)
        self.frames: dict[str, pl.DataFrame] = {}

    def load(self) -> None:
        self.frames = {table: pl.read_parquet(path) for table, path in self.files.items()}

    def ids(self, rule: Rule, now: dt.datetime) -> np.ndarray:
        frames = {table: frame.lazy() for table, frame in self.frames.items()}
        return rule.polars(frames, now, rule.peer_params).collect()[ID].to_numpy()

    def close(self) -> None:
        self.frames = {}


PEERS = {"duckdb": DuckDBPeer, "polars": PolarsPeer}
