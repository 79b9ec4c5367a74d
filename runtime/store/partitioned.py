"""A saved store that takes new data: partitions, durable appends and deletes, compaction, snapshots (format 3).

Layout::

    store/manifest.json                the one commit point of the whole store
    store/data-<uuid>/0.npy ...        a partition's base generation (as in format 2)
    store/delta-<uuid>.arrows          one partition's part of one append or delete (runtime/store/batch.py), or
                                       the event ids its last compaction kept (runtime/store/eventids.py)
    store/.lock                        held while the manifest is switched or read (persist.switching/opening)

The manifest holds the schema, the partition count and rule, the store version (one more at every append, delete
and compaction) and, per partition, its base generation (files, sizes, CRCs) and its ordered deltas.

**Partitions.** A contact's partition is ``splitmix64(key(id) ^ PARTITION_SALT) % count`` (``runtime/idhash.py``),
fixed when the store is created: a contact never moves as the base grows, and new ids spread evenly without any
rebalancing (ranges of ids would need both). Each partition is a self-contained ``Store``; ``snapshot()`` lays them
one after another as one store, so every engine, ``Segment.explain`` and the registry take it unchanged and answer
exactly as on an unpartitioned store (the same contacts, in partition order).

**Appends** are checked whole first (``batch.prepare``), then each touched partition's part is written to a new
delta file (fsynced, the folder fsynced), then the manifest is switched (``durable.write_atomically``), and only
then does ``append`` return. A process killed before the switch leaves the store as it was (the unlisted delta file
is removed by the next write); after it, the append is whole. In memory a partition is its base plus its deltas,
merged when first evaluated (``combine``): contact rows of the batch replace the attributes of a contact whole
(upsert by external id) or add a contact at the end of its partition; events merge into each contact's run by time.

**Deletes** (``delete_contacts``) are a delta too: the contacts and their events are gone from every snapshot
taken after it, at once; their bytes stay in the base generation and earlier delta files until the next
compaction of their partition, which removes those files.

**Compaction** writes each partition's merged contacts and events as a new base generation, switches the manifest
and removes the old generation and the merged delta files (only files the old manifest listed, and remains of
killed writers). Row numbers inside a partition change only at a delete or a compaction; membership in live
segments is kept by external id, so it survives both. ``compact_in_background`` does it partition by partition in a
thread, holding the writer's lock only for each switch (deltas that arrived meanwhile stay deltas of the new base);
a lock file ``.compacting-<token>`` marks the generation it is writing as work in progress for other writers'
sweeps (runtime/store/folder.py). Event ids (``batch.EVENT_ID``) are remembered for the store's horizon in time of
arrival (``event_id_days``, 7 by default): a compaction keeps those within it in a file the manifest names and
forgets older ones (runtime/store/eventids.py).

**Snapshots.** A ``Store`` from ``snapshot()`` is one version and never changes; a later append makes a new one.
Old files are removed only by a compaction (and a save over the folder), under the exclusive switch lock; opening
holds the same lock shared while it reads the manifest and maps the files, so an opener never sees a manifest whose
files are gone, and once mapped a removed file stays readable to the processes that mapped it (POSIX unlink).
Delta files are read whole at open.

**Writers.** Every write takes an exclusive lock on the folder (``persist.writing``): a second writer, in this
process or another, waits for the first and then works on the version the first left.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np

from ...compiler.schema import Schema
from ...dsl.errors import DataError, SchemaError
from ..durable import fsync_folder
from ..idhash import id_keys, splitmix64
from . import batch, eventids, folder, persist
from .batch import Delta
from .columns import Store
from .combine import concat_stores, select_rows
from .deltas import Part, member
from .parts import Partitions

VERSION = 3
PARTITION_SALT = 0x5E6A1D7C0FFEE5ED
RULE = f"splitmix64(key(id) ^ {PARTITION_SALT:#x}) % count"


def partition_of(ids: np.ndarray, count: int) -> np.ndarray:
    """The partition of every id among ``count``."""
    if count == 1:
        return np.zeros(len(ids), np.int64)
    return (splitmix64(id_keys(ids) ^ np.uint64(PARTITION_SALT)) % np.uint64(count)).astype(np.int64)


def open_partition(directory, manifest: Mapping, k: int) -> Store:
    """Partition ``k`` of the store version that ``manifest`` (``Partitions.manifest``) describes, read from the
    folder: how a cluster's worker opens its partition. Files a later compaction removed make a clear error."""
    directory = Path(directory)
    source = str(directory / persist.MANIFEST)
    try:
        with persist.opening(directory):
            if manifest["version"] < VERSION:
                return persist.open_generation(directory, dict(manifest), False)
            spec = manifest["parts"][k]
            base = persist.open_generation(directory, {**spec["base"], "schema": manifest["schema"]}, False)
            deltas = tuple(batch.read_delta(directory / entry["file"], entry, source) for entry in spec["deltas"])
    except (OSError, DataError) as error:
        if (directory / persist.MANIFEST).is_file() and persist.parse_manifest(
                persist._manifest_text(directory), directory / persist.MANIFEST).get("store_version") != manifest.get(
                "store_version"):
            raise DataError(f"version {manifest.get('store_version', 1)} of the store is gone (a compaction removed "
                            "its files since): evaluate the current version", source=source) from None
        raise DataError(f"cannot open partition {k} of the store: {error}", source=source) from None
    return Part(base, deltas).merged(str(directory))


