"""An independent evaluator for tests: a rule's plan as one DuckDB SQL query over the store's data.

Written from the language's semantics, not from the reference evaluator's code, so that it can catch the
reference's mistakes: SQL's three-valued logic is folded to true/false at every condition (``coalesce(..., false)``),
events are looked up by correlated subqueries, windows are the closed µs intervals of runtime/bindings.py (the one
shared definition of what a window means). A date meets a time as the contact's local day: a window's date bound
compares the event's local date (from DuckDB's ICU), and a date's first instant is the ICU instant of its local
midnight (both never use the engines' zone tables).
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pyarrow as pa

from segmint.compiler import ir
from segmint.compiler.passes import dated
from segmint.compiler.types import Type
from segmint.runtime.bindings import Bindings
from segmint.runtime.store.columns import Column, Store

DAY_US = 86_400_000_000


def _arrow(column: Column) -> pa.Array:
    valid = column.validity()
    match column.type:
        case Type.STRING:
            values = [column.dictionary[c] if ok else None for c, ok in zip(column.values.tolist(), valid, strict=True)]
            return pa.array(values, pa.string())
        case Type.DATE:
            return pa.array(np.asarray(column.values, np.int32), mask=~valid).cast(pa.date32())
        case _:
            return pa.array(np.asarray(column.values), mask=~valid)


def connect(store: Store) -> duckdb.DuckDBPyConnection:
    db = duckdb.connect()
    contacts = {"row": pa.array(np.arange(len(store), dtype=np.int64))}
    tag_rows, tag_values = [], []
    for name, column in store.attributes.items():
        if column.type is Type.TAGS:
            for row in range(len(store)):
                for code in column.values[column.offsets[row] : column.offsets[row + 1]]:
                    tag_rows.append(row)
                    tag_values.append(column.dictionary[code])
            continue
        contacts[f"a_{name}"] = _arrow(column)
    contacts["zone"] = pa.array(_zones(store), pa.string())
    db.execute("SET TimeZone = 'UTC'")  # timestamps without a zone are UTC; local times come from timezone(zone, ...)
    db.register("contacts_arrow", pa.table(contacts))
    db.execute("CREATE TABLE contacts AS SELECT * FROM contacts_arrow")
    tags = pa.table({"row": pa.array(tag_rows, pa.int64()), "tag": pa.array(tag_values, pa.string())})
    db.register("tags_arrow", tags)
    db.execute("CREATE TABLE tags AS SELECT * FROM tags_arrow")
    for name, table in store.events.items():
        columns = {"row": pa.array(table.contact_rows), "ts": pa.array(np.asarray(table.ts))}
        columns |= {f"p_{p}": _arrow(c) for p, c in table.properties.items()}
        db.register(f"ev_{name}_arrow", pa.table(columns))
        db.execute(f"CREATE TABLE ev_{name} AS SELECT e.*, c.zone FROM ev_{name}_arrow e JOIN contacts c USING (row)")
    return db


def _zones(store: Store) -> list[str]:
    """Each contact's IANA zone, as the language defines it: its zone attribute, else the schema's default zone,
    else UTC. DuckDB (its ICU extension) then works out local times on its own."""
    schema = store.schema
    default = schema.default_timezone or "UTC"
    if schema.timezone is None:
        return [default] * len(store)
    column = store.attributes[schema.timezone]
    return [column.dictionary[c] if ok else default for c, ok in zip(column.values.tolist(), column.validity(),
                                                                         strict=True)]


def mask(db: duckdb.DuckDBPyConnection, plan: ir.Expr, bindings: Bindings, n: int) -> np.ndarray:
    sql = f"SELECT row FROM contacts c WHERE {_Sql(bindings).truth(plan, 'c')} ORDER BY row"
    rows = [r[0] for r in db.execute(sql).fetchall()]
    out = np.zeros(n, dtype=bool)
    out[rows] = True
    return out


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float):
        return repr(value) if np.isfinite(value) else f"'{value!r}'::DOUBLE"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(value)


def _a_number(sql: str, type_: Type) -> str:
    """Not a number (inf - inf, 0 * inf, a sum of +inf and -inf) is null in segmint; DuckDB keeps NaN."""
    return f"NULLIF({sql}, 'NaN'::DOUBLE)" if type_ is Type.FLOAT else sql


def _ranked(column: str, function: str) -> str:
    below = f"(rank() OVER (ORDER BY {column} ASC NULLS LAST) - 1)"
    n = f"count({column}) OVER ()"
    if function == "percentile":
        rank = f"CAST(100 * {below} AS DOUBLE) / CAST({n} AS DOUBLE)"
    else:
        groups = 5 if function == "quintile" else 10
        rank = f"1 + ({groups} * {below}) // {n}"
    return f"CASE WHEN {column} IS NULL THEN NULL ELSE {rank} END"


def _local(alias: str, micros: object) -> str:
    """An instant (µs since 1970, UTC) as the wall-clock time of the row's contact's zone."""
    return f"timezone({alias}.zone, make_timestamp({micros})::TIMESTAMPTZ)"


def _period(local: str, unit: str) -> str:
    """The calendar period of a local timestamp as a number: days since 1970-01-01, weeks from Monday 1969-12-29,
    months since January 1970, years since 1970."""
    days = f"(CAST({local} AS DATE) - DATE '1970-01-01')"
    return {
        "d": days,
        "w": f"CAST(floor(({days} + 3) / 7) AS BIGINT)",
        "mo": f"((year({local}) - 1970) * 12 + month({local}) - 1)",
        "y": f"(year({local}) - 1970)",
    }[unit]


class _Sql:
    def __init__(self, bindings: Bindings) -> None:
        self.b = bindings
        self.counter = 0

    def truth(self, node: ir.Expr, alias: str) -> str:
        """A condition as SQL that is never NULL."""
        match node:
            case ir.And(items=items):
                return "(" + " AND ".join(self.truth(i, alias) for i in items) + ")"
            case ir.Or(items=items):
                return "(" + " OR ".join(self.truth(i, alias) for i in items) + ")"
            case ir.Not(operand=x):
                return f"(NOT {self.truth(x, alias)})"
        return f"coalesce({self.condition(node, alias)}, FALSE)"

    def condition(self, node: ir.Expr, alias: str) -> str:
        match node:
            case ir.Compare(op=op, left=left, right=right):
                sql_op = "<>" if op == "!=" else op
                return f"({self.value(left, alias)} {sql_op} {self.value(right, alias)})"
            case ir.InRange(operand=x, low=low, high=high):
                return f"({self.value(x, alias)} BETWEEN {self.value(low, alias)} AND {self.value(high, alias)})"
            case ir.InSet(operand=x, values=values, negated=negated):
                items = ", ".join(self.value(v, alias) for v in values)
                return f"({self.value(x, alias)} {'NOT IN' if negated else 'IN'} ({items}))"
            case ir.IsNull(operand=x, negated=negated):
                return f"({self.value(x, alias)} IS {'NOT ' if negated else ''}NULL)"
            case ir.TextMatch(op=op, operand=x, pattern=p):
                function = {"contains": "contains", "startswith": "starts_with", "endswith": "ends_with"}[op]
                return f"{function}({self.value(x, alias)}, {self.value(p, alias)})"
            case ir.HasTags(mode=mode, values=values):
                tests = [
                    f"EXISTS (SELECT 1 FROM tags t WHERE t.row = {alias}.row AND t.tag = {self.value(v, alias)})"
                    for v in values
                ]
                return "(" + (" AND " if mode == "all" else " OR ").join(tests) + ")"
            case ir.InWindow(operand=x, window=w):
                return self.in_window(w, alias, self.value(x, alias))
            case ir.Exists(events=events):
                return f"EXISTS (SELECT 1 FROM {self.events(events, alias)})"
            case ir.Sequence(steps=steps) if steps[-1].negated:
                return self.abandoned(steps, alias)
            case ir.Sequence(steps=steps):
                return f"EXISTS (SELECT 1 FROM {self.chains(steps, alias, 'NULL')})"
            case ir.Const(type=Type.BOOL) | ir.Attr(type=Type.BOOL) | ir.Prop(type=Type.BOOL):
                return self.value(node, alias)
            case ir.And() | ir.Or() | ir.Not():
                return self.truth(node, alias)
            case ir.Upcoming(operand=x, duration=d):
                return self.upcoming(self.value(x, alias), x.type, self.b.value(d), alias)
            case ir.Regular(events=events, unit=unit, periods=periods, least=least):
                # the window's end, kept within years 1 to 9999 (runtime/calendar.py), in the contact's zone
                end = f"LEAST(GREATEST({self.window_end(events.window, alias)}, {-62_135_596_800 * 10**6}), " \
                      f"{253_402_300_799 * 10**6})"
                current = _period(f"timezone({alias}.zone, make_timestamp({end})::TIMESTAMPTZ)", unit)
                event = _period("timezone(e.zone, make_timestamp(e.ts)::TIMESTAMPTZ)", unit)
                return (
                    f"((SELECT count(DISTINCT {event}) FROM {self.events(events, alias)} AND {current} - {event} "
                    f"BETWEEN 1 AND {periods}) >= {least})"
                )
        raise TypeError(f"oracle: no SQL for {type(node).__name__}")

    def value(self, node: ir.Expr, alias: str) -> str:
        match node:
            case ir.Const() | ir.Param():
                if node.type is Type.DATE:
                    return f"DATE '{self.b.params[node.name] if isinstance(node, ir.Param) else node.value}'"
                return _literal(self.b.value(node))
            case ir.Attr(name=name):
                return f"{alias}.a_{name}"
            case ir.Prop(name=name):
                return f"{alias}.p_{name}"
            case ir.Count(events=events):
                return f"(SELECT count(*) FROM {self.events(events, alias)})"
            case ir.Aggregate(function=function, events=events, prop=prop):
                source = self.events(events, alias)
                column = "e.ts" if prop is None else f"e.p_{prop.name}"
                sql = {"sum": f"coalesce(sum({column}), 0)", "avg": f"avg({column})", "min": f"min({column})",
                       "max": f"max({column})", "distinct": f"count(DISTINCT {column})",
                       "first": "min(e.ts)", "last": "max(e.ts)"}[function]
                return _a_number(f"(SELECT {sql} FROM {source})", node.type)
            case ir.Arith(op=op, left=left, right=right):
                a, b = self.value(left, alias), self.value(right, alias)
                if op == "/":
                    return _a_number(f"(CAST({a} AS DOUBLE) / CAST(NULLIF({b}, 0) AS DOUBLE))", node.type)
                if node.type is Type.FLOAT:
                    a, b = f"CAST({a} AS DOUBLE)", f"CAST({b} AS DOUBLE)"
                return _a_number(f"({a} {op} {b})", node.type)
            case ir.Negate(operand=x):
                return f"(-{self.value(x, alias)})"
            case ir.SequenceCount(steps=steps):
                return self.occurrences(steps, alias)
            case ir.WindowBound(window=w, last=False) if dated(w):
                return self.window_start(w, alias)
            case ir.WindowBound(window=w, last=True) if dated(w):
                return self.window_end(w, alias)
            case ir.WindowBound():
                return _literal(self.b.value(node))
            case ir.ToTimestamp(operand=ir.Const() | ir.Param() as point, last=last):
                return self.instant(point, alias, last)
            case ir.ToTimestamp(operand=x, last=last):
                return _midnight(alias, self.value(x, alias), last)
            case ir.TimePart(part=part):
                local = f"timezone({alias}.zone, make_timestamp({alias}.ts)::TIMESTAMPTZ)"
                function = {"hour": "hour", "weekday": "isodow", "day": "day", "month": "month", "year": "year"}[part]
                return f"CAST({function}({local}) AS BIGINT)"
            case ir.Func(name="days_since", argument=x):  # in HUGEINT: exact, whatever the time
                # whole days between the two wall-clock times of the contact's zone (UTC without zones)
                micros = self.value(x, alias)
                if x.type is Type.DATE:
                    micros = f"(CAST({micros} - DATE '1970-01-01' AS HUGEINT) * {DAY_US})"
                else:  # in UTC as it is (DuckDB's timestamps do not reach every int64 a store may hold)
                    local = f"epoch_us({_local(alias, micros)})"
                    micros = f"(CASE WHEN {alias}.zone = 'UTC' THEN {micros} ELSE {local} END)"
                elapsed = f"(CAST(epoch_us({_local(alias, self.b.now_us)}) AS HUGEINT) - {micros})"
                return f"CAST(({elapsed} - (({elapsed} % {DAY_US}) + {DAY_US}) % {DAY_US}) // {DAY_US} AS BIGINT)"
            case ir.Func(name="age", argument=x):
                day = self.value(x, alias) if x.type is Type.DATE else (
                    f"CAST(CASE WHEN {alias}.zone = 'UTC' THEN make_timestamp({self.value(x, alias)}) ELSE "
                    f"{_local(alias, self.value(x, alias))} END AS DATE)"
                )
                now = f"CAST({_local(alias, self.b.now_us)} AS DATE)"  # now's date in the contact's zone
                return (  # the documented definition; DuckDB's date_sub('year', ...) differs on 29 February
                    f"(year({now}) - year({day}) - CASE WHEN month({day}) * 100 + day({day}) > "
                    f"month({now}) * 100 + day({now}) THEN 1 ELSE 0 END)"
                )
            case ir.Rank() | ir.Rfm():
                return self.population(node, alias)
        return f"({self.truth(node, alias)})"

    # -- population-relative measures (issue 13), from the definitions in docs/language.md -----------------------
    def population(self, node: ir.Rank | ir.Rfm, alias: str) -> str:
        """This contact's rank: the measure of every contact in a derived table, ranked by window functions (rank()
        - 1 over the values in ascending order, nulls last, is the number of non-null values strictly below)."""
        self.counter += 1
        every = f"o{self.counter}"
        match node:
            case ir.Rank(function=function, measure=measure):
                measures = f"SELECT {every}.row, {self.value(measure, every)} AS m FROM contacts {every}"
                value = _ranked("m", function)
            case ir.Rfm(part=part, events=events, prop=prop):
                count = self.value(ir.Count(events), every)
                last = self.value(ir.Aggregate("last", events, None, Type.TIMESTAMP), every)
                total = self.value(ir.Aggregate("sum", events, prop, prop.type), every)
                measures = (
                    f"SELECT row, CASE WHEN n > 0 THEN l END AS l, CASE WHEN n > 0 THEN n END AS n, "
                    f"CASE WHEN n > 0 THEN t END AS t "
                    f"FROM (SELECT {every}.row, {count} AS n, {last} AS l, {total} AS t FROM contacts {every})"
                )
                r, f, m = (_ranked(column, "quintile") for column in "lnt")
                value = {"rfm_r": r, "rfm_f": f, "rfm_m": m}.get(part, f"(100 * {r} + 10 * {f} + {m})")
        return f"(SELECT q.v FROM (SELECT p.row, {value} AS v FROM ({measures}) p) q WHERE q.row = {alias}.row)"

    # -- sequences: self-joins of the steps' events, as docs/language.md defines them --------------------------
    def chains(self, steps: tuple[ir.Step, ...], alias: str, after: str) -> str:
        """FROM ... WHERE of every chain of ``steps`` (aliases s0, s1, ...) of contact ``alias.row`` whose first
        event is after ``after`` (SQL; NULL: any)."""
        tables, where = [], []
        for k, step in enumerate(steps):
            s = f"s{k}"
            tables.append(f"ev_{step.events.event} {s}")
            where += [f"{s}.row = {alias}.row", self.in_window(step.events.window if k == 0 else ir.AllTime(), s,
                                                              f"{s}.ts")]
            where += [self.truth(f, s) for f in step.events.where]
            if k == 0:
                where.append(f"({after} IS NULL OR {s}.ts > {after})")
                continue
            where.append(f"{s}.ts > s{k - 1}.ts")
            where += self.follow(step, s, f"s{k - 1}")
        return ", ".join(tables) + " WHERE " + " AND ".join(where)

    def follow(self, step: ir.Step, s: str, previous: str) -> list[str]:
        """What ties event ``s`` of a later step to ``previous`` (besides being strictly later)."""
        tests = []
        if step.within is not None:
            tests.append(f"{s}.ts - {previous}.ts < {self.gap(step)}")
        if step.same is not None:
            tests.append(f"{s}.p_{step.same} = {previous}.p_{step.same}")  # NULL never equals
        return tests

    def gap(self, step: ir.Step) -> int:
        d = self.b.value(step.within)
        seconds = {"s": 1, "min": 60, "h": 3600, "d": 86_400, "w": 604_800}[d.unit]
        return d.amount * seconds * 1_000_000

    def abandoned(self, steps: tuple[ir.Step, ...], alias: str) -> str:
        """A chain of the positive steps whose follow-up window (t, t + D) has passed by now without an event of
        the negated step."""
        last, m = steps[-1], len(steps) - 2
        n = self.b.window(ir.AllTime())
        follow = " AND ".join([f"n.row = {alias}.row", f"n.ts BETWEEN {n[0]} AND {n[1]}", f"n.ts > s{m}.ts",
                               *(self.truth(f, "n") for f in last.events.where), *self.follow(last, "n", f"s{m}")])
        return (f"EXISTS (SELECT 1 FROM {self.chains(steps[:-1], alias, 'NULL')} AND "
                f"s{m}.ts <= {self.b.now_us - self.gap(last) + 1} AND "
                f"NOT EXISTS (SELECT 1 FROM ev_{last.events.event} n WHERE {follow}))")

    def occurrences(self, steps: tuple[ir.Step, ...], alias: str) -> str:
        """Non-overlapping occurrences in order of completion: the earliest end of a chain starting after the
        previous occurrence's end, again and again (a recursive query)."""
        end = f"s{len(steps) - 1}.ts"
        return (
            "(WITH RECURSIVE occ(row, end_ts) AS ("
            f"SELECT c0.row, NULL::BIGINT FROM contacts c0 WHERE c0.row = {alias}.row "
            "UNION ALL SELECT row, nxt FROM ("
            f"SELECT o.row, (SELECT min({end}) FROM {self.chains(steps, 'o', 'o.end_ts')}) AS nxt FROM occ o"
            ") WHERE nxt IS NOT NULL"
            ") SELECT count(*) - 1 FROM occ)"
        )

    def upcoming(self, operand: str, type_: Type, duration, alias: str) -> str:
        """The next anniversary of the operand's day (a timestamp's local day) on or after today, both in the
        contact's zone, at most the window's last day; 29 February is 28 February in other years."""
        day = operand if type_ is Type.DATE else (
            f"CAST(timezone({alias}.zone, make_timestamp({operand})::TIMESTAMPTZ) AS DATE)"
        )
        today = f"CAST(timezone({alias}.zone, make_timestamp({self.b.now_us})::TIMESTAMPTZ) AS DATE)"
        seconds = {"s": 1, "min": 60, "h": 3600, "d": 86_400, "w": 604_800}
        days = duration.amount * seconds[duration.unit] // 86_400 if duration.unit in seconds else None
        if (days is not None and days >= 366) or (days is None and duration.amount * 12 ** (duration.unit == "y")
                                                  >= 12):
            return f"({operand} IS NOT NULL)"  # a year holds every anniversary (and DuckDB's dates end)
        if duration.unit in seconds:
            last = f"({today} + INTERVAL {duration.amount * seconds[duration.unit] // 86_400} DAY)"
        else:
            last = f"({today} + INTERVAL {duration.amount * (12 if duration.unit == 'y' else 1)} MONTH)"

        def in_year(year: str) -> str:
            leap = f"(({year}) % 4 = 0 AND (({year}) % 100 <> 0 OR ({year}) % 400 = 0))"
            dom = f"CASE WHEN month({day}) = 2 AND day({day}) = 29 AND NOT {leap} THEN 28 ELSE day({day}) END"
            return f"make_date({year}, month({day}), {dom})"

        this_year, next_year = in_year(f"year({today})"), in_year(f"year({today}) + 1")
        following = f"CASE WHEN {this_year} >= {today} THEN {this_year} ELSE {next_year} END"
        return f"({following} <= {last})"

    def events(self, events: ir.EventSet, alias: str) -> str:
        where = [f"e.row = {alias}.row", self.in_window(events.window, "e", "e.ts")]
        where += [self.truth(f, "e") for f in events.where]
        return f"ev_{events.event} e WHERE " + " AND ".join(where)

    # -- dates: the local day of the contact's zone (docs/language.md, "Dates against times: the whole day") --------
    def point(self, node: ir.Const | ir.Param) -> dt.date | dt.datetime:
        return self.b.params[node.name] if isinstance(node, ir.Param) else node.value

    def in_window(self, window: ir.Window, alias: str, ts: str) -> str:
        """Whether the instant ``ts`` of a row of ``alias`` is in ``window``: a date bound compares its local day
        (``since D``: on D or later; ``before D``: before D; ``between A and B``: A to B, both included)."""
        if not dated(window):
            lo, hi = self.b.window(window)
            return f"({ts} BETWEEN {lo} AND {hi})"
        tests = [f"{ts} <= {self.b.now_us}"]
        match window:
            case ir.Since(start=a):
                tests.append(self.on_day(a, ">=", alias, ts))
            case ir.Before(end=b):
                tests.append(self.on_day(b, "<", alias, ts))
            case ir.DateRange(start=a, end=b):
                tests += [self.on_day(a, ">=", alias, ts), self.on_day(b, "<=", alias, ts)]
        return "(" + " AND ".join(tests) + ")"

    def on_day(self, point: ir.Const | ir.Param, op: str, alias: str, ts: str) -> str:
        """``ts op point``: a date against the local day of ``ts``, an instant against ``ts`` itself."""
        value = self.point(point)
        if isinstance(value, dt.datetime):
            return f"({ts} {op} {_literal(self.b.instant_bounds(point)[0])})"
        return f"({_local_day(alias, ts)} {op} {(value - dt.date(1970, 1, 1)).days})"

    def instant(self, point: ir.Const | ir.Param, alias: str, last: bool) -> str:
        """A date's first (``last``: last) instant in the zone of ``alias``'s contact; a timestamp's own."""
        value = self.point(point)
        if isinstance(value, dt.datetime):
            return _literal(self.b.instant_bounds(point)[0])
        return _midnight(alias, f"DATE '{value.isoformat()}'", last)

    def window_start(self, window: ir.Window, alias: str) -> str:
        match window:
            case ir.Since(start=a) | ir.DateRange(start=a):
                return self.instant(a, alias, False)
        return _literal(self.b.window(window)[0])

    def window_end(self, window: ir.Window, alias: str) -> str:
        match window:
            case ir.Before(end=b) if dated(window):
                return f"LEAST({self.instant(b, alias, False)} - 1, {self.b.now_us})"
            case ir.DateRange(end=b) if dated(window):
                return f"LEAST({self.instant(b, alias, True)}, {self.b.now_us})"
        return _literal(self.b.window(window)[1])


def _local_day(alias: str, ts: str) -> str:
    """The day number (since 1970-01-01) of the instant ``ts`` in the zone of ``alias``'s contact."""
    utc = f"(({ts} - ((({ts}) % {DAY_US}) + {DAY_US}) % {DAY_US}) // {DAY_US})"
    local = f"(CAST({_local(alias, ts)} AS DATE) - DATE '1970-01-01')"
    return f"(CASE WHEN {alias}.zone = 'UTC' THEN {utc} ELSE {local} END)"


def _midnight(alias: str, date: str, last: bool) -> str:
    """The first instant of the local day ``date`` (SQL) in the zone of ``alias``'s contact (``last``: the last):
    ICU's instant of the local midnight."""
    day = f"({date} + {int(last)})"
    utc = f"CAST({day} - DATE '1970-01-01' AS BIGINT) * {DAY_US}"
    zoned = f"epoch_us(timezone({alias}.zone, CAST({day} AS TIMESTAMP)))"
    return f"((CASE WHEN {alias}.zone = 'UTC' THEN {utc} ELSE {zoned} END){' - 1' if last else ''})"
