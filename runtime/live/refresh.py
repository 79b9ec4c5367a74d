"""A refresh: evaluate the registered segments at ``now``, compare with their stored membership, commit.

Stages, timed separately so the slow one shows: *evaluate* (the segments in as few batches as their parameters allow,
partition by partition: live/partwise.py), *next* (next-change bounds), *diff* (the new membership's bitmaps, and
against the old, carried over to this store's contacts by external id: live/layout.py) and *commit* (one SQLite
transaction: membership, one result row per segment with who entered and left, the refresh itself). Callbacks run
after the commit; their failures are collected in the report, never lost and never undoing the commit.

A segment that cannot be evaluated on this store (its rule reads a column the store lacks, a parameter no longer
fits) keeps its membership, gets ``last_error`` and is reported; the others refresh. A segment edited while the
refresh evaluated is left for the next refresh (its evaluation was of the old version).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pyroaring import BitMap

from ...compiler.types import iso_z
from ..timeutil import coerce_now
from . import layout
from .layout import Carry, Layout
from .membership import Epoch
from .partwise import digest_of_parts, evaluate, source_of
from .records import Change, Definition
from .registry import Registry, RegistryError, _stamp


@dataclass(frozen=True)
class SegmentReport:
    name: str
    size: int
    entered: int
    left: int
    cause: str  # see registry.Change; "" when the segment was not refreshed
    error: str | None = None
    alerts: tuple[str, ...] = ()  # the segment's alerts that fired (registry.alert)
    next_change: str | None = None  # the earliest instant membership may change without new data (nextchange.bound)


@dataclass(frozen=True)
class RefreshReport:
    """What one refresh did: its sequence number, ``now``, per segment size/entered/left, time per stage."""

    seq: int
    now: str
    segments: tuple[SegmentReport, ...]
    seconds: Mapping[str, float]  # evaluate, next, diff, commit, callbacks
    callback_errors: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        stages = ", ".join(f"{stage} {seconds:.3f}s" for stage, seconds in self.seconds.items())
        lines = [f"refresh {self.seq} at {self.now}: {len(self.segments)} segment(s); {stages}"]
        for s in self.segments:
            detail = f"error: {s.error}" if s.error else f"size {s.size}, +{s.entered} -{s.left} ({s.cause})"
            detail += f"; next change by {s.next_change}" if s.next_change else ""
            detail += "".join(f"; ALERT {alert}" for alert in s.alerts)
            lines.append(f"  {s.name}: {detail}")
        lines += [f"  callback failed: {e}" for e in self.callback_errors]
        return "\n".join(lines)


def refresh(registry: Registry, store, now=None, *, names: Sequence[str] | None = None, engine: str = "auto",
            wait_for_kernels: bool = False, client=None) -> RefreshReport:
    """``store``: a ``Store``, a ``SavedStore`` (evaluated partition by partition, never laid end to end) or its
    ``parts()``; with a Dask ``client``, a saved store evaluated on the cluster (live/partwise.py)."""
    now = coerce_now(now)
    clock = _Clock()
    stamp = registry.definitions_stamp()  # before reading the definitions: a later edit only makes it stale
    definitions = [registry.get(name) for name in names] if names is not None else registry.list()
    splits = registry.splits()
    control = registry.control()
    source = source_of(store, client)
    epoch, digest = Layout.of(source.ids()), digest_of_parts(source.digests())
    kept = _unchanged(registry, definitions, splits, control, digest, stamp, now)
    evaluated = evaluate(registry, [d for d in definitions if d.name not in kept], source, epoch, now, engine,
                         wait_for_kernels, splits, control)
    clock.lap("evaluate")
    reports = []
    with registry._write() as db:
        now_text = iso_z(now)
        seq = db.execute("INSERT INTO refreshes (now, at, seconds, epoch, store) VALUES (?, ?, 0, 0, ?)",
                         (now_text, _stamp(), digest)).lastrowid
        commit = _Commit(registry, db, seq, epoch, layout.save(db, epoch), digest, stamp)
        for definition in definitions:
            current = db.execute("SELECT version FROM segments WHERE name = ?", (definition.name,)).fetchone()
            if current is None or current[0] != definition.version:
                continue  # removed or edited while this refresh evaluated: the next refresh takes it
            if definition.name in kept:
                reports += [commit.unchanged(name) for name in kept[definition.name]]
                db.execute("UPDATE segments SET refreshed_seq = ?, refreshed_at = ?, refresh_seconds = ? "
                           "WHERE name = ?", (seq, _stamp(), clock.total(), definition.name))
                continue
            error = evaluated.errors.get(definition.name)
            if error is not None:
                db.execute("UPDATE segments SET last_error = ? WHERE name = ?", (error, definition.name))
                reports.append(SegmentReport(definition.name, 0, 0, 0, "", error))
                continue
            # membership keeps the version of the control group it excluded: a change of the group is an edit
            excluded = control.version if control is not None and definition.exclude_control else 0
            # a group's membership is the segment's and a fixed bucket: the same bound
            soon = _iso(evaluated.bounds[definition.name])
            groups = splits.get(definition.name)
            for name in [definition.name, *(f"{definition.name}.{group}" for group in (
                    groups.split.shares() if groups is not None else ()))]:
                version = definition.version if name == definition.name else groups.version
                reports.append(commit.membership(name, version, evaluated.members[name], soon, excluded))
            db.execute(
                "UPDATE segments SET refreshed_seq = ?, refreshed_at = ?, refresh_seconds = ?, last_error = NULL "
                "WHERE name = ?", (seq, _stamp(), clock.total(), definition.name))
        db.execute("UPDATE refreshes SET seconds = ?, epoch = ? WHERE seq = ?", (clock.total(), commit.epoch_id, seq))
    clock.lap("commit")
    # stages as before partitions: bounds (next) and building bitmaps (diff) happen inside the evaluation now
    spent = evaluated.seconds
    seconds = {"kernels": evaluated.waited, "evaluate": clock.laps["evaluate"], "next": spent.get("next", 0.0),
               "commit": clock.laps["commit"]}
    seconds["evaluate"] -= evaluated.waited + seconds["next"] + spent.get("diff", 0.0)
    seconds["diff"] = commit.diff_seconds + spent.get("diff", 0.0)
    seconds["commit"] -= commit.diff_seconds
    failures = _callbacks(registry, seq, now_text, epoch, commit.changes)
    seconds["callbacks"] = clock.lap("callbacks")
    return RefreshReport(seq, now_text, tuple(reports), seconds, tuple(failures))


class _Commit:
    """Writes one membership (a segment's, or a group's of a split) and its result row, inside the refresh's
    transaction."""

    def __init__(self, registry: Registry, db, seq: int, epoch: Epoch | Layout, epoch_id: int, digest: str,
                 stamp: int) -> None:
        self.registry, self.db, self.seq, self.epoch, self.epoch_id, self.digest, self.stamp = (
            registry, db, seq, epoch, epoch_id, digest, stamp)
        self.alerts = registry.alerts()
        self.diff_seconds = 0.0
        self.changes: list[tuple] = []
        self.carries: dict[int, Carry] = {}  # see carry

    def membership(self, name: str, version: int, new: BitMap, next_change: str | None,
                   control: int) -> SegmentReport:
        started = time.perf_counter()
        entered, left, gone, cause, before = self.diff(name, version, control, new)
        self.diff_seconds += time.perf_counter() - started
        fired = self.alerts[name].check(before, len(new)) if name in self.alerts else ()
        self.db.execute(
            "INSERT INTO membership (name, version, epoch, members, size, seq, control, stamp, next_change) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET version = excluded.version, "
            "epoch = excluded.epoch, members = excluded.members, size = excluded.size, seq = excluded.seq, "
            "control = excluded.control, stamp = excluded.stamp, next_change = excluded.next_change",
            (name, version, self.epoch_id, new.serialize(), len(new), self.seq, control, self.stamp,
             next_change or NEVER),
        )
        self.db.execute(
            "INSERT INTO results (seq, name, version, epoch, size, entered, left, cause, entered_rows, left_rows, "
            "gone, seconds, alerts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (self.seq, name, version, self.epoch_id, len(new), len(entered), len(left) + len(gone), cause,
             entered.serialize(), left.serialize(), json.dumps(gone), time.perf_counter() - started,
             json.dumps(list(fired))),
        )
        if self.registry._callbacks:
            self.changes.append((name, entered, left, gone, cause))
        return SegmentReport(name, len(new), len(entered), len(left) + len(gone), cause, alerts=tuple(fired),
                             next_change=next_change)

    def unchanged(self, name: str) -> SegmentReport:
        """A membership that cannot have changed (``_unchanged``): kept as it is, a result row with nobody entering
        or leaving; its next change bound still holds."""
        version, epoch_id, size, next_change = self.db.execute(
            "SELECT version, epoch, size, next_change FROM membership WHERE name = ?", (name,)).fetchone()
        fired = self.alerts[name].check(size, size) if name in self.alerts else ()
        self.db.execute("UPDATE membership SET seq = ? WHERE name = ?", (self.seq, name))
        nobody = BitMap().serialize()
        self.db.execute(
            "INSERT INTO results (seq, name, version, epoch, size, entered, left, cause, entered_rows, left_rows, "
            "gone, seconds, alerts) VALUES (?, ?, ?, ?, ?, 0, 0, 'time', ?, ?, '[]', 0, ?)",
            (self.seq, name, version, epoch_id, size, nobody, nobody, json.dumps(list(fired))),
        )
        return SegmentReport(name, size, 0, 0, "time", alerts=tuple(fired),
                             next_change=None if next_change == NEVER else next_change)

    def carry(self, epoch_id: int) -> Carry:
        """How memberships of an old epoch become rows of this refresh's, made once per refresh (an epoch's ids are
        8 bytes a contact: read for each of 1,000 segments at 1M contacts, 8 GB of copying, the diff stage's 8 s)."""
        if epoch_id not in self.carries:
            old = self.epoch if epoch_id == self.epoch_id else layout.load(self.db, epoch_id)
            self.carries[epoch_id] = Carry(self.epoch, old)
        return self.carries[epoch_id]

    def diff(self, name: str, version: int, control: int, new: BitMap) -> tuple[BitMap, BitMap, list, str, int | None]:
        """Who entered and left against the stored membership, why, and the size before."""
        row = self.db.execute(
            "SELECT m.version, m.control, m.epoch, m.members, m.size, f.store FROM membership m "
            "JOIN refreshes f ON f.seq = m.seq WHERE m.name = ?", (name,)).fetchone()
        if row is None:
            return new, BitMap(), [], "new", None
        old_version, old_control, old_epoch, members, size, old_digest = row
        old, gone = self.carry(old_epoch)(BitMap.deserialize(members))
        edited = old_version != version or old_control != control
        cause = "edit" if edited else "time" if old_digest == self.digest else "data"
        return new - old, old - new, gone, cause, size


