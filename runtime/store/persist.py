"""Saving a store to a folder of ``.npy`` files plus ``manifest.json``, and opening it memory-mapped, so reopening
even a large store costs little more than reading the manifest and checking the arrays' bounds.

No pickle anywhere: string dictionaries and string ids are a UTF-8 blob plus int64 offsets.

Layout (format version 2)::

    store/manifest.json            what the store holds, and which files hold it
    store/data-<generation>/0.npy  the arrays, numbered; the manifest maps them to columns

Files are named by number, never after a column or event type, so no two names can collide and no name can be too
long or hold a path. Saving never deletes what it did not write: it refuses a folder that is neither empty nor a
segmint store, writes the new generation beside the current one (every file fsynced, then the folder), switches
``manifest.json`` atomically (written beside, fsynced, ``os.replace``, folder fsynced), and only then removes the
files the old manifest listed. A process killed at any moment leaves the old store or the new one. Saves into one
folder are serialised by a lock on the folder, so a generation folder another save is writing is never removed.

Opening checks the manifest's shape, its own checksum, every file's size and the checksum of every small file
(dictionaries, and every file of a small store), then the arrays' invariants (``runtime/store/integrity.py``).
``verify=True`` checks the checksum of every file too: that reads the whole store. Stores of format version 1 (the
flat folder of named files) still open, without checksums.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ...compiler.schema import Field, Schema
from ...compiler.types import Type
from ...dsl.errors import DataError, SchemaError
from ..durable import fsync_folder, write_atomically
from . import integrity
from .columns import (
    FIRST_DAY,
    FIRST_US,
    LAST_DAY,
    LAST_US,
    STORAGE_DTYPE,
    Column,
    EventTable,
    Store,
    Strings,
)

FORMAT = "segmint.store"
VERSION = 2
READABLE_VERSIONS = (1, 2, 3)  # 3: partitions and deltas (runtime/store/partitioned.py)
MANIFEST = "manifest.json"
# The next manifest, written beside by durable.write_atomically before it replaces the current one
MANIFEST_BESIDE = re.compile(r"\.manifest\.json\.\w+\.tmp\Z")
# Held shared while a store is opened, exclusive while its manifest is switched and old files are removed: an opener
# never reads a manifest whose files are being removed (see ``switching`` and ``opening``).
LOCK = ".lock"
GENERATION = re.compile(r"data-[0-9a-f]{32}\Z")
DELTA_FILE = re.compile(r"delta-[0-9a-f]{32}\.arrows\Z")  # format 3: see runtime/store/partitioned.py
DATA_FILE = re.compile(r"\d+\.npy\Z")
VERSION_1_FILE = re.compile(r"[\w.-]+\.npy\Z")
# Files up to this size are checked against their checksum at every open: all of a small store, and of a large one
# the dictionaries and small columns, whose damage the structural checks cannot see (a changed category name).
ALWAYS_VERIFIED_BYTES = 1 << 20
CODE_DTYPES = ("int8", "int16", "int32")


# == saving ========================================================================================================


def save_store(store: Store, directory: str | os.PathLike) -> None:
    directory = Path(directory)
    try:
        _save(store, directory)
    except OSError as error:  # a full disk, a folder we may not write to
        where = error.filename if error.filename is not None else directory
        raise DataError(f"cannot save the store: {error.strerror or error}", source=str(where)) from None


def _save(store: Store, directory: Path) -> None:
    _make_folder(directory)
    with writing(directory):
        old = _current_manifest(directory)
        generation, body = write_generation(store, directory)
        manifest = {"format": FORMAT, "version": VERSION, "schema": store.schema.to_dict(), **body}
        manifest["checksum"] = manifest_checksum(manifest)
        with switching(directory):
            try:
                write_atomically(directory / MANIFEST, json.dumps(manifest, indent=1).encode())
            except BaseException:
                _remove_generation(directory / generation)
                raise
            _remove_old(directory, old, generation)


def write_generation(store: Store, directory: Path, token: str | None = None) -> tuple[str, dict]:
    """Write ``store``'s arrays into a new generation folder (every file and the folder fsynced): its name, and what
    a manifest says of it (contacts, ids, attributes, events, files). Nothing is left of it if this fails.
    ``token``: the folder's name is ``data-<token>`` (a hex string) instead of a new one."""
    generation = f"data-{token or uuid.uuid4().hex}"
    (directory / generation).mkdir()
    try:
        body = _write_generation(store, directory, generation)
        fsync_folder(directory / generation)
    except BaseException:
        _remove_generation(directory / generation)
        raise
    return generation, body


