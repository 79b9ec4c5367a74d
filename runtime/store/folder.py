"""A format 3 store's folder: the switch of its manifest, the one commit point, with the sweep of what no manifest
lists any more (``commit``), and the mark of a compaction writing beside other writers (``writing_beside``).

What a switch removes: the files the old manifest listed and the new one does not (merged delta files, replaced
generations and event ids files), and the remains of writers killed before their switch (unlisted delta files and
generation folders holding only numbered arrays, ``persist._remains_of_a_save``), except what a compaction at work
writes: ``data-<token>`` and ``delta-<token>.arrows`` while the lock file ``.compacting-<token>`` is held (the OS
releases the lock of a writer that is killed).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import uuid
from pathlib import Path
from typing import Any

from ..durable import fsync_folder, write_atomically
from . import persist

_BUSY = ".compacting-"  # a lock file held by a compaction in the background for the generation it writes


@contextlib.contextmanager
def writing_beside(directory: Path):
    """A token for a generation written while other writers commit (a background compaction): the lock file
    ``.compacting-<token>``, held until the switch, tells their commits that ``data-<token>`` and
    ``delta-<token>.arrows`` (its event ids) are not the remains of a killed writer (the OS releases the lock of
    one that is killed)."""
    token = uuid.uuid4().hex
    path = directory / f"{_BUSY}{token}"
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield token
    finally:
        path.unlink(missing_ok=True)
        os.close(handle)


def _being_written(directory: Path, path: Path) -> bool:
    """Whether ``path`` is the generation (``data-<token>``) or the event ids (``delta-<token>.arrows``) of a
    compaction at work."""
    token = path.name.removeprefix("data-").removeprefix("delta-").removesuffix(".arrows")
    lock = directory / f"{_BUSY}{token}"
    return lock.is_file() and _held(lock)


def _held(lock: Path) -> bool:
    """Whether a live writer holds ``lock``."""
    try:
        handle = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(handle)
    return False


def commit(directory: Path, manifest: dict, old: dict | None) -> bytes:
    """Switch the manifest (the commit point), then remove what no manifest lists any more: the files of ``old``
    that ``manifest`` dropped, and the remains of writers killed before their switch."""
    manifest["checksum"] = persist.manifest_checksum(manifest)
    text = json.dumps(manifest, indent=1).encode()
    with persist.switching(directory):
        write_atomically(directory / persist.MANIFEST, text)
        listed = listed_files(manifest)
        for name in listed_files(old) - listed if old is not None else ():
            path = directory / name
            if path.is_file() and not path.is_symlink():
                path.unlink()
        for path in directory.iterdir():
            if path.name not in listed and path.name not in {n.split("/")[0] for n in listed} and (
                    persist._remains_of_a_save(path)) and not _being_written(directory, path):
                persist._remove_generation(path)
            elif path.name.startswith(_BUSY) and not _held(path):
                path.unlink(missing_ok=True)  # left by a compaction killed before it wrote its generation
        fsync_folder(directory)
    return text


def listed_files(manifest: Any) -> set[str]:
    """Every file a manifest (any version) names: generation files and delta files."""
    names = set(persist._listed_files(manifest))
    for part in manifest.get("parts", ()) if isinstance(manifest, dict) else ():
        for entry in (*part.get("deltas", ()), part.get("event_ids")):
            if isinstance(entry, dict) and isinstance(entry.get("file"), str):
                names.add(entry["file"])
    return names