NEVER = "never"  # membership.next_change of a segment that time alone never changes


def _unchanged(registry: Registry, definitions: list[Definition], splits: Mapping, control, digest: str, stamp: int,
               now: dt.datetime) -> dict[str, list[str]]:
    """The segments whose membership cannot have changed since their last refresh, each with its groups: the same
    store contents, no definition changed anywhere since (a derived segment reads its inputs' rules), the same
    split and control group, and ``now`` between that refresh's ``now`` and the next change bound computed then
    (nextchange.bound: membership is constant until it). They are not evaluated."""
    kept = {}
    for definition in definitions:
        excluded = control.version if control is not None and definition.exclude_control else 0
        split = splits.get(definition.name)
        expected = {definition.name: definition.version}
        if split is not None:
            expected |= {f"{definition.name}.{group}": split.version for group in split.split.shares()}
        with registry._lock:
            rows = registry._db.execute(
                f"SELECT m.name, m.version, m.control, m.stamp, m.next_change, f.now, f.store, m.seq FROM membership m "
                f"JOIN refreshes f ON f.seq = m.seq WHERE m.name IN ({', '.join('?' * len(expected))})",
                list(expected)).fetchall()
        if len(rows) != len(expected) or len({row[-1] for row in rows}) != 1:
            continue
        if all(version == expected[name] and control_key == excluded and row_stamp == stamp and store == digest
               and next_change is not None and coerce_now(then) <= now
               and (next_change == NEVER or now < coerce_now(next_change))
               for name, version, control_key, row_stamp, next_change, then, store, _ in rows):
            kept[definition.name] = list(expected)
    return kept


def _callbacks(registry: Registry, seq: int, now: str, epoch: Epoch | Layout, changes: list) -> list[str]:
    failures = []
    for name, entered, left, gone, cause in changes:
        for kind, ids in (("entered", epoch.ids_of(entered)), ("left", epoch.ids_of(left) + gone)):
            for callback in registry._callbacks.get((name, kind), ()):
                for contact in ids:
                    try:
                        callback(Change(seq, name, contact, kind, now, cause))
                    except Exception as error:  # a callback's failure is reported, never lost or fatal
                        failures.append(f"{name} {kind} {contact!r}: {type(error).__name__}: {error}")
    return failures


class _Clock:
    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, stage: str) -> float:
        now = time.perf_counter()
        self.laps[stage] = now - self.last
        self.last = now
        return self.laps[stage]

    def total(self) -> float:
        return time.perf_counter() - self.start


__all__ = ["RefreshReport", "RegistryError", "SegmentReport", "refresh"]


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")