def _write_generation(store: Store, directory: Path, generation: str) -> dict:
    writer = _Writer(directory, generation)
    return {
        "contacts": len(store),
        "ids": writer.strings(store.ids) if store.ids.dtype == object else writer.array(store.ids),
        "attributes": {name: writer.column(c) for name, c in store.attributes.items()},
        "events": {
            name: {
                "offsets": writer.array(table.offsets),
                "ts": writer.array(table.ts),
                "properties": {p: writer.column(c) for p, c in table.properties.items()},
            }
            for name, table in store.events.items()
        },
        "files": writer.files,
    }


def _make_folder(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise DataError("cannot save a store here: this is a file, not a folder", source=str(directory))
    if not directory.exists():
        with contextlib.suppress(FileExistsError):  # another save made it meanwhile
            directory.mkdir(parents=True)
        fsync_folder(directory.parent)


@contextlib.contextmanager
def writing(directory: Path) -> Iterator[None]:
    """An exclusive lock on the folder itself for the whole of a write (a save, an append, a compaction): a second
    writer waits for the first (the OS releases the lock if the process dies)."""
    with _held(os.open(directory, os.O_RDONLY), fcntl.LOCK_EX):
        yield


@contextlib.contextmanager
def switching(directory: Path) -> Iterator[None]:
    """The lock file held exclusively while the manifest is switched and the files it no longer lists are removed:
    only for that moment, so openers wait milliseconds, not for a whole save."""
    with _held(os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o644), fcntl.LOCK_EX):
        yield


@contextlib.contextmanager
def opening(directory: Path) -> Iterator[bool]:
    """The lock file held shared while a store is opened (its manifest read, its files mapped: a file removed once
    mapped stays readable). Yields False when the folder has no lock file (a store saved before it had one, or a
    folder this process may not write): then opening retries against a concurrent save instead."""
    try:
        handle = os.open(directory / LOCK, os.O_RDONLY)
    except OSError:
        yield False
        return
    with _held(handle, fcntl.LOCK_SH):
        yield True


@contextlib.contextmanager
def _held(handle: int, mode: int) -> Iterator[None]:
    """``flock`` of an open file descriptor, released with it."""
    try:
        fcntl.flock(handle, mode)
        yield
    finally:
        os.close(handle)


def _current_manifest(directory: Path) -> dict | None:
    """The manifest of the store in the folder, None for a folder holding nothing (or only the remains of a save
    that was killed); any other folder is refused, untouched."""
    path = directory / MANIFEST
    if path.is_file():
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, OSError):
            manifest = None
        if isinstance(manifest, dict) and manifest.get("format") == FORMAT:
            return manifest
        raise DataError(
            "refusing to save here: manifest.json is not a segmint store manifest (nothing was changed; to replace "
            "a damaged store, remove its folder first)",
            source=str(directory),
        )
    others = [p.name for p in directory.iterdir() if not _remains_of_a_save(p) and p.name != LOCK]
    if others:
        shown = ", ".join(sorted(others)[:3]) + (", ..." if len(others) > 3 else "")
        raise DataError(
            f"refusing to save here: the folder is not empty ({shown}) and is not a segmint store; save into a new "
            "or empty folder (nothing was changed)",
            source=str(directory),
        )
    return None


def _remains_of_a_save(path: Path) -> bool:
    """A generation folder holding only numbered arrays, or a manifest never switched in: what a killed save
    leaves, and nothing a person would name so."""
    if MANIFEST_BESIDE.match(path.name) or DELTA_FILE.match(path.name):
        return path.is_file() and not path.is_symlink()
    if not GENERATION.match(path.name) or not path.is_dir() or path.is_symlink():
        return False
    return all(DATA_FILE.match(p.name) and p.is_file() and not p.is_symlink() for p in path.iterdir())