class SavedStore:
    """A saved store folder, opened to read it and to write to it.

    ``SavedStore.create(folder, store, partitions=4)`` saves ``store`` in ``partitions`` partitions;
    ``SavedStore.open(folder)`` opens any saved store (formats 1 and 2 as one partition; the first write turns a
    format 2 store into format 3 without copying its data). ``snapshot()`` is the store at this object's current
    version, for ``Segment.evaluate``, ``evaluate_many``, ``explain`` and the registry. ``append``,
    ``delete_contacts`` and ``compact`` return the new version once it is durable; snapshots taken before them
    are unchanged. Another process's writes are seen after ``refresh()`` (and before every write of this one).
    """

    def __init__(self, directory: Path, manifest: dict, parts: list[Part], text: bytes | None) -> None:
        self.directory = directory
        # one version's manifest, parts and manifest bytes, switched in one assignment: a reader in another thread
        # (parts(), snapshot(), info()) takes the tuple once and never sees the parts of one version with the
        # manifest of the next
        self._held: tuple[dict, list[Part], bytes | None] = (manifest, parts, text)
        self.schema: Schema = parts[0].base.schema
        self._snapshot: tuple[list[Part], Store] | None = None  # the snapshot of the parts it was made from

    @property
    def _manifest(self) -> dict:
        return self._held[0]

    @property
    def _parts(self) -> list[Part]:
        return self._held[1]

    @property
    def _text(self) -> bytes | None:
        return self._held[2]

    # -- opening ----------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, directory, *, verify: bool = False) -> SavedStore:
        directory = Path(directory)
        with persist.opening(directory):
            text = persist._manifest_text(directory)
            return cls.from_manifest(directory, persist.parse_manifest(text, directory / persist.MANIFEST), verify,
                                     text)

    @classmethod
    def from_manifest(cls, directory: Path, manifest: dict, verify: bool, text: bytes | None = None) -> SavedStore:
        source = str(directory / persist.MANIFEST)
        if manifest["version"] < VERSION:
            if manifest["version"] == 1 and verify:
                raise DataError("this store (format version 1) has no checksums to verify; save it again",
                                source=source)
            return cls(directory, manifest, [Part(persist.open_generation(directory, manifest, verify), ())], text)
        shape = persist._Manifest(manifest, source)
        schema_dict = shape.mapping("schema", "the manifest")
        try:
            Schema.from_dict(schema_dict)
        except SchemaError as error:
            raise DataError(f"the schema in manifest.json is not usable: {error}", source=source) from None
        partitions = shape.mapping("partitions", "the manifest")
        count = shape.count("count", "'partitions'", partitions)
        if partitions.get("rule") != RULE or count < 1:
            raise DataError(f"manifest.json: partitions by {partitions.get('rule')!r} in {count} are not "
                            "supported", source=source)
        shape.count("store_version", "the manifest")
        parts = manifest.get("parts")
        if not isinstance(parts, list) or len(parts) != count:
            raise DataError(f"manifest.json is damaged: {count} partitions but no list of as many parts",
                            source=source)
        opened = []
        now = eventids.now_us()  # the arrival of deltas from before appends recorded theirs
        for spec in parts:
            base = shape.mapping("base", "a partition", spec)
            deltas = spec.get("deltas")
            if not isinstance(deltas, list):
                raise DataError("manifest.json is damaged: a partition has no list of deltas", source=source)
            store = persist.open_generation(directory, {**base, "schema": schema_dict}, verify)
            loaded = []
            for entry in deltas:
                name = shape.text("file", "a delta", entry)
                if not persist.DELTA_FILE.match(name):
                    raise DataError(f"manifest.json is damaged: {name!r} is not a delta file", source=source)
                loaded.append(batch.read_delta(directory / name, entry, source, now))
            opened.append(Part(store, tuple(loaded), carried=eventids.read_kept(directory, spec, source)))
        return cls(directory, manifest, opened, text)

    @classmethod
    def create(cls, directory, store: Store, *, partitions: int = 1,
               event_id_days: float = eventids.DEFAULT_DAYS) -> SavedStore:
        """Save ``store`` in ``directory`` (a new or empty folder, or a saved store, which it replaces whole) in
        ``partitions`` partitions. An appended event whose ``event_id`` arrived within the last ``event_id_days``
        days is dropped (runtime/store/eventids.py)."""
        if isinstance(partitions, bool) or not isinstance(partitions, int) or not 1 <= partitions <= 4096:
            raise ValueError(f"partitions is a count from 1 to 4096, not {partitions!r}")
        event_id_days = eventids.checked_days(event_id_days)
        directory = Path(directory)
        with _os_errors(directory):
            persist._make_folder(directory)
            with persist.writing(directory):
                old = persist._current_manifest(directory)
                where = partition_of(np.asarray(store.ids), partitions)
                stores = [store] if partitions == 1 else [
                    select_rows(store, np.flatnonzero(where == k)) for k in range(partitions)]
                written = []
                try:
                    for part in stores:
                        written.append(persist.write_generation(part, directory))
                except BaseException:
                    for generation, _ in written:
                        persist._remove_generation(directory / generation)
                    raise
                manifest = {
                    "format": persist.FORMAT, "version": VERSION, "store_version": 1,
                    "schema": store.schema.to_dict(),
                    "partitions": {"count": partitions, "rule": RULE},
                    "event_id_days": event_id_days,
                    "parts": [{"base": body, "deltas": []} for _, body in written],
                }
                text = folder.commit(directory, manifest, old)
        return cls(directory, manifest, [Part(part, ()) for part in stores], text)

    # -- reading ----------------------------------------------------------------------------------------------
    @property
    def version(self) -> int:
        """The store version this object holds: 1 at creation (and for a format 1 or 2 store), one more at every
        append, delete and compaction."""
        return self._manifest.get("store_version", 1)

    @property
    def partitions(self) -> int:
        return len(self._parts)

    def snapshot(self) -> Store:
        """The store at this object's version, all partitions one after another (it never changes)."""
        parts = self._held[1]  # one version's, even while another thread appends
        cached = self._snapshot
        if cached is not None and cached[0] is parts:
            return cached[1]
        store = concat_stores(self.schema, [part.merged(str(self.directory)) for part in parts])
        self._snapshot = (parts, store)
        return store

    def parts(self) -> Partitions:
        """The partitions at this object's version, each a store of its own (never changes): what
        ``Segment.evaluate`` and ``evaluate_many`` run on, partition by partition, when given this saved store."""
        manifest, parts, _ = self._held  # one version's, even while another thread appends
        return Partitions(self.schema, tuple(part.merged(str(self.directory)) for part in parts), self.directory,
                          manifest.get("store_version", 1), manifest)

    def partition(self, k: int) -> Store:
        """Partition ``k`` at this object's version: a store of its own."""
        return self._parts[k].merged(str(self.directory))

    def refresh(self) -> bool:
        """Take up the version another process left in the folder; True when there was one."""
        with persist.opening(self.directory):
            text = persist._manifest_text(self.directory)
            if text == self._text:
                return False
            self._take(SavedStore.from_manifest(self.directory, persist.parse_manifest(
                text, self.directory / persist.MANIFEST), False, text))
        return True

    def info(self) -> dict:
        """Partitions, version, contacts, events, deltas and bytes, as the store's manifest says."""
        manifest, held, _ = self._held
        parts = manifest.get("parts") or [{"base": manifest, "deltas": []}]
        described = []
        for part, spec in zip(held, parts, strict=True):
            base_bytes = sum(entry.get("bytes", 0) for entry in (spec["base"].get("files") or {}).values())
            described.append({
                "contacts": len(part.ids()),
                "base_contacts": len(part.base),
                "base_events": part.base.n_events,
                "base_bytes": base_bytes,
                "deltas": len(spec["deltas"]),
                "delta_events": sum(d.n_events for d in part.deltas),
                "delta_bytes": sum(entry.get("bytes", 0) for entry in spec["deltas"]),
            })
        return {
            "folder": str(self.directory),
            "format": manifest["version"],
            "version": manifest.get("store_version", 1),
            "partitions": described,
            "rule": RULE if len(held) > 1 else None,
        }

    # -- writing ----------------------------------------------------------------------------------------------
    def append(self, events: Mapping | None = None, contacts=None) -> int:
        """Add events (``{event type: table}``) and contact rows (new contacts, or new attributes of existing ones:
        a row replaces the contact's attributes whole). Checked whole first; returns the new version once it is
        on disk. An event whose ``event_id`` arrived (for its event type) within the store's horizon, earlier in
        this append or in an append acknowledged less than ``event_id_days`` ago, is dropped."""
        if events is not None and not isinstance(events, Mapping):
            raise DataError(f"events are given as {{event type: table}}, not as {type(events).__name__}")
        with self._writing():
            id_dtype = np.asarray(self._parts[0].base.ids).dtype
            prepared = batch.prepare(self.schema, id_dtype, contacts, events, self._known, self._seen)
            count = len(self._parts)
            by_part: dict[int, Delta] = {}
            contact_part = partition_of(prepared.contact_ids, count)
            owner_parts = {name: partition_of(ids, count) for name, ids in prepared.event_contacts.items()}
            for k in range(count):
                table = prepared.contacts
                if table is not None and count > 1:
                    table = table.filter(contact_part == k)
                tables = {name: t.filter(owner_parts[name] == k) if count > 1 else t
                          for name, t in prepared.events.items()}
                tables = {name: t for name, t in tables.items() if t.num_rows}
                if (table is not None and table.num_rows) or tables:
                    by_part[k] = Delta("append", table if table is not None and table.num_rows else None, tables)
            if not by_part:
                return self.version
            return self._write_deltas(by_part)

    def delete_contacts(self, ids: Sequence) -> int:
        """Remove contacts (and all their events) by external id: gone from every snapshot taken after this
        returns, physically gone from the folder after the next compaction. Unknown ids are ignored."""
        with self._writing():
            id_dtype = np.asarray(self._parts[0].base.ids).dtype
            wanted = np.array(list(ids), dtype=object if id_dtype.kind == "O" else None)
            if id_dtype.kind != "O":
                if len(wanted) and wanted.dtype.kind not in "iu":
                    raise DataError("contact ids of this store are integers")
                wanted = wanted.astype(np.int64) if len(wanted) else np.zeros(0, np.int64)
            elif any(not isinstance(i, str) for i in wanted):
                raise DataError("contact ids of this store are text")
            where = partition_of(wanted, len(self._parts))
            by_part = {}
            for k, part in enumerate(self._parts):
                mine = wanted[where == k]
                mine = mine[member(part.ids(), mine)]
                if len(mine):
                    by_part[k] = Delta("delete", deleted=mine)
            if not by_part:
                return self.version
            return self._write_deltas(by_part)

    def compact(self) -> int:
        """Merge every partition's deltas into a new base generation, keep the event ids that arrived within the
        horizon and forget older ones (also of partitions without deltas); returns the new version."""
        with self._writing():
            manifest = self._next_manifest()
            cutoff = eventids.now_us() - eventids.horizon_us(manifest)
            touched = [k for k, part in enumerate(self._parts) if part.deltas]
            expired = [k for k, part in enumerate(self._parts)
                       if not part.deltas and len(part.carried.since(cutoff)) < len(part.carried)]
            if not touched and not expired:
                return self.version
            parts, written = list(self._parts), []
            try:
                for k in touched + expired:
                    part = self._parts[k]
                    spec = manifest["parts"][k]
                    spec.pop("event_ids", None)
                    if part.deltas:
                        merged = self.partition(k)
                        generation, spec["base"] = persist.write_generation(merged, self.directory)
                        written.append(generation)
                        spec["deltas"] = []
                    else:
                        merged = part.base
                    carried = part.seen().since(cutoff)
                    entry = eventids.write_kept(self.directory, carried, uuid.uuid4().hex, written)
                    if entry is not None:
                        spec["event_ids"] = entry
                    parts[k] = Part(merged, (), carried=carried)
            except BaseException:
                for generation in written:
                    persist._remove_generation(self.directory / generation)
                raise
            text = folder.commit(self.directory, manifest, self._manifest)
            self._advance(manifest, parts, text)
            return self.version

    def compact_in_background(self, min_delta_events: int = 0) -> Future:
        """Compact in a thread of its own, one partition at a time (those whose deltas hold at least
        ``min_delta_events`` events, contact rows and deleted ids), without holding up readers or writers: a
        partition's base and deltas are merged and written with no lock held, and only the manifest switch takes the
        writer's lock, keeping the deltas that arrived meanwhile. Memory: one partition's merge at a time. The
        future gives the version after the last switch."""
        future: Future = Future()

        def work() -> None:
            try:
                for k in range(len(self._parts)):
                    deltas = self._parts[k].deltas
                    if deltas and sum(_rows(d) for d in deltas) >= min_delta_events:
                        self.compact_partition(k)
                future.set_result(self.version)
            except BaseException as error:
                future.set_exception(error)

        threading.Thread(target=work, name="segmint-compaction", daemon=True).start()
        return future

    def compact_partition(self, k: int) -> int:
        """Merge partition ``k``'s deltas as they are now into a new base generation, holding the writer's lock only
        to switch the manifest (deltas appended meanwhile stay deltas of the new base: they name contacts by id, so
        they apply on top of it as they did on the old one). Returns the version."""
        with self._writing():
            part, entries = self._parts[k], list(self._manifest["parts"][k]["deltas"]) if self._manifest.get(
                "parts") else []
            base_files = self._manifest_base(k)
        if not part.deltas:
            return self.version
        merged = part.merged(str(self.directory))  # no lock held: the long part (free if evaluated already)
        carried = part.seen().since(eventids.now_us() - eventids.horizon_us(self._manifest))
        with _os_errors(self.directory), folder.writing_beside(self.directory) as token:
            generation, body = persist.write_generation(merged, self.directory, token)
            return self._switch_base(k, merged, [generation], body, base_files, entries, carried, token)

    def _switch_base(self, k: int, merged: Store, written: list, body: dict, base_files: Any, entries: list,
                     carried: eventids.SeenIds, token: str) -> int:
        try:
            ids_entry = eventids.write_kept(self.directory, carried, token, written)
            with self._writing():
                now = self._manifest["parts"][k]
                if self._manifest_base(k) != base_files or now["deltas"][:len(entries)] != entries:
                    raise _Superseded  # another compaction switched this partition first
                manifest = self._next_manifest()
                manifest["parts"][k] = {"base": body, "deltas": now["deltas"][len(entries):]}
                if ids_entry is not None:
                    manifest["parts"][k]["event_ids"] = ids_entry
                text = folder.commit(self.directory, manifest, self._manifest)
                parts = list(self._parts)
                parts[k] = Part(merged, self._parts[k].deltas[len(entries):], carried=carried)
                self._advance(manifest, parts, text)
                return self.version
        except _Superseded:
            for name in written:
                persist._remove_generation(self.directory / name)
            return self.version
        except BaseException:
            for name in written:
                persist._remove_generation(self.directory / name)
            raise

    def _manifest_base(self, k: int) -> Any:
        parts = self._manifest.get("parts")
        return parts[k]["base"].get("files") if parts else self._manifest.get("files")

    # -- internals --------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _writing(self):
        with _os_errors(self.directory), persist.writing(self.directory):
            text = persist._manifest_text(self.directory)
            if text != self._text:  # another writer changed the store since this object read it
                self._take(SavedStore.from_manifest(self.directory, persist.parse_manifest(
                    text, self.directory / persist.MANIFEST), False, text))
            if self._manifest["version"] == 1:
                raise DataError("a store of format version 1 cannot take appends; save it again",
                                source=str(self.directory))
            yield

    def _take(self, other: SavedStore) -> None:
        self._held, self.schema, self._snapshot = other._held, other.schema, None

    def _advance(self, manifest: dict, parts: list[Part], text: bytes) -> None:
        self._held, self._snapshot = (manifest, parts, text), None

    def _next_manifest(self) -> dict:
        """A copy of the manifest for the next version (a format 2 store becomes one partition of format 3)."""
        old = self._manifest
        if old["version"] < VERSION:
            base = {key: old[key] for key in ("contacts", "ids", "attributes", "events", "files")}
            manifest = {"format": persist.FORMAT, "version": VERSION, "store_version": 1, "schema": old["schema"],
                        "partitions": {"count": 1, "rule": RULE}, "parts": [{"base": base, "deltas": []}]}
        else:
            manifest = json.loads(json.dumps({k: v for k, v in old.items() if k != "checksum"}))
        manifest["store_version"] += 1
        return manifest

    def _write_deltas(self, by_part: Mapping[int, Delta]) -> int:
        manifest = self._next_manifest()
        at = eventids.now_us()  # the arrival of the change's event ids
        by_part = {k: dataclasses.replace(delta, at=at) for k, delta in by_part.items()}
        written = []
        try:
            for k, delta in by_part.items():
                path = self.directory / f"delta-{uuid.uuid4().hex}.arrows"
                written.append(path)
                entry = batch.write_delta(path, delta)
                entry["version"] = manifest["store_version"]
                manifest["parts"][k]["deltas"].append(entry)
            fsync_folder(self.directory)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        text = folder.commit(self.directory, manifest, None)
        parts = list(self._parts)
        for k, delta in by_part.items():
            parts[k] = parts[k].grown(delta)
        self._advance(manifest, parts, text)
        return self.version

    def _known(self, ids: np.ndarray) -> np.ndarray:
        where = partition_of(ids, len(self._parts))
        known = np.zeros(len(ids), bool)
        for k, part in enumerate(self._parts):
            mine = where == k
            if mine.any():
                known[mine] = member(part.ids(), ids[mine])
        return known

    def _seen(self, event_type: str, event_ids: np.ndarray) -> np.ndarray:
        since = eventids.now_us() - eventids.horizon_us(self._manifest)
        found = np.zeros(len(event_ids), bool)
        for part in self._parts:
            found |= part.seen().found(event_type, event_ids, since)
        return found


def _rows(delta: Delta) -> int:
    contacts = 0 if delta.contacts is None else delta.contacts.num_rows
    return delta.n_events + contacts + (0 if delta.deleted is None else len(delta.deleted))


class _Superseded(Exception):
    pass


@contextlib.contextmanager
def _os_errors(directory: Path):
    try:
        yield
    except OSError as error:  # a full disk, a folder we may not write to
        where = error.filename if error.filename is not None else directory
        raise DataError(f"cannot write the store: {error.strerror or error}", source=str(where)) from None


__all__ = ["PARTITION_SALT", "RULE", "SavedStore", "open_partition", "partition_of"]
