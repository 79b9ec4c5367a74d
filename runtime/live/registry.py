"""The segment registry: named segments kept live in an embedded SQLite database.

A registry holds segment definitions (name, rule text, description, bound parameters; every change kept as a
version), each segment's membership as of its last refresh, one result row per segment and refresh (size, who
entered and who left, why), and the position of every consumer in that stream. ``refresh`` (``live/refresh.py``)
evaluates the segments at a ``now`` and commits the new state in one transaction; ``changes`` and ``ack`` deliver
who entered and left, at least once.

The database runs in WAL mode with ``synchronous=FULL``: a committed refresh survives a crash, readers see the last
committed state while a refresh runs, and a second refresher waits for the first (up to ``timeout`` seconds) and
then fails with a clear message. One ``Registry`` object may be shared between threads (a lock serialises its use
of the connection); several processes may open the same file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from pyroaring import BitMap

from ...compiler import ir
from ...compiler.pipeline import compile_rule
from ...compiler.schema import Schema
from ...compiler.types import iso_z
from ...dsl import syntax
from ...dsl.errors import RuleError, SchemaError, SegmintError, Span
from ...dsl.lexicon import NAME
from ...dsl.parser import parse
from ..segment import Segment
from . import layout
from .layout import Layout
from .membership import Epoch
from .records import Alert, Change, Definition, SizePoint, SplitOf
from .splits import GlobalControl, Split

FORMAT, VERSION = "segmint.registry", 1

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS segments (
    name TEXT PRIMARY KEY, version INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    refreshed_seq INTEGER, refreshed_at TEXT, refresh_seconds REAL, last_error TEXT);
CREATE TABLE IF NOT EXISTS versions (
    name TEXT NOT NULL, version INTEGER NOT NULL, rule TEXT, description TEXT NOT NULL, params TEXT NOT NULL,
    created_at TEXT NOT NULL, exclude_control INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (name, version));
CREATE TABLE IF NOT EXISTS epochs (
    epoch INTEGER PRIMARY KEY, digest TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, ids BLOB NOT NULL,
    offsets BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS membership (
    name TEXT PRIMARY KEY, version INTEGER NOT NULL, epoch INTEGER NOT NULL, members BLOB NOT NULL,
    size INTEGER NOT NULL, seq INTEGER NOT NULL, control INTEGER NOT NULL DEFAULT 0, stamp INTEGER NOT NULL DEFAULT 0,
    next_change TEXT);
CREATE TABLE IF NOT EXISTS refreshes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, now TEXT NOT NULL, at TEXT NOT NULL, seconds REAL NOT NULL,
    epoch INTEGER NOT NULL, store TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    seq INTEGER NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL, epoch INTEGER NOT NULL, size INTEGER NOT NULL,
    entered INTEGER NOT NULL, left INTEGER NOT NULL, cause TEXT NOT NULL, entered_rows BLOB NOT NULL,
    left_rows BLOB NOT NULL, gone TEXT NOT NULL, seconds REAL NOT NULL, alerts TEXT NOT NULL,
    PRIMARY KEY (seq, name));
CREATE TABLE IF NOT EXISTS splits (name TEXT PRIMARY KEY, shares TEXT NOT NULL, salt TEXT NOT NULL,
    version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS alerts (name TEXT PRIMARY KEY, below INTEGER, above INTEGER, change REAL);
CREATE TABLE IF NOT EXISTS consumers (name TEXT PRIMARY KEY, acked INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS global_control (one INTEGER PRIMARY KEY CHECK (one = 1), percent REAL NOT NULL,
    salt TEXT NOT NULL, version INTEGER NOT NULL);
"""
# Columns added after a registry's first release: (table, column, declaration), added on open to registries made
# before them. membership.control is the version of the global control group the membership excluded (0: none);
# membership.stamp the count of definition versions when it was computed (0: unknown) and next_change the bound
# then ("never"; NULL: unknown): see live/refresh.py, segments that cannot have changed.
_ADDED_COLUMNS = (("versions", "exclude_control", "INTEGER NOT NULL DEFAULT 0"),
                  ("membership", "control", "INTEGER NOT NULL DEFAULT 0"),
                  ("membership", "stamp", "INTEGER NOT NULL DEFAULT 0"), ("membership", "next_change", "TEXT"))