def _remove_old(directory: Path, old: dict | None, keep: str) -> None:
    """The files the old manifest listed, then the remains of saves that were killed (never anything else)."""
    if old is not None:
        for name in _listed_files(old):
            path = directory / name
            if path.is_file() and not path.is_symlink():
                path.unlink()
    for path in directory.iterdir():
        if path.name != keep and _remains_of_a_save(path):
            _remove_generation(path)
    fsync_folder(directory)


def _listed_files(manifest: Any) -> Iterator[str]:
    """Every file a manifest of either version names, when it has the shape segmint gives its files' names."""
    if isinstance(manifest, dict):
        for key, value in manifest.items():
            if key == "file" and isinstance(value, str) and _well_named(value):
                yield value
            else:
                yield from _listed_files(value)
    elif isinstance(manifest, list):
        for value in manifest:
            yield from _listed_files(value)


def _well_named(name: str) -> bool:
    folder, _, file = name.rpartition("/")
    if folder:
        return bool(GENERATION.match(folder) and DATA_FILE.match(file))
    return bool(VERSION_1_FILE.match(file)) and not file.startswith(".")


def _remove_generation(folder: Path) -> None:
    if folder.is_file() and _remains_of_a_save(folder):
        folder.unlink()
        return
    if _remains_of_a_save(folder):
        for path in folder.iterdir():
            path.unlink()
    with contextlib.suppress(OSError):  # not empty: something not ours is in it; leave it
        folder.rmdir()


def manifest_checksum(manifest: dict) -> int:
    body = {key: value for key, value in manifest.items() if key != "checksum"}
    return zlib.crc32(json.dumps(body, sort_keys=True).encode("ascii"))


class _ChecksummedFile:
    """A file that keeps the CRC-32 of what is written to it (numpy writes through ``write``)."""

    def __init__(self, handle) -> None:
        self.handle, self.crc, self.size = handle, 0, 0

    def write(self, data) -> int:
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(memoryview(data).cast("B"))
        return self.handle.write(data)


class _Writer:
    def __init__(self, directory: Path, generation: str) -> None:
        self.directory, self.generation = directory, generation
        self.files: dict[str, dict] = {}

    def array(self, values: np.ndarray) -> dict:
        name = f"{self.generation}/{len(self.files)}.npy"
        with open(self.directory / name, "xb") as handle:
            counted = _ChecksummedFile(handle)
            np.lib.format.write_array(counted, np.ascontiguousarray(values), allow_pickle=False)
            handle.flush()
            os.fsync(handle.fileno())
        self.files[name] = {"bytes": counted.size, "crc32": counted.crc}
        return {"file": name, "dtype": str(values.dtype)}

    def strings(self, values) -> dict:
        if isinstance(values, Strings):  # already UTF-8 in Arrow's buffers: written as they are, no Python strings
            array = values.arrow.cast(pa.large_string())
            offsets = np.frombuffer(array.buffers()[1], np.int64)[array.offset: array.offset + len(array) + 1]
            data = array.buffers()[2]
            blob = np.frombuffer(data, np.uint8)[offsets[0]: offsets[-1]] if data is not None else np.zeros(0, np.uint8)
            return {"strings": self.array(blob), "offsets": self.array(offsets - offsets[0])}
        try:
            encoded = [str(v).encode("utf-8") for v in values]
        except UnicodeEncodeError as error:
            raise DataError(f"a string that is not valid Unicode cannot be saved: {error.object!r}") from None
        offsets = np.zeros(len(encoded) + 1, np.int64)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        return {"strings": self.array(blob), "offsets": self.array(offsets)}

    def column(self, column: Column) -> dict:
        spec = {"type": column.type.value, "values": self.array(column.values)}
        if column.valid is not None:
            spec["valid"] = self.array(column.valid)
        if column.dictionary is not None:
            spec["dictionary"] = self.strings(column.dictionary)
        if column.offsets is not None:
            spec["offsets"] = self.array(column.offsets)
        return spec


