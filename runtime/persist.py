"""Saving a store to a folder of ``.npy`` files plus ``manifest.json``, and opening it memory-mapped, so reopening
even a large store costs little more than reading the manifest.

No pickle anywhere: string dictionaries and string ids are a UTF-8 blob plus int64 offsets. A store is written to
a temporary folder beside the target and renamed into place, so a crash never leaves half a store. Opening checks
the manifest's format and version and every file's presence, dtype and length, naming the file that is wrong.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..compiler.errors import DataError
from ..compiler.schema import Schema
from ..compiler.types import Type
from .store import Column, EventTable, Store, Strings

FORMAT = "segmint.store"
VERSION = 1


def save_store(store: Store, directory) -> None:
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        writer = _Writer(staging)
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "schema": store.schema.to_dict(),
            "contacts": len(store),
            "ids": writer.strings("ids", store.ids) if store.ids.dtype == object else writer.array("ids", store.ids),
            "attributes": {name: writer.column(f"attr.{name}", c) for name, c in store.attributes.items()},
            "events": {
                name: {
                    "offsets": writer.array(f"events.{name}.offsets", table.offsets),
                    "ts": writer.array(f"events.{name}.ts", table.ts),
                    "properties": {
                        p: writer.column(f"events.{name}.{p}", c) for p, c in table.properties.items()
                    },
                }
                for name, table in store.events.items()
            },
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def open_store(directory) -> Store:
    directory = Path(directory)
    path = directory / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError("not a saved store: manifest.json is missing", source=str(directory)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"manifest.json is not valid JSON: {error}", source=str(path)) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataError("not a segmint store manifest", source=str(path))
    if manifest.get("version") != VERSION:
        raise DataError(f"store format version {manifest.get('version')!r} is not supported (this is {VERSION})",
                        source=str(path))
    reader = _Reader(directory)
    try:
        schema = Schema.from_dict(manifest["schema"])
        ids = reader.load(manifest["ids"], length=manifest["contacts"])
        attributes = {name: reader.column(spec, manifest["contacts"]) for name, spec in manifest["attributes"].items()}
        events = {}
        for name, spec in manifest["events"].items():
            offsets = reader.load(spec["offsets"], length=manifest["contacts"] + 1)
            n_events = int(offsets[-1])
            events[name] = EventTable(
                name,
                offsets,
                reader.load(spec["ts"], length=n_events),
                {p: reader.column(c, n_events) for p, c in spec["properties"].items()},
            )
    except (KeyError, TypeError) as error:
        raise DataError(f"manifest.json is incomplete: {error}", source=str(path)) from None
    return Store(schema, ids, attributes, events)


class _Writer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def array(self, name: str, values: np.ndarray) -> dict:
        file = f"{name}.npy"
        np.save(self.folder / file, np.ascontiguousarray(values), allow_pickle=False)
        return {"file": file, "dtype": str(values.dtype)}

    def strings(self, name: str, values) -> dict:
        encoded = [str(v).encode("utf-8") for v in values]
        offsets = np.zeros(len(encoded) + 1, np.int64)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        return {"strings": self.array(f"{name}.utf8", blob), "offsets": self.array(f"{name}.offsets", offsets)}

    def column(self, name: str, column: Column) -> dict:
        spec = {"type": column.type.value, "values": self.array(f"{name}.values", column.values)}
        if column.valid is not None:
            spec["valid"] = self.array(f"{name}.valid", column.valid)
        if column.dictionary is not None:
            spec["dictionary"] = self.strings(f"{name}.dict", column.dictionary)
        if column.offsets is not None:
            spec["offsets"] = self.array(f"{name}.offsets", column.offsets)
        return spec


class _Reader:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def load(self, spec: dict, length: int | None = None) -> np.ndarray:
        if "strings" in spec:
            return np.array(tuple(self.strings(spec)), dtype=object)
        path = self.folder / spec["file"]
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            raise DataError("file of the saved store is missing", source=str(path)) from None
        except (ValueError, OSError) as error:
            raise DataError(f"file of the saved store is damaged: {error}", source=str(path)) from None
        if str(array.dtype) != spec["dtype"] or (length is not None and len(array) != length):
            raise DataError(
                f"expected {length} values of {spec['dtype']}, found {len(array)} of {array.dtype}", source=str(path)
            )
        return array

    def strings(self, spec: dict) -> Strings:
        blob, offsets = self.load(spec["strings"]), self.load(spec["offsets"])
        if len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != len(blob) or np.any(np.diff(offsets) < 0):
            source = str(self.folder / spec["offsets"]["file"])
            raise DataError("string data of the saved store is damaged", source=source)
        data = pa.LargeStringArray.from_buffers(
            len(offsets) - 1, pa.py_buffer(np.asarray(offsets, dtype=np.int64)), pa.py_buffer(blob)
        )
        return Strings(data, source=str(self.folder / spec["strings"]["file"]))

    def column(self, spec: dict, length: int) -> Column:
        type_ = Type(spec["type"])
        offsets = self.load(spec["offsets"], length=length + 1) if "offsets" in spec else None
        values = self.load(spec["values"], length=None if offsets is not None else length)
        valid = self.load(spec["valid"], length=length) if "valid" in spec else None
        dictionary = self.strings(spec["dictionary"]) if "dictionary" in spec else None
        return Column(type_, values, valid, dictionary, offsets)
