"""Hypothesis strategies: random rule text over the demo schema, and random small stores that provoke edge cases.

Rules are built from the language's constructs (event conditions with filters, counts and every kind of window,
sequences (``then``, ``same``, negated last steps, counted), aggregates, functions, arithmetic, attribute tests
of every kind, parameters, and/or/not), always well-typed, so every generated rule must compile. Stores have
nulls, contacts without events, timestamp ties, events exactly on window edges and after ``now``, and +-inf among
float values; ``stores(schema, edges=True)`` adds values at the ends of the number types (1e308, int64's ends,
quantities whose sums pass 2^63), for which a rule may be refused (DataError) instead of answered, by every engine
alike.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import strategies as st
from storebuilder import build_store

NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)

VERBS = {"opened": "email_open", "clicked": "email_click", "viewed": "product_view", "bought": "purchase"}
DEVICES = ["ios", "android", "desktop"]
CATEGORIES = ["iPhones", "Laptops", "Vinyl"]
BRANDS = ["Apple", "Dell", "Universal"]
CITIES = ["Kyiv", "Lviv", "Berlin"]
TAGS = ["vinyl", "jazz", "vip"]
# Days before now at which events sit: exactly on the edges of the windows rules use (now; now - 7d, 30d, 90d,
# 1y and the dates below), one microsecond either side of some, and after now.
MICRO = 1 / 86_400e6
OFFSETS = [0, 1, 7, 7 - MICRO, 7 + MICRO, 30, 31, 0.5, 90, 90 - MICRO, 365, 400, -MICRO, -1]
# ... and on the instants clocks change in the zones below (2026-10-25T01:00Z in Kyiv, 2026-03-08T07:00Z in New
# York), either side of the hour before New Year in UTC, and at a quarter past three in the morning UTC
OFFSETS += [7 - 1 / 24, 7 - 1 / 24 + MICRO, 238 - 7 / 24, 238 - 7 / 24 + MICRO, 305 + 1 / 24, 305 - 1 / 48, 3.865]
# ... and on the local midnights that begin the DATES below in those zones (2026-10-25 at 2026-10-24T21:00Z in Kyiv,
# 2026-10-01 at 04:00Z in New York, 2026-08-03 at 2026-08-02T18:30Z in Kolkata), and a microsecond before
OFFSETS += [7 + 3 / 24, 7 + 3 / 24 + MICRO, 31 - 4 / 24, 31 - 4 / 24 + MICRO, 90 + 5.5 / 24, 90 + 5.5 / 24 + MICRO]
ZONES = [None, "Europe/Kyiv", "America/New_York", "Asia/Kolkata", "Pacific/Kiritimati", "Australia/Lord_Howe"]
DURATIONS = ["7d", "30d", "90d", "1mo", "1y", "12h", "2w"]
DATES = ["2026-10-01", "2026-10-25", "2026-08-03", "2025-11-01"]  # now - 31, 7, 90, 365 days

# Filters each verb can take: (property, [test texts]).
FILTERS = {
    "opened": [f"device = {d}" for d in DEVICES] + ["device in (ios, android)", "device != desktop",
                                                   "campaign_id > 5", "device is null"],
    "clicked": ["device = ios", 'url startswith "https://shop"', 'url contains "sale"', "campaign_id between 1 and 5"],
    "viewed": [f"category = {c}" for c in CATEGORIES] + ["price >= 500", "brand not in (Apple)",
                                                         "price between 10 and 100"],
    "bought": [f"brand = {b}" for b in BRANDS] + ["amount > 100", "quantity >= 2", "category in (iPhones, Vinyl)",
                                                  "amount is null"],
}
NUMERIC_PROPS = {"viewed": ["price"], "bought": ["amount", "quantity"], "opened": ["campaign_id"],
                 "clicked": ["campaign_id"]}
DISTINCT_PROPS = {"viewed": ["category", "brand", "price"], "bought": ["brand", "quantity"], "opened": ["device"],
                  "clicked": ["url"]}


@st.composite
def windows(draw) -> str:
    kind = draw(st.sampled_from(["", "within", "since", "before", "before_ago", "between"]))
    match kind:
        case "within":
            return f" within {draw(st.sampled_from(DURATIONS))}"
        case "since":
            return f" since {draw(st.sampled_from(DATES))}"
        case "before":
            return f" before {draw(st.sampled_from(DATES))}"
        case "before_ago":
            return f" before {draw(st.sampled_from(DURATIONS))} ago"
        case "between":
            a, b = sorted(draw(st.lists(st.sampled_from(DATES), min_size=2, max_size=2)))
            return f" between {a} and {b}"
    return ""


@st.composite
def event_sets(draw, prop: str | None = None) -> tuple[str, str]:
    """``verb[.prop] filters`` and a window (possibly empty), apart so callers can place the window."""
    verb = draw(st.sampled_from(list(VERBS)))
    if prop == "numeric":
        head = f"{verb}.{draw(st.sampled_from(NUMERIC_PROPS[verb]))}"
    elif prop == "distinct":
        head = f"{verb}.{draw(st.sampled_from(DISTINCT_PROPS[verb]))}"
    else:
        head = verb
    filters = draw(st.lists(st.sampled_from(FILTERS[verb]), max_size=2, unique=True))
    return head + (" " + ", ".join(filters) if filters else ""), draw(windows())


# -- sequences: `a then b same P within D then not c within D` (docs/language.md, "Sequences") ------------------
STEP_GAPS = ["1d", "7d", "12h", "30d", "1w"]  # the store's offsets put events exactly 1d, 7d, 30d apart too
SHARED_PROPS = {("opened", "clicked"): ["device", "campaign_id"], ("viewed", "bought"): ["category", "brand"]}


def _shared(a: str, b: str) -> list[str]:
    if a == b:
        return sorted({p for pair, props in SHARED_PROPS.items() if a in pair for p in props})
    return SHARED_PROPS.get((a, b), SHARED_PROPS.get((b, a), []))


@st.composite
def sequences(draw, counted: bool = False) -> str:
    """A sequence of two or three steps; outside ``count`` its last step may be negated (it then has a gap)."""
    head, window = draw(event_sets())
    verb = head.split()[0]
    steps = [head + window]
    n = draw(st.integers(1, 2))
    for k in range(n):
        following = draw(st.sampled_from(list(VERBS)))
        filters = draw(st.lists(st.sampled_from(FILTERS[following]), max_size=1))
        text = following + (" " + ", ".join(filters) if filters else "")
        shared = _shared(verb, following)
        if shared and draw(st.booleans()):
            text += f" same {draw(st.sampled_from(shared))}"
        negated = not counted and k == n - 1 and draw(st.booleans())
        gap = draw(st.sampled_from(STEP_GAPS if negated else ["", *STEP_GAPS]))
        steps.append(("not " if negated else "") + text + (f" within {gap}" if gap else ""))
        verb = following
    return " then ".join(steps)


@st.composite
def numbers(draw) -> str:
    """A numeric expression of contacts."""
    kind = draw(st.sampled_from(["count", "sum", "avg", "min", "max", "distinct", "days", "age", "attr", "ratio",
                                 "sequences"]))
    match kind:
        case "count":
            return f"count({''.join(draw(event_sets()))})"
        case "sum" | "avg" | "min" | "max":
            return f"{kind}({''.join(draw(event_sets('numeric')))})"
        case "distinct":
            return f"distinct({''.join(draw(event_sets('distinct')))})"
        case "days":
            return f"days_since({draw(st.sampled_from(['first', 'last']))}({''.join(draw(event_sets()))}))"
        case "sequences":
            return f"count({draw(sequences(counted=True))})"
        case "age":
            return "age(birth_date)"
        case "attr":
            return draw(st.sampled_from(["loyalty_points", "loyalty_points + 10", "loyalty_points * 2 - 5"]))
    return f"count({''.join(draw(event_sets()))}) / count({''.join(draw(event_sets()))})"


@st.composite
def conditions(draw) -> str:
    kind = draw(st.sampled_from(["event", "count", "compare", "between", "attribute", "time", "param", "bool",
                                 "population", "sequence", "calendar"]))
    match kind:
        case "population":
            return draw(populations())
        case "event":
            return "".join(draw(event_sets()))
        case "count":
            head, window = draw(event_sets())
            op = draw(st.sampled_from([">", ">=", "=", "<", "!="]))
            number = draw(st.integers(0, 3))
            if draw(st.booleans()):
                return f"count({head}{window}) {op} {number}"
            return f"{head} {op} {number} times{window}"  # the shorthand; a window always follows `times`
        case "compare":
            op = draw(st.sampled_from([">", ">=", "<", "<=", "=", "!="]))
            value = draw(st.sampled_from(["0", "1", "2", "50", "0.5", "100.5", "-1"]))
            return f"{draw(numbers())} {op} {value}"
        case "between":
            low = draw(st.integers(0, 60))
            return f"{draw(numbers())} between {low} and {low + draw(st.integers(0, 500))}"
        case "attribute":
            return draw(st.sampled_from([
                *(f"city = {c}" for c in CITIES), "city in (Kyiv, Lviv)", "city not in (Kyiv)", "city is null",
                "city is not null", "gender = f", "gender != m", "email_subscribed", "not email_subscribed",
                'email endswith "@gmail.com"', 'email contains "a"', 'email startswith "b"', "email is null",
                "email_subscribed = false", *(f"tags has {t}" for t in TAGS), "tags has any (vinyl, vip)",
                "tags has all (vinyl, jazz)", "loyalty_points is null", "loyalty_points in (0, 5, 120)",
                "loyalty_points not in (5)", "birth_date < 1990-01-01", "birth_date is null",
            ]))
        case "time":
            return draw(st.sampled_from([
                f"created_at{draw(windows()) or ' within 30d'}", "created_at > 2026-10-01",
                "created_at <= 2026-10-25T12:00:00Z", "birth_date within 1y",
                f"first(bought){draw(windows()) or ' is null'}", f"last(opened) > {draw(st.sampled_from(DATES))}",
                "last(viewed) is null",
            ]))
        case "sequence":
            return draw(sequences())
        case "calendar":
            return draw(calendar_conditions())
        case "param":
            return draw(st.sampled_from([
                "viewed category = $category within $window", "bought brand = $brand", "count(opened) >= $n",
                "opened since $start", "loyalty_points > $n",
            ]))
    return draw(st.sampled_from(["true", "false"]))


# -- population-relative measures (issue 13) ------------------------------------------------------------------------
@st.composite
def populations(draw) -> str:
    """A percentile, quintile or decile of a measure, or an RFM code or letter, tested."""
    function = draw(st.sampled_from(["percentile", "quintile", "decile", "rfm", "rfm_r", "rfm_f", "rfm_m"]))
    op = draw(st.sampled_from([">", ">=", "<", "<=", "=", "!="]))
    if function.startswith("rfm"):
        verb = draw(st.sampled_from(["bought", "viewed"]))
        filters = draw(st.lists(st.sampled_from(FILTERS[verb]), max_size=1))
        head = f"{verb}.{draw(st.sampled_from(NUMERIC_PROPS[verb]))}{''.join(' ' + f for f in filters)}"
        window = draw(windows())
        if function == "rfm":
            codes = ", ".join(draw(st.lists(st.sampled_from(["111", "555", "554", "345", "151", "515"]), min_size=1,
                                            max_size=3, unique=True)))
            return f"rfm({head}{window}) {draw(st.sampled_from(['in', 'not in']))} ({codes})"
        return f"{function}({head}{window}) {op} {draw(st.integers(1, 5))}"
    measure = draw(numbers())
    bound = draw(st.sampled_from(["0", "10", "50", "62.5", "90", "99"])) if function == "percentile" else str(
        draw(st.integers(1, 10)))
    return f"{function}({measure}) {op} {bound}"


# Time parts, anniversaries and regular behaviour (docs/language.md, "Time of day, calendar and time zones").
TIME_PARTS = ["hour = 0", "hour between 7 and 9", "hour >= 22", "weekday in (sat, sun)", "weekday = mon",
              "weekday between mon and fri", "day = 25", "day <= 7", "month = 10", "month in (3, 11)",
              "year = 2025", "year >= 2026", "hour not in (0, 3)"]
ANNIVERSARIES = ["birthday(birth_date) within next 7d", "birthday(birth_date) within next 0d",
                 "birthday(birth_date) within next 1mo", "anniversary(created_at) within next 3d",
                 "anniversary(created_at) within next 1w", "anniversary(created_at) within next 1y"]
PERIODS = ["in each of the last 3 mo", "in at least 2 of the last 4 w", "in each of the last 1 d",
           "in at least 1 of the last 2 y", "in each of the last 2 w", "in at least 1 of the last 12 mo"]


@st.composite
def calendar_conditions(draw) -> str:
    verb = draw(st.sampled_from(list(VERBS)))
    match draw(st.sampled_from(["part", "anniversary", "regular", "lapsed"])):
        case "part":
            parts = ", ".join(draw(st.lists(st.sampled_from(TIME_PARTS), min_size=1, max_size=2, unique=True)))
            head = f"{verb} {parts}{draw(windows())}"
            return head if draw(st.booleans()) else f"count({head}) >= {draw(st.integers(1, 3))}"
        case "anniversary":
            return draw(st.sampled_from(ANNIVERSARIES))
        case "regular":
            filters = draw(st.lists(st.sampled_from(FILTERS[verb]), max_size=1))
            window = draw(st.sampled_from(["", " before 90d ago", " before 7d ago", " within 90d",
                                           " since 2026-08-03"]))
            return f"{' '.join([verb, *filters])} {draw(st.sampled_from(PERIODS))}{window}"
    return f"{verb} in each of the last 3 mo before 90d ago and not {verb} within 90d"


def zoned(schema):
    """``schema`` with each contact's zone in a string attribute ``tz`` (stores() then draws one from ZONES)."""
    data = schema.to_dict()
    data["contacts"]["attributes"]["tz"] = "string"
    data["contacts"]["timezone"] = "tz"
    return type(schema).from_dict(data)