# == opening =======================================================================================================


def open_store(directory: str | os.PathLike, verify: bool = False) -> Store:
    """The store saved in ``directory``. A save replacing it meanwhile removes the files of the manifest read
    first: when opening fails and the manifest has changed since, the new store is opened instead."""
    directory = Path(directory)
    with opening(directory) as locked:
        text, attempts = _manifest_text(directory), 1
        while True:
            try:
                opened = _open_manifest(directory, text, verify)
                break
            except DataError:
                changed = None if locked else _manifest_text(directory, missing_ok=True)
                if attempts == REOPEN_ATTEMPTS or changed in (None, text):
                    raise
                text, attempts = changed, attempts + 1
    # a store of partitions merges its deltas (read whole) into its mapped files after the lock: writers need not wait
    return opened if isinstance(opened, Store) else opened.snapshot()


REOPEN_ATTEMPTS = 3


def _manifest_text(directory: Path, missing_ok: bool = False) -> bytes | None:
    path = directory / MANIFEST
    try:
        return path.read_bytes()
    except FileNotFoundError:
        if missing_ok:
            return None
        raise DataError("not a saved store: manifest.json is missing", source=str(directory)) from None
    except OSError as error:
        raise DataError(f"cannot read manifest.json: {error.strerror or error}", source=str(path)) from None


def _open_manifest(directory: Path, text: bytes, verify: bool):
    """The store of a manifest: a ``Store``, or for format 3 a ``SavedStore`` (its snapshot is the store)."""
    path = directory / MANIFEST
    manifest = parse_manifest(text, path)
    if manifest["version"] == 3:
        from .partitioned import SavedStore

        return SavedStore.from_manifest(directory, manifest, verify, text)
    if manifest["version"] == 1 and verify:
        raise DataError("this store (format version 1) has no checksums to verify; save it again", source=str(path))
    return open_generation(directory, manifest, verify)


def parse_manifest(text: bytes, path: Path) -> dict:
    """A manifest of any readable version, its checksum checked (versions 2 and later)."""
    try:
        manifest = json.loads(text.decode("utf-8"))
    except ValueError as error:  # UnicodeDecodeError is one
        raise DataError(f"manifest.json is not valid JSON: {error}", source=str(path)) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataError("not a segmint store manifest", source=str(path))
    version = manifest.get("version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        raise DataError(
            f"store format version {version!r} is not supported (this segmint reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}; save the store again)",
            source=str(path),
        )
    if version >= 2 and manifest.get("checksum") != manifest_checksum(manifest):
        raise DataError("manifest.json is damaged (its checksum does not match)", source=str(path))
    return manifest


def open_generation(directory: Path, manifest: dict, verify: bool) -> Store:
    """The store one generation holds: ``manifest`` has its schema, contacts, ids, attributes, events and (from
    version 2) files."""
    path = str(directory / MANIFEST)
    files = _Manifest(manifest, path).mapping("files", "the manifest") if "files" in manifest or manifest.get(
        "version") != 1 else None
    return _open(_Manifest(manifest, path), _Reader(directory, files, verify, path))


def _open(manifest: _Manifest, reader: _Reader) -> Store:
    try:
        schema = Schema.from_dict(manifest.mapping("schema", "the manifest"))
    except SchemaError as error:
        raise DataError(f"the schema in manifest.json is not usable: {error}", source=manifest.source) from None
    n = manifest.count("contacts", "the manifest")
    ids_spec = manifest.mapping("ids", "the manifest")
    if "strings" in ids_spec:
        ids = np.array(tuple(reader.strings(ids_spec)), dtype=object)
        if len(ids) != n:
            raise DataError(f"{len(ids)} contact ids for {n} contacts", source=manifest.source)
    else:
        ids = reader.array(ids_spec, n, ("int64",))
    attributes = manifest.same_names("attributes", schema.attributes, "the manifest")
    attributes = {name: reader.column(attributes[name], field, n) for name, field in schema.attributes.items()}
    events = {}
    specs = manifest.same_names("events", schema.events, "the manifest")
    for name in schema.events:
        spec, where = specs[name], f"event type '{name}'"
        offsets = reader.array(manifest.mapping("offsets", where, spec), n + 1, ("int64",))
        ts = reader.array(manifest.mapping("ts", where, spec), None, ("int64",))
        n_events = len(ts)
        integrity.offsets(offsets, n_events, reader.source(spec["offsets"]))
        integrity.event_times(ts, offsets, FIRST_US, LAST_US, reader.source(spec["ts"]))
        fields = schema.events[name].properties
        properties = manifest.same_names("properties", fields, where, spec)
        events[name] = EventTable(
            name, offsets, ts, {p: reader.column(properties[p], field, n_events) for p, field in fields.items()}
        )
    return Store(schema, ids, attributes, events)


