"""The benchmark's rules, each written three ways that must mean exactly the same: segmint, DuckDB SQL, Polars.

The peers are written as a competent user would write them for speed, not translated from segmint's plan
(tests/oracle.py does that, for correctness only): DuckDB gets one GROUP BY over the filtered events with FILTER
clauses, set operations and anti joins; Polars gets ``group_by().agg()`` over filtered lazy frames and semi/anti
joins. Each query returns the ``contact_id`` of the matching contacts (in any order, duplicates allowed: the runner
compares sets).

What "the same" takes, from docs/language.md:

- ``within D`` is the half-open interval (now - D, now]; every event set is also cut at now, so the ~0.1% of demo
  events dated after now never count (hence ``timestamp <= now`` even where a rule has no window);
- a count or sum of no events is 0, so a contact without events is in ``not bought`` (anti joins from contacts);
- a comparison with null is false (``gender = f`` leaves out contacts without a gender; SQL's WHERE does the same);
- a sequence's later step is strictly after the previous one and less than its window after it; an abandoned view
  (``then not bought within 1d``) is one whose day has fully passed (at or before now - 1d + 1µs) with no purchase
  in (t, t + 1d);
- ``age(birth_date)`` is whole years at now, a birthday today counting: ``age between 25 and 40`` is "born in
  (today - 41 years, today - 25 years]", which is how a user would write it for speed (a range on the column).

Data: the demo's Parquet folder, one table per file: ``contacts`` and one per event type (``email_open``, ...), with
columns as written by runtime/demo/generator.py (``contact_id``, ``timestamp``, properties).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import polars as pl

Frames = Mapping[str, pl.LazyFrame]  # table name -> its data, as Polars reads the Parquet folder
PolarsQuery = Callable[[Frames, dt.datetime, Mapping[str, object]], pl.LazyFrame]


@dataclass(frozen=True)
class Rule:
    """One segment of the suite.

    ``sql`` is a DuckDB query with ``{now}`` and ``{today}`` standing for the evaluation time and its UTC date (the
    runner substitutes literals) and ``$name`` for DuckDB parameters (``peer_params``). ``polars(frames, now,
    peer_params)`` builds the lazy query. ``params`` are the segmint parameters, ``peer_params`` the same values as
    the peers take them (a duration as a timedelta). ``baselines``: single-condition rules over the same event types
    (a sequence's steps alone), timed with segmint compiled beside the rule: the rule's cost against the slowest of
    them is a goal of the benchmark (issue 13: a sequence within 3x of a single condition).
    """

    name: str
    text: str
    sql: str
    polars: PolarsQuery
    params: Mapping[str, str] = field(default_factory=dict)
    peer_params: Mapping[str, object] = field(default_factory=dict)
    baselines: tuple[str, ...] = ()


ID = "contact_id"
ts = pl.col("timestamp")  # an event's time (a lower-case name: ruff reads an upper-case one as a constant)
DAY = dt.timedelta(days=1)
MICROSECOND = dt.timedelta(microseconds=1)


def _within(now: dt.datetime, days: float | dt.timedelta) -> pl.Expr:
    """``within D`` on an event's timestamp: (now - D, now]."""
    span = days if isinstance(days, dt.timedelta) else days * DAY
    return (ts > now - span) & (ts <= now)


def _years_before(day: dt.date, years: int) -> dt.date:
    """The same calendar day ``years`` earlier (Feb 29 falls back to Feb 28, as DuckDB's interval arithmetic)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


# == the rules =====================================================================================================
# Each Polars query sits under its rule, so the three texts can be read side by side.


def _example(f: Frames, now: dt.datetime, p: Mapping[str, object]) -> pl.LazyFrame:
    opens = f["email_open"].filter(ts <= now)
    busy = opens.filter(_within(now, 90)).group_by(ID).len().filter(pl.col("len") > 2).select(ID)
    ios = opens.filter(pl.col("device") == "ios").select(ID)
    apple = f["purchase"].filter(ts <= now, pl.col("brand") == "Apple").select(ID)
    return busy.join(pl.concat([ios, apple]), on=ID, how="semi")


EXAMPLE = Rule(
    "example",
    "opened > 2 within 90d and (ios_open or bought brand=Apple)",
    """
    SELECT contact_id FROM email_open
    WHERE timestamp <= {now}
    GROUP BY contact_id
    HAVING count(*) FILTER (WHERE timestamp > {now} - INTERVAL 90 DAY) > 2
       AND (bool_or(device = 'ios')
            OR contact_id IN (SELECT contact_id FROM purchase WHERE brand = 'Apple' AND timestamp <= {now}))
    """,
    _example,
)


def _iphone_fans(f: Frames, now: dt.datetime, p: Mapping[str, object]) -> pl.LazyFrame:
    busy = f["email_open"].filter(_within(now, 90)).group_by(ID).len().filter(pl.col("len") > 2).select(ID)
    fans = pl.concat(
        [
            f["email_open"].filter(ts <= now, pl.col("device") == "ios").select(ID),
            f["product_view"]
            .filter(_within(now, 21), pl.col("category") == "iPhones")
            .group_by(ID)
            .len()
            .filter(pl.col("len") > 3)
            .select(ID),
            f["purchase"].filter(ts <= now, pl.col("brand") == "Apple").select(ID),
            f["app_open"].filter(_within(now, 90), pl.col("device") == "ios").select(ID),
            f["webpush_subscribe"].filter(ts <= now, pl.col("device") == "ios").select(ID),
        ]
    )
    return busy.join(fans, on=ID, how="semi")


IPHONE_FANS = Rule(
    "iphone_fans",
    "opened > 2 within 90d and (opened device=ios or viewed category=iPhones > 3 times within 21d"
    " or bought brand=Apple or app_opened device=ios within 90d or push_subscribed device=ios)",
    """
    SELECT contact_id FROM email_open
    WHERE timestamp <= {now}
    GROUP BY contact_id
    HAVING count(*) FILTER (WHERE timestamp > {now} - INTERVAL 90 DAY) > 2
       AND (bool_or(device = 'ios')
            OR contact_id IN (
                SELECT contact_id FROM product_view
                WHERE category = 'iPhones' AND timestamp > {now} - INTERVAL 21 DAY AND timestamp <= {now}
                GROUP BY contact_id HAVING count(*) > 3
                UNION ALL
                SELECT contact_id FROM purchase WHERE brand = 'Apple' AND timestamp <= {now}
                UNION ALL
                SELECT contact_id FROM app_open
                WHERE device = 'ios' AND timestamp > {now} - INTERVAL 90 DAY AND timestamp <= {now}
                UNION ALL
                SELECT contact_id FROM webpush_subscribe WHERE device = 'ios' AND timestamp <= {now}))
    """,
    _iphone_fans,
)


def _churn(f: Frames, now: dt.datetime, p: Mapping[str, object]) -> pl.LazyFrame:
    last = f["purchase"].filter(ts <= now).group_by(ID).agg(ts.max().alias("last"))
    return last.filter(pl.col("last") <= now - 90 * DAY).select(ID)


CHURN = Rule(
    "churn",
    "bought and not bought within 90d",
    """
    SELECT contact_id FROM purchase
    WHERE timestamp <= {now}
    GROUP BY contact_id
    HAVING max(timestamp) <= {now} - INTERVAL 90 DAY
    """,
    _churn,
)


def _engaged(f: Frames, now: dt.datetime, p: Mapping[str, object]) -> pl.LazyFrame:
    recent = [f[t].filter(_within(now, 30)).select(ID) for t in ("email_open", "email_click")]
    return pl.concat(recent).unique()


ENGAGED = Rule(
    "engaged",
    "opened within 30d or clicked within 30d",
    """
    SELECT contact_id FROM email_open WHERE timestamp > {now} - INTERVAL 30 DAY AND timestamp <= {now}
    UNION
    SELECT contact_id FROM email_click WHERE timestamp > {now} - INTERVAL 30 DAY AND timestamp <= {now}
    """,
    _engaged,
)


def _semi_engaged(f: Frames, now: dt.datetime, p: Mapping[str, object]) -> pl.LazyFrame:
    # Active in 90 days, but the latest open or click of those is older than 30 days.
    recent = [f[t].filter(_within(now, 90)).select(ID, "timestamp") for t in ("email_open", "email_click")]
    last = pl.concat(recent).group_by(ID).agg(ts.max().alias("last"))
    return last.filter(pl.col("last") <= now - 30 * DAY).select(ID)


SEMI_ENGAGED = Rule(
    "semi_engaged",
    "(opened within 90d or clicked within 90d) and not (opened within 30d or clicked within 30d)",
    """
    SELECT contact_id FROM (
        SELECT contact_id, timestamp FROM email_open
        WHERE timestamp > {now} - INTERVAL 90 DAY AND timestamp <= {now}
        UNION ALL
        SELECT contact_id, timestamp FROM email_click
        WHERE timestamp > {now} - INTERVAL 90 DAY AND timestamp <= {now})
    GROUP BY contact_id
    HAVING max(timestamp) <= {now} - INTERVAL 30 DAY
    """,
    _semi_engaged,
)


def _value(f: Frames, now: dt.datetime, p: Mapping[str, object]) -> pl.LazyFrame:
    year = f["purchase"].filter(_within(now, 365)).group_by(ID)
    spend = year.agg(pl.col("amount").sum().alias("total"), pl.col("amount").mean().alias("mean"))
    return spend.filter(pl.col("total") > 500, pl.col("mean") > 100).select(ID)


VALUE = Rule(
    "value",
    "sum(bought.amount within 365d) > 500 and avg(bought.amount within 365d) > 100",
    """
    SELECT contact_id FROM purchase
    WHERE timestamp > {now} - INTERVAL 365 DAY AND timestamp <= {now}
    GROUP BY contact_id
    HAVING sum(amount) > 500 AND avg(amount) > 100
    """,
    _value,
)


def _demographic(f: Frames, now: dt.datetime, p: Mapping[str, object]) -> pl.LazyFrame:
    today = now.date()
    born = pl.col("birth_date")
    return (
        f["contacts"]
        .filter(
            pl.col("gender") == "f",
            pl.col("city").is_in(["Kyiv", "Lviv"]),
            born > _years_before(today, 41),
            born <= _years_before(today, 25),
            pl.col("tags").list.contains("vinyl"),
        )
        .select(ID)
    )


DEMOGRAPHIC = Rule(
    "demographic",
    "gender = f and city in (Kyiv, Lviv) and age(birth_date) between 25 and 40 and tags has vinyl",
    """
    SELECT contact_id FROM contacts
    WHERE gender = 'f' AND city IN ('Kyiv', 'Lviv')
      AND birth_date > {today} - INTERVAL 41 YEAR AND birth_date <= {today} - INTERVAL 25 YEAR
      AND list_contains(tags, 'vinyl')
    """,
    _demographic,
)


def _newcomers(f: Frames, now: dt.datetime, p: Mapping[str, object]) -> pl.LazyFrame:
    created = pl.col("created_at")
    new = f["contacts"].filter(created > now - 30 * DAY, created <= now).select(ID)
    return new.join(f["purchase"].filter(ts <= now).select(ID), on=ID, how="anti")


NEWCOMERS = Rule(
    "newcomers",
    "created_at within 30d and not bought",
    """
    SELECT contact_id FROM contacts c
    WHERE created_at > {now} - INTERVAL 30 DAY AND created_at <= {now}
      AND NOT EXISTS (SELECT 1 FROM purchase p WHERE p.contact_id = c.contact_id AND p.timestamp <= {now})
    """,
    _newcomers,
)


def _parametric(f: Frames, now: dt.datetime, p: Mapping[str, object]) -> pl.LazyFrame:
    category = pl.col("category") == p["category"]
    viewed = f["product_view"].filter(_within(now, p["days"]), category).select(ID)
    return viewed.join(f["purchase"].filter(ts <= now, category).select(ID), on=ID, how="anti").unique()


PARAMETRIC = Rule(
    "parametric",
    "viewed category=$category within $days and not bought category=$category",
    """
    SELECT contact_id FROM product_view
    WHERE category = $category AND timestamp > {now} - $days AND timestamp <= {now}
    EXCEPT
    SELECT contact_id FROM purchase WHERE category = $category AND timestamp <= {now}
    """,
    _parametric,
    params={"category": "Laptops", "days": "14d"},
    peer_params={"category": "Laptops", "days": dt.timedelta(days=14)},
)

def _champions(f: Frames, now: dt.datetime, p: Mapping[str, object]) -> pl.LazyFrame:
    buyers = f["purchase"].filter(_within(now, 365)).group_by(ID).agg(
        ts.max().alias("r"), pl.len().alias("f"), pl.col("amount").sum().alias("m")  # a sum of nulls is 0
    )
    # rank("min"): ties share the lowest rank, so rank - 1 is the number of buyers strictly below
    quintile = {c: 1 + 5 * (pl.col(c).rank("min").cast(pl.Int64) - 1) // pl.len().cast(pl.Int64) for c in "rfm"}
    code = 100 * quintile["r"] + 10 * quintile["f"] + quintile["m"]
    return buyers.filter(code.is_in([555, 554, 545])).select(ID)


CHAMPIONS = Rule(
    "rfm_champions",
    "rfm(bought.amount within 365d) in (555, 554, 545)",
    """
    SELECT contact_id FROM (
        SELECT contact_id,
               1 + 5 * (rank() OVER (ORDER BY max(timestamp)) - 1) // count(*) OVER () AS r,
               1 + 5 * (rank() OVER (ORDER BY count(*)) - 1) // count(*) OVER () AS f,
               1 + 5 * (rank() OVER (ORDER BY coalesce(sum(amount), 0)) - 1) // count(*) OVER () AS m
        FROM purchase
        WHERE timestamp > {now} - INTERVAL 365 DAY AND timestamp <= {now}
        GROUP BY contact_id)
    WHERE 100 * r + 10 * f + m IN (555, 554, 545)
    """,
    _champions,
)


def _abandonment(f: Frames, now: dt.datetime, p: Mapping[str, object]) -> pl.LazyFrame:
    # Each view, with the first purchase strictly after it (an as-of join): abandoned when there is none within the
    # day, once that day has passed (the view at or before now - 1d + 1µs).
    iphones = pl.col("category") == "iPhones"
    views = f["product_view"].filter(_within(now, 30), ts <= now - DAY + MICROSECOND, iphones)
    buys = f["purchase"].filter(ts <= now, iphones).select(ID, ts.alias("next"))
    followed = views.select(ID, "timestamp").sort("timestamp").join_asof(
        buys.sort("next"), left_on="timestamp", right_on="next", by=ID, strategy="forward", allow_exact_matches=False,
        check_sortedness=False,  # sorted by time just above; Polars cannot check it within `by` groups
    )
    return followed.filter(pl.col("next").is_null() | (pl.col("next") >= ts + DAY)).select(ID).unique()


ABANDONMENT = Rule(
    "abandonment",
    "viewed category=iPhones within 30d then not bought category=iPhones within 1d",
    """
    SELECT DISTINCT v.contact_id FROM product_view v
    WHERE v.category = 'iPhones' AND v.timestamp > {now} - INTERVAL 30 DAY
      AND v.timestamp <= {now} - INTERVAL 1 DAY + INTERVAL 1 MICROSECOND
      AND NOT EXISTS (
          SELECT 1 FROM purchase p
          WHERE p.contact_id = v.contact_id AND p.category = 'iPhones' AND p.timestamp <= {now}
            AND p.timestamp > v.timestamp AND p.timestamp < v.timestamp + INTERVAL 1 DAY)
    """,
    _abandonment,
    baselines=("viewed category=iPhones within 30d", "bought category=iPhones"),
)


# -- calendar: the demo data names no zone, so every contact is in UTC (docs/language.md, "Time zones") ------------


def _birthday(f: Frames, now: dt.datetime, p: Mapping[str, object]) -> pl.LazyFrame:
    # The next birthday falls in [today, today + 7d]: its month and day is one of those 8 days' (29 February, in a
    # year without it, on 28 February)
    days = [now.date() + k * DAY for k in range(8)]
    wanted = {d.month * 100 + d.day for d in days}
    wanted |= {229 for d in days if (d.month, d.day) == (2, 28) and not calendar.isleap(d.year)}
    birth = pl.col("birth_date")
    month_day = birth.dt.month().cast(pl.Int32) * 100 + birth.dt.day().cast(pl.Int32)  # months are Int8
    return f["contacts"].filter(month_day.is_in(sorted(wanted))).select(ID)


BIRTHDAY = Rule(
    "birthday",
    "birthday(birth_date) within next 7d",
    """
    WITH next AS (
        SELECT contact_id, birth_date,
               year({today}) AS y, month(birth_date) AS m, day(birth_date) AS d
        FROM contacts WHERE birth_date IS NOT NULL
    ), dated AS (
        SELECT contact_id,
               make_date(y, m, CASE WHEN m = 2 AND d = 29 AND NOT (y % 4 = 0 AND (y % 100 <> 0 OR y % 400 = 0))
                                    THEN 28 ELSE d END) AS this_year,
               make_date(y + 1, m, CASE WHEN m = 2 AND d = 29 AND NOT ((y + 1) % 4 = 0 AND ((y + 1) % 100 <> 0
                                    OR (y + 1) % 400 = 0)) THEN 28 ELSE d END) AS next_year
        FROM next
    )
    SELECT contact_id FROM dated
    WHERE CASE WHEN this_year >= {today} THEN this_year ELSE next_year END <= {today} + INTERVAL 7 DAY
    """,
    _birthday,
)


def _morning_reader(f: Frames, now: dt.datetime, p: Mapping[str, object]) -> pl.LazyFrame:
    morning = f["email_open"].filter(_within(now, 30), ts.dt.hour().is_between(7, 9))
    return morning.group_by(ID).len().filter(pl.col("len") >= 3).select(ID)


MORNING_READER = Rule(
    "morning_reader",
    "opened hour between 7 and 9 >= 3 times within 30d",
    """
    SELECT contact_id FROM email_open
    WHERE timestamp > {now} - INTERVAL 30 DAY AND timestamp <= {now} AND hour(timestamp) BETWEEN 7 AND 9
    GROUP BY contact_id HAVING count(*) >= 3
    """,
    _morning_reader,
)

SUITE: tuple[Rule, ...] = (
    EXAMPLE,
    IPHONE_FANS,
    CHURN,
    ENGAGED,
    SEMI_ENGAGED,
    VALUE,
    DEMOGRAPHIC,
    NEWCOMERS,
    PARAMETRIC,
    CHAMPIONS,
    ABANDONMENT,
    BIRTHDAY,
    MORNING_READER,
)


def batch_params(rules: tuple[Rule, ...] = SUITE) -> dict[str, str]:
    """The parameters of all ``rules`` in one dict, as ``evaluate_many`` takes them (a name means one value)."""
    merged: dict[str, str] = {}
    for rule in rules:
        for name, value in rule.params.items():
            if merged.setdefault(name, value) != value:
                raise ValueError(f"rules disagree on ${name}: {merged[name]!r} and {value!r}")
    return merged


def sql_text(rule: Rule, now: dt.datetime) -> str:
    """``rule.sql`` with ``{now}`` and ``{today}`` as DuckDB literals (UTC)."""
    now = now.astimezone(dt.UTC)
    return rule.sql.format(
        now=f"TIMESTAMPTZ '{now.isoformat(sep=' ')}'",
        today=f"DATE '{now.date().isoformat()}'",
    )