GLOBAL_CONTROL_SALT = "global_control"


class RegistryError(SegmintError):
    """A registry operation that cannot be done as asked (unknown or duplicate segment, busy, bad file)."""


class Registry:
    """Segments kept live. ``Registry(path, schema)``: ``path`` a file (created if missing) or ``":memory:"``."""

    def __init__(self, path: str | Path, schema: Schema, *, timeout: float = 30.0) -> None:
        self.path, self.schema = str(path), schema
        self._lock = threading.RLock()
        self._callbacks: dict[tuple[str, str], list[Callable[[Change], None]]] = {}
        self._rules_schema: Schema | None = None  # see rules_schema
        self._rules_stamp = -1
        self._compiled: dict[str, Segment] = {}  # rule text -> compiled against _rules_schema
        self._names: dict[str, frozenset[str]] = {}  # rule text -> the names it uses (_names_in)
        try:
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            with self._write():
                for statement in _TABLES.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                for table, column, declaration in _ADDED_COLUMNS:
                    if column not in {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}:
                        self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
                self._check_format()
        except sqlite3.DatabaseError as error:
            raise RegistryError(f"cannot open the registry {self.path}: {error}") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- definitions ---------------------------------------------------------------------------------------------
    def add(
        self, name: str, rule: str, *, description: str = "", params: Mapping[str, object] | None = None,
        exclude_control: bool = False,
    ) -> Definition:
        """Register a segment; its rule is compiled against the schema now, so a bad rule is refused here.
        ``exclude_control``: its members never include the global control group (``global_control``)."""
        _check_name(name)
        params = dict(params or {})
        if self._row(name) is not None:
            raise RegistryError(f"a segment named '{name}' already exists (edit it with update)")
        self.segment_of(rule, params, self.rules_schema({name: rule}))
        with self._write():
            if self._row(name) is not None:
                raise RegistryError(f"a segment named '{name}' already exists (edit it with update)")
            stamp = _stamp()
            self._db.execute("INSERT INTO segments (name, version, created_at, updated_at) VALUES (?, 1, ?, ?)",
                             (name, stamp, stamp))
            self._version(name, 1, rule, description, params, stamp, exclude_control)
        return self.get(name)

    def update(self, name: str, *, rule: str | None = None, description: str | None = None,
               params: Mapping[str, object] | None = None, exclude_control: bool | None = None) -> Definition:
        """Change a segment: a new version. Its next refresh recomputes it and reports who entered and left
        against the old membership, with cause ``edit``."""
        current = self.get(name)
        rule = current.rule if rule is None else rule
        params = dict(current.params if params is None else params)
        description = current.description if description is None else description
        exclude_control = current.exclude_control if exclude_control is None else exclude_control
        self.segment_of(rule, params, self.rules_schema({name: rule}))  # a cycle through other segments fails here
        if params and self.users(name):
            raise RegistryError(f"segment '{name}' cannot take parameters: {', '.join(self.users(name))} use it")
        with self._write():
            version = self._row(name)["version"] + 1
            stamp = _stamp()
            self._db.execute("UPDATE segments SET version = ?, updated_at = ? WHERE name = ?", (version, stamp, name))
            self._db.execute("UPDATE splits SET version = version + 1 WHERE name = ?", (name,))
            self._version(name, version, rule, description, params, stamp, exclude_control)
        return self.get(name)

    def remove(self, name: str) -> None:
        """Delete a segment and its membership; its versions and past results stay as history."""
        if self._row(name) is None:
            raise self._unknown(name)
        users = self.users(name)
        if users:
            raise RegistryError(f"segment '{name}' is used by {', '.join(users)}: change or remove them first")
        with self._write():
            if self._row(name) is None:
                raise self._unknown(name)
            self._version(name, self._row(name)["version"] + 1, None, "", {}, _stamp())
            self._db.execute("DELETE FROM segments WHERE name = ?", (name,))
            self._db.execute("DELETE FROM splits WHERE name = ?", (name,))
            for table in ("membership", "alerts"):  # the segment's, and its groups'
                self._db.execute(f"DELETE FROM {table} WHERE name = ? OR name LIKE ? ESCAPE '\\'",
                                 (name, name.replace("_", "\\_") + ".%"))

    def get(self, name: str) -> Definition:
        with self._lock:
            row = self._row(name)
            if row is None:
                raise self._unknown(name)
            version = self._db.execute(
                "SELECT rule, description, params, exclude_control FROM versions WHERE name = ? AND version = ?",
                (name, row["version"]),
            ).fetchone()
        return Definition(name, version[0], version[1], json.loads(version[2]), row["version"], row["created_at"],
                          row["updated_at"], row["refreshed_seq"], row["refreshed_at"], row["refresh_seconds"],
                          row["last_error"], bool(version[3]))

    def list(self) -> list[Definition]:
        with self._lock:
            names = [r[0] for r in self._db.execute("SELECT name FROM segments ORDER BY name")]
        return [self.get(name) for name in names]

    def versions(self, name: str) -> list[dict]:
        """Every version of a segment, oldest first (a removal is a version without a rule)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT version, rule, description, params, created_at, exclude_control FROM versions WHERE name = ?"
                " ORDER BY version",
                (name,),
            ).fetchall()
        if not rows:
            raise self._unknown(name)
        return [{"version": v, "rule": r, "description": d, "params": json.loads(p), "created_at": c,
                 "exclude_control": bool(x)} for v, r, d, p, c, x in rows]

    def segment_of(self, rule: str, params: Mapping[str, object], schema: Schema | None = None) -> Segment:
        """The compiled segment of a definition; its parameters must be exactly those the rule takes. Names of
        other segments in the rule are their rules (derived segments: always as fresh as the data)."""
        schema = schema or self.rules_schema()
        segment = self._compiled.get(rule) if schema is self._rules_schema else None
        if segment is None:
            segment = Segment(compile_rule(rule, schema), schema)
            if schema is self._rules_schema:
                self._compiled[rule] = segment
        parametric = sorted(n for n in _uses(segment) if n in self._parametric())
        if parametric:
            raise RegistryError(
                f"a rule cannot use segments with parameters ({', '.join(parametric)}): use their rule with values"
            )
        missing, unknown = set(segment.params) - set(params), set(params) - set(segment.params)
        if missing or unknown:
            raise RegistryError(
                f"the rule takes {', '.join('$' + p for p in sorted(segment.params)) or 'no parameters'}"
                f"; given {', '.join('$' + p for p in sorted(params)) or 'none'}"
            )
        return segment

    def rules_schema(self, changed: Mapping[str, str | None] | None = None) -> Schema:
        """The registry's schema with every segment as a definition, so rules can name segments. Cached with the
        rules compiled against it until the definitions change, in this process or another: every add, update and
        removal writes a version row. ``changed``: segments' rules as they are about to be (None for a removal), to
        check an edit; then only the segments those rules use, directly or through others, are definitions (a
        schema's definitions are all parsed and bound when a rule is compiled against it: with every segment, the
        n-th add of a registry parsed n rules)."""
        with self._lock:
            stamp = self.definitions_stamp()
            if changed is None and self._rules_schema is not None and self._rules_stamp == stamp:
                return self._rules_schema
            rules = dict(self._db.execute(
                "SELECT s.name, v.rule FROM segments s JOIN versions v ON v.name = s.name AND v.version = s.version"
            ).fetchall())
            for name, rule in (changed or {}).items():
                if rule is None:
                    rules.pop(name, None)
                else:
                    rules[name] = rule
            if changed is not None:  # the edited segments, and those their rules use
                edited = {name: rule for name, rule in changed.items() if rule is not None}
                rules = {**self._used(rules, list(edited.values())), **edited}
            try:
                schema = dataclasses.replace(self.schema, definitions={**self.schema.definitions, **rules},
                                             cache={})
            except SchemaError as error:
                raise RegistryError(f"segment names share the schema's names: {error}") from None
            if changed is None:
                self._rules_schema, self._rules_stamp, self._compiled = schema, stamp, {}
            return schema

    def definitions_stamp(self) -> int:
        """Changes whenever any definition does, in any process: the count of the append-only versions table."""
        with self._lock:
            return self._db.execute("SELECT count(*) FROM versions").fetchone()[0]

    def _used(self, rules: Mapping[str, str], roots: list[str]) -> dict[str, str]:
        """The entries of ``rules`` (segment -> rule) that the ``roots`` rules name, directly or through others."""
        used: dict[str, str] = {}
        pending = list(roots)
        while pending:
            for name in self._names_in(pending.pop()):
                if name in rules and name not in used:
                    used[name] = rules[name]
                    pending.append(rules[name])
        return used

    def _names_in(self, rule: str) -> frozenset[str]:
        """The names a rule's text uses as subjects (segments among them); kept per text. A rule that does not
        parse names nothing here: compiling it reports the error."""
        names = self._names.get(rule)
        if names is None:
            try:
                stack, found = [parse(rule)], set()
            except RuleError:
                return frozenset()
            while stack:
                node = stack.pop()
                if isinstance(node, syntax.Subject):
                    found.add(node.name)
                for f in dataclasses.fields(node):
                    value = getattr(node, f.name)
                    stack.extend(item for item in (value if isinstance(value, tuple) else (value,))
                                 if dataclasses.is_dataclass(item) and not isinstance(item, Span))
            names = self._names[rule] = frozenset(found)
        return names

    def users(self, name: str) -> list[str]:
        """The segments whose rules name segment ``name``."""
        schema = self.rules_schema()
        return sorted(other.name for other in self.list()
                      if other.name != name and name in _uses(self.segment_of(other.rule, other.params, schema)))

    # -- membership, history, delivery ---------------------------------------------------------------------------
    def members(self, name: str) -> list:
        """External ids of the segment's members as of its last refresh."""
        with self._lock:
            self._check_known(name)
            row = self._db.execute("SELECT epoch, members FROM membership WHERE name = ?", (name,)).fetchone()
            if row is None:
                return []
            return self.epoch(row[0]).ids_of(BitMap.deserialize(row[1]))

    def membership_bytes(self) -> int:
        """Bytes of the stored membership bitmaps of all segments and groups (a refresh's entered/left not counted)."""
        with self._lock:
            return self._db.execute("SELECT coalesce(sum(length(members)), 0) FROM membership").fetchone()[0]

    def history(self, name: str) -> list[SizePoint]:
        """The segment's size after each refresh, oldest first."""
        with self._lock:
            self._check_known(name)
            rows = self._db.execute(
                "SELECT r.seq, f.now, r.version, r.size, r.entered, r.left, r.cause, r.seconds, r.alerts FROM results r"
                " JOIN refreshes f ON f.seq = r.seq WHERE r.name = ? ORDER BY r.seq",
                (name,),
            ).fetchall()
        return [SizePoint(*row[:-1], tuple(json.loads(row[-1]))) for row in rows]

    # -- splits and alerts -------------------------------------------------------------------------------------
    def split(self, name: str, shares: Mapping[str, float], *, salt: str | None = None) -> Split:
        """Split segment ``name`` into groups by share (``{"A": 45, "B": 45, "control": 10}``), available after the
        next refresh as segments ``name.A``, ``name.B``, ... A contact's group depends only on its id and ``salt``
        (default: the segment's name): see live/splits.py. Splitting again replaces the groups."""
        try:
            split = Split.of(dict(shares), name if salt is None else salt)
        except ValueError as error:
            raise RegistryError(f"split of '{name}': {error}") from None
        with self._write():
            self._check_known(name, groups=False)
            old = self._db.execute("SELECT shares FROM splits WHERE name = ?", (name,)).fetchone()
            self._db.execute(
                "INSERT INTO splits (name, shares, salt, version) VALUES (?, ?, ?, 1) ON CONFLICT (name) DO UPDATE "
                "SET shares = excluded.shares, salt = excluded.salt, version = version + 1",
                (name, json.dumps(split.shares()), split.salt),
            )
            dropped = set(json.loads(old[0])) - set(split.shares()) if old else set()
            for group in dropped:
                self._db.execute("DELETE FROM membership WHERE name = ?", (f"{name}.{group}",))
        return split

    def splits(self) -> dict[str, SplitOf]:
        with self._lock:
            rows = self._db.execute("SELECT name, shares, salt, version FROM splits").fetchall()
        return {name: SplitOf(Split.of(json.loads(shares), salt), version) for name, shares, salt, version in rows}

    def global_control(self, percent: float, *, salt: str = GLOBAL_CONTROL_SALT) -> GlobalControl:
        """Hold out ``percent`` of all contacts (0 <= percent < 100; 0: no control group) from every segment added
        with ``exclude_control=True``: the contacts whose bucket for ``salt`` is below ``percent`` x 100 (the
        bucket function of splits, live/splits.py), so a contact's place does not depend on the store's size or
        order. Effective from the next refresh; a change is an edit of the segments that exclude the group."""
        try:
            GlobalControl.width(percent)
        except ValueError as error:
            raise RegistryError(str(error)) from None
        if not isinstance(salt, str) or not salt:
            raise RegistryError(f"the global control group's salt is a non-empty text, not {salt!r}")
        with self._write():
            self._db.execute(
                "INSERT INTO global_control (one, percent, salt, version) VALUES (1, ?, ?, 1) ON CONFLICT (one) DO "
                "UPDATE SET percent = excluded.percent, salt = excluded.salt, version = version + 1",
                (float(percent), salt),
            )
        return self.control()

    def control(self) -> GlobalControl | None:
        """The global control group, None if it was never set."""
        with self._lock:
            row = self._db.execute("SELECT percent, salt, version FROM global_control").fetchone()
        return None if row is None else GlobalControl(*row)

    def alert(self, name: str, *, below: int | None = None, above: int | None = None,
              change: float | None = None) -> None:
        """Set (or, with no thresholds, clear) the alerts of a segment or group: see ``Alert``."""
        with self._write():
            self._check_known(name)
            if below is None and above is None and change is None:
                self._db.execute("DELETE FROM alerts WHERE name = ?", (name,))
            else:
                self._db.execute(
                    "INSERT INTO alerts (name, below, above, change) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE "
                    "SET below = excluded.below, above = excluded.above, change = excluded.change",
                    (name, below, above, change),
                )

    def alerts(self) -> dict[str, Alert]:
        with self._lock:
            rows = self._db.execute("SELECT name, below, above, change FROM alerts").fetchall()
        return {name: Alert(below, above, change) for name, below, above, change in rows}

    def changes(self, consumer: str, since: int | None = None, *, limit: int | None = None) -> Iterator[Change]:
        """Who entered and left, in order (refresh, segment, entered before left, contact), after refresh ``since``
        (default: the last refresh ``consumer`` acknowledged). Changes not acknowledged are delivered again."""
        if since is None:
            since = self.acked(consumer)
        with self._lock:
            rows = self._db.execute(
                "SELECT r.seq, r.name, r.epoch, r.entered_rows, r.left_rows, r.gone, r.cause, f.now FROM results r "
                "JOIN refreshes f ON f.seq = r.seq WHERE r.seq > ? AND (r.entered > 0 OR r.left > 0) "
                "ORDER BY r.seq, r.name",
                (since,),
            ).fetchall()
        given, epochs = 0, {}  # an epoch's ids are read once per call, not once per segment and refresh
        for seq, name, epoch_id, entered, left, gone, cause, now in rows:
            if epoch_id not in epochs:
                epochs[epoch_id] = self.epoch(epoch_id)
            epoch = epochs[epoch_id]
            batches = (("entered", epoch.ids_of(BitMap.deserialize(entered))),
                       ("left", epoch.ids_of(BitMap.deserialize(left)) + json.loads(gone)))
            for change, ids in batches:
                for contact in ids:
                    if limit is not None and given >= limit:
                        return
                    given += 1
                    yield Change(seq, name, contact, change, now, cause)

    def ack(self, consumer: str, seq: int) -> None:
        """``consumer`` has handled every change up to refresh ``seq``; acknowledgements never go back."""
        with self._write():
            self._db.execute(
                "INSERT INTO consumers (name, acked) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET acked = max(acked, excluded.acked)",
                (consumer, int(seq)),
            )

    def acked(self, consumer: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT acked FROM consumers WHERE name = ?", (consumer,)).fetchone()
        return row[0] if row else 0

    def on_enter(self, segment: str, callback: Callable[[Change], None]) -> None:
        """Call ``callback`` for each contact entering ``segment``, after each refresh commits (in this process)."""
        self._callbacks.setdefault((segment, "entered"), []).append(callback)

    def on_leave(self, segment: str, callback: Callable[[Change], None]) -> None:
        self._callbacks.setdefault((segment, "left"), []).append(callback)

    def refresh(self, store, now=None, *, names: Sequence[str] | None = None, engine: str = "auto",
                wait_for_kernels: bool = False, client=None):
        """Evaluate the segments (all, or ``names``) at ``now`` and commit who entered and left: see live/refresh.py.
        ``engine="auto"`` runs the kernels in the kernel cache and answers for the others with the vector engine while
        they compile in the background; ``wait_for_kernels`` compiles them first (the stage ``kernels``). A
        ``SavedStore`` (or its ``parts()``) is refreshed partition by partition, never laid end to end, with the
        same changes as one store of its contacts (live/partwise.py); with a ``dask.distributed`` ``client``, its
        partitions are evaluated on the cluster's workers and the registry is written by this process."""
        from .refresh import refresh

        return refresh(self, store, now, names=names, engine=engine, wait_for_kernels=wait_for_kernels,
                       client=client)

    def next_change(self, name: str, store, now=None, *, engine: str = "auto") -> dt.datetime | None:
        """The first instant after ``now`` at which segment ``name`` changes on ``store`` with no new data, None if
        never: refresh then (runtime/nextchange.py: never late). A split's group (``name.A``) changes at most when its
        segment does, so it gets its segment's time (possibly early)."""
        with self._lock:
            self._check_known(name)
            is_segment = self._row(name) is not None
        definition = self.get(name if is_segment else name.partition(".")[0])
        segment = self.segment_of(definition.rule, definition.params)
        return segment.next_change(store, now, definition.params or None, engine=engine)

    # -- internals used by refresh -------------------------------------------------------------------------------
    def epoch(self, epoch_id: int) -> Epoch | Layout:
        return layout.load(self._db, epoch_id)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (BEGIN IMMEDIATE), committed at the end or rolled back."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                if "locked" in str(error) or "busy" in str(error):
                    raise RegistryError(
                        f"the registry {self.path} is busy: another process is refreshing or writing it"
                    ) from None
                raise
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _row(self, name: str) -> sqlite3.Row | None:
        cursor = self._db.execute(
            "SELECT name, version, created_at, updated_at, refreshed_seq, refreshed_at, refresh_seconds, last_error "
            "FROM segments WHERE name = ?", (name,))
        row = cursor.fetchone()
        return None if row is None else dict(zip([c[0] for c in cursor.description], row, strict=True))

    def _version(self, name: str, version: int, rule: str | None, description: str, params: Mapping, stamp: str,
                 exclude_control: bool = False):
        self._db.execute(
            "INSERT INTO versions (name, version, rule, description, params, created_at, exclude_control) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (name, version, rule, description, json.dumps(params, sort_keys=True, default=str), stamp,
             int(exclude_control)),
        )

    def _check_format(self) -> None:
        found = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        if not found:
            self._db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                                 [("format", FORMAT), ("version", str(VERSION))])
        elif found.get("format") != FORMAT or found.get("version") != str(VERSION):
            raise RegistryError(f"{self.path} is not a segmint registry of version {VERSION} (found {found})")

    def _parametric(self) -> set[str]:
        rows = self._db.execute(
            "SELECT s.name FROM segments s JOIN versions v ON v.name = s.name AND v.version = s.version "
            "WHERE v.params != '{}'").fetchall()
        return {r[0] for r in rows}

    def _check_known(self, name: str, *, groups: bool = True) -> None:
        """``name`` is a segment, or (``groups``) a group of a segment's split: ``segment.group``."""
        if self._row(name) is not None:
            return
        segment, _, group = name.partition(".")
        if groups and group:
            row = self._db.execute("SELECT shares FROM splits WHERE name = ?", (segment,)).fetchone()
            if row is not None and group in json.loads(row[0]):
                return
        raise self._unknown(name)

    def _unknown(self, name: str) -> RegistryError:
        return RegistryError(f"no segment named '{name}' in the registry")


def _uses(segment: Segment) -> set[str]:
    """Names of definitions (segments among them) that the segment's rule uses, directly."""
    return {node.name for node in ir.walk(segment.ir) if isinstance(node, ir.Ref)}


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not NAME.match(name):
        raise RegistryError(f"a segment name is a word of letters, digits and _ starting with a letter, not {name!r}")


def _stamp() -> str:
    return iso_z(dt.datetime.now(dt.UTC), timespec="microseconds")