class _Manifest:
    """Typed access to the manifest's parts: anything of the wrong shape is a DataError naming the manifest."""

    def __init__(self, manifest: dict, source: str) -> None:
        self.manifest, self.source = manifest, source

    def _get(self, key: str, where: str, within: Any) -> Any:
        within = self.manifest if within is None else within
        if not isinstance(within, dict) or key not in within:
            raise DataError(f"manifest.json is damaged: {where} has no '{key}'", source=self.source)
        return within[key]

    def mapping(self, key: str, where: str, within: Any = None) -> dict:
        value = self._get(key, where, within)
        if not isinstance(value, dict):
            raise DataError(
                f"manifest.json is damaged: '{key}' of {where} is {_kind(value)}, not a mapping", source=self.source
            )
        return value

    def count(self, key: str, where: str, within: Any = None) -> int:
        value = self._get(key, where, within)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise DataError(
                f"manifest.json is damaged: '{key}' of {where} is {value!r}, not a count", source=self.source
            )
        return value

    def text(self, key: str, where: str, within: Any = None) -> str:
        value = self._get(key, where, within)
        if not isinstance(value, str):
            raise DataError(
                f"manifest.json is damaged: '{key}' of {where} is {_kind(value)}, not text", source=self.source
            )
        return value

    def same_names(self, key: str, expected, where: str, within: Any = None) -> dict:
        """A mapping whose names are exactly those of ``expected`` (the schema's): no column without its data."""
        value = self.mapping(key, where, within)
        if set(value) != set(expected):
            raise DataError(
                f"manifest.json is damaged: {where} lists {key} {sorted(value)}, its schema {sorted(expected)}",
                source=self.source,
            )
        return value


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