def rules(max_leaves: int = 6) -> st.SearchStrategy[str]:
    """Whole rules: conditions joined by and/or, negated, parenthesised."""
    return st.recursive(
        conditions(),
        lambda children: st.one_of(
            st.tuples(children, st.sampled_from(["and", "or"]), children).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
            children.map(lambda c: f"not ({c})"),
        ),
        max_leaves=max_leaves,
    )


PARAMS = {"category": "iPhones", "window": "30d", "brand": "Apple", "n": 2, "start": "2026-10-20"}


def params_for(segment) -> dict:
    return {name: PARAMS[name] for name in segment.params}


# -- stores ----------------------------------------------------------------------------------------------------
def _time(draw) -> dt.datetime:
    return NOW - draw(st.sampled_from(OFFSETS)) * DAY


INF = float("inf")
FLOAT_EDGES = [INF, -INF]  # numbers, in every store
FLOAT_EXTREMES = [1e308, -1e308]  # their sums leave the floats: inf
INT_EXTREMES = [2**63 - 1, -(2**63), 2**61]  # loyalty points: arithmetic on them may leave int64
QUANTITY_EXTREMES = [2**62]  # two of them sum past int64


@st.composite
def stores(draw, schema, edges: bool = False):
    n = draw(st.integers(1, 8))
    floats = lambda values: st.sampled_from(values + FLOAT_EDGES + (FLOAT_EXTREMES if edges else []))  # noqa: E731
    ints = lambda values, extremes: st.sampled_from(values + (extremes if edges else []))  # noqa: E731
    maybe = lambda s: st.one_of(st.none(), s)  # noqa: E731
    contacts = []
    for i in range(n):
        contacts.append({
            "id": 100 + i,
            "gender": draw(maybe(st.sampled_from(["f", "m", "x"]))),
            "city": draw(maybe(st.sampled_from(CITIES))),
            "email": draw(maybe(st.sampled_from(["a@gmail.com", "b@corp.com", "ab@GMAIL.com", ""]))),
            "email_subscribed": draw(maybe(st.booleans())),
            "loyalty_points": draw(maybe(ints([0, 5, 120, -3], INT_EXTREMES))),
            "birth_date": draw(maybe(st.sampled_from(["1990-11-01", "2000-02-29", "1960-01-01", "2026-05-01",
                                                      "1985-11-05", "1999-10-31"]))),
            "created_at": _time(draw) if draw(st.booleans()) else None,
            "tags": draw(maybe(st.lists(st.sampled_from(TAGS), max_size=3, unique=True))),
        })
        if schema.timezone is not None:
            contacts[-1][schema.timezone] = draw(st.sampled_from(ZONES))
    events = {}
    for verb, event in VERBS.items():
        rows = []
        for _ in range(draw(st.integers(0, 2 * n + 2))):
            row = {"id": 100 + draw(st.integers(0, n - 1)), "ts": _time(draw)}
            match verb:
                case "opened" | "clicked":
                    row["device"] = draw(maybe(st.sampled_from(DEVICES)))
                    row["campaign_id"] = draw(maybe(st.integers(0, 9)))
                    if verb == "clicked":
                        row["url"] = draw(st.sampled_from(["https://shop/sale", "https://blog", "x"]))
                case "viewed":
                    row["category"] = draw(st.sampled_from(CATEGORIES))
                    row["brand"] = draw(maybe(st.sampled_from(BRANDS)))
                    row["price"] = draw(maybe(floats([15.0, 99.5, 500.0, 1200.0])))
                case "bought":
                    row["brand"] = draw(st.sampled_from(BRANDS))
                    row["category"] = draw(st.sampled_from(CATEGORIES))
                    row["amount"] = draw(maybe(floats([10.0, 100.0, 100.5, 999.0])))
                    row["quantity"] = draw(ints([1, 2, 3], QUANTITY_EXTREMES))
            rows.append(row)
        events[event] = rows
    return build_store(schema, contacts, events)
