"""The demo data set on disk: Parquet files as the loaders read them, cached per (contacts, seed)."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .generator import GENERATOR_VERSION, DemoData, generate
from .progress import progress_steps

PARQUET_COMPRESSION = "zstd"
PARQUET_ROW_GROUP = 1 << 20

# == files =========================================================================================================


def write_parquet(data: DemoData, directory, *, progress: bool = False) -> Path:
    """Write the data set the way ``store_from_parquet`` reads it, plus ``schema.toml`` and ``meta.json``.

    ``meta.json`` is written last: a folder with it is complete.
    """
    directory = Path(directory)
    (directory / "events").mkdir(parents=True, exist_ok=True)
    files = {directory / "contacts.parquet": data.contacts}
    files.update({directory / "events" / f"{name}.parquet": table for name, table in data.events.items()})
    # Files are written side by side (Parquet encoding releases the GIL), biggest first so the threads end together.
    order = sorted(files, key=lambda path: -files[path].nbytes)
    with progress_steps(progress) as step, ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        advance = step("writing parquet", len(files))
        for _ in pool.map(lambda path: _write_table(files[path], path), order):
            advance()
    schema_text = (resources.files("segmint.runtime.demo") / "schema.toml").read_text(encoding="utf-8")
    (directory / "schema.toml").write_text(schema_text, encoding="utf-8")
    meta = {
        "generator_version": GENERATOR_VERSION,
        "seed": data.seed,
        "contacts": data.contacts.num_rows,
        "now": data.now.isoformat(),
        "counts": data.counts,
    }
    (directory / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return directory


def _write_table(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression=PARQUET_COMPRESSION, row_group_size=PARQUET_ROW_GROUP)


def demo_dir(contacts: int = 100_000, seed: int = 7, cache_dir: Path | None = None, progress: bool = False) -> Path:
    """The folder of the demo data set for (contacts, seed), generated and written on first use.

    The data is written to a temporary sibling folder and renamed into place, so a crashed or concurrent run never
    leaves half a data set under the final name; a run that loses the race simply uses the winner's folder.
    """
    root = Path(cache_dir or os.environ.get("SEGMINT_CACHE") or Path.home() / ".cache" / "segmint")
    target = root / f"demo-{contacts}-{seed}-v{GENERATOR_VERSION}"
    if (target / "meta.json").exists():
        return target
    root.mkdir(parents=True, exist_ok=True)
    temporary = root / f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        write_parquet(generate(contacts, seed=seed, progress=progress), temporary, progress=progress)
        try:
            temporary.rename(target)
        except OSError:
            if not (target / "meta.json").exists():  # not a lost race: a real failure
                raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return target