class _Reader:
    def __init__(self, directory: Path, files: dict | None, verify: bool, manifest: str) -> None:
        self.directory, self.files, self.verify = directory, files, verify
        self.manifest = _Manifest({}, manifest)

    def source(self, spec: Any) -> str:
        if isinstance(spec, dict) and isinstance(spec.get("file"), str):
            return str(self.directory / spec["file"])
        return self.manifest.source

    def _path(self, spec: dict) -> tuple[str, Path]:
        name = self.manifest.text("file", "an array", spec)
        if not _well_named(name):
            raise DataError(f"manifest.json is damaged: {name!r} is not a file of a store", source=self.manifest.source)
        return name, self.directory / name

    def array(self, spec: Any, length: int | None, dtypes: tuple[str, ...]) -> np.ndarray:
        """The array of ``spec``, of one of ``dtypes``, one-dimensional, of ``length`` values (any if None)."""
        name, path = self._path(spec)
        if self.files is not None:
            self._check_file(name, path)
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            raise DataError("file of the saved store is missing", source=str(path)) from None
        except Exception as error:  # numpy's header parser raises what the damaged bytes lead it to (TokenError...)
            raise DataError(f"file of the saved store is damaged: {error!r}", source=str(path)) from None
        declared = self.manifest.text("dtype", "an array", spec)
        if (
            str(array.dtype) != declared
            or declared not in dtypes
            or array.ndim != 1
            or (length is not None and len(array) != length)
        ):
            expected = f"{length} values" if length is not None else "values"
            raise DataError(
                f"expected {expected} of {' or '.join(dtypes)}, found {array.shape} of {array.dtype}", source=str(path)
            )
        return array

    def _check_file(self, name: str, path: Path) -> None:
        entry = self.files.get(name)
        if not isinstance(entry, dict) or not isinstance(entry.get("bytes"), int):
            raise DataError(f"manifest.json is damaged: it does not list {name}", source=self.manifest.source)
        try:
            size = path.stat().st_size
            if size != entry["bytes"]:
                raise DataError(
                    f"file of the saved store is damaged: {size} bytes, {entry['bytes']} written", source=str(path)
                )
            if not (self.verify or size <= ALWAYS_VERIFIED_BYTES):
                return
            crc = 0
            with open(path, "rb") as handle:
                while block := handle.read(1 << 24):
                    crc = zlib.crc32(block, crc)
        except FileNotFoundError:
            raise DataError("file of the saved store is missing", source=str(path)) from None
        except OSError as error:
            raise DataError(f"cannot read this file of the saved store: {error.strerror}", source=str(path)) from None
        if crc != entry.get("crc32"):
            raise DataError("file of the saved store is damaged (its checksum does not match)", source=str(path))

    def strings(self, spec: Any) -> Strings:
        blob = self.array(self.manifest.mapping("strings", "a dictionary", spec), None, ("uint8",))
        offsets_spec = self.manifest.mapping("offsets", "a dictionary", spec)
        offsets = self.array(offsets_spec, None, ("int64",))
        integrity.offsets(offsets, len(blob), self.source(offsets_spec))
        data = pa.LargeStringArray.from_buffers(
            len(offsets) - 1, pa.py_buffer(np.asarray(offsets, dtype=np.int64)), pa.py_buffer(blob)
        )
        return Strings(data, source=self.source(spec["strings"]))

    def column(self, spec: Any, field: Field, length: int) -> Column:
        manifest = self.manifest
        where = f"column '{field.name}'"
        declared = manifest.text("type", where, spec)
        if declared != field.type.value:
            raise DataError(
                f"manifest.json is damaged: {where} is {declared!r}, its schema says {field.type}",
                source=manifest.source,
            )
        values_spec = manifest.mapping("values", where, spec)
        source = self.source(values_spec)
        valid = None
        if "valid" in spec:
            valid = self.array(spec["valid"], length, ("bool",))
            integrity.flags(valid, self.source(spec["valid"]))
        dictionary, offsets = None, None
        if field.type in (Type.STRING, Type.TAGS):
            dictionary_spec = manifest.mapping("dictionary", where, spec)
            dictionary = self.strings(dictionary_spec)
            if field.values is not None:
                if tuple(dictionary) != field.values:
                    raise DataError(
                        "the categories of the saved store differ from its schema's",
                        source=self.source(dictionary_spec.get("strings")),
                    )
                dictionary = field.values
        if field.type is Type.TAGS:
            offsets = self.array(manifest.mapping("offsets", where, spec), length + 1, ("int64",))
            values = self.array(values_spec, None, ("int32",))
            integrity.offsets(offsets, len(values), self.source(spec["offsets"]))
            integrity.codes(values, len(dictionary), None, source)
            return Column(field.type, values, None, dictionary, offsets)
        dtypes = CODE_DTYPES if field.type is Type.STRING else (str(STORAGE_DTYPE[field.type]),)
        values = self.array(values_spec, length, dtypes)
        _CHECKS[field.type](values, valid, dictionary, source)
        return Column(field.type, values, valid, dictionary)


_CHECKS: dict[Type, Callable[..., None]] = {
    Type.BOOL: lambda values, valid, dictionary, source: integrity.flags(values, source),
    Type.INT: lambda values, valid, dictionary, source: None,  # every int64 is an integer
    Type.FLOAT: lambda values, valid, dictionary, source: integrity.no_nan(values, source),
    Type.STRING: lambda values, valid, dictionary, source: integrity.codes(values, len(dictionary), valid, source),
    Type.DATE: lambda values, valid, dictionary, source: integrity.within(values, FIRST_DAY, LAST_DAY, source),
    Type.TIMESTAMP: lambda values, valid, dictionary, source: integrity.within(values, FIRST_US, LAST_US, source),
}


__all__ = ["FORMAT", "VERSION", "open_store", "save_store"]
