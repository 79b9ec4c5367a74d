"""A seeded synthetic CDP data set that fits ``runtime/demo/schema.toml``: ``segmint demo`` and benchmark input.

The data has to look like a real contact base, because marketers try demo rules on it and benchmarks compare engines
on it; a uniform random table makes every rule return half the contacts and every plan look the same. So:

- Activity is heavy tailed: 22% of contacts are inactive and the rest have a lognormal activity rate; event counts
  are Poisson in rate x length of the contact's active window. About a third of all contacts end up with no events
  at all, the median contact has a handful, a few have thousands.
- Every contact has an active window inside the last two years (never before sign-up). ~40% churned at some point
  and have no events after it, so "bought, but not within 90d" finds people. A small share of events (~0.1%) lies up
  to two days *after* ``now`` on purpose: rules must never count the future.
- Contacts have sticky preferences (usual device, phone OS, favourite product category) and properties are drawn
  around them, so "opened device=ios" users mostly open on iOS and purchases follow the categories viewed.
  Brands follow categories (iPhones are Apple, Vinyl is Universal), prices depend on the category.

Speed: 5M contacts with ~130M events in well under a minute. Contact traits, then events of each type, are drawn
per chunk of CHUNK contacts in a thread pool (numpy releases the GIL), each chunk with its own RNG stream derived
from (seed, purpose, chunk) and writing into its slice of preallocated arrays. So the output does not depend on the
number of threads or their timing. Events come out sorted by (contact, timestamp) without sorting: each contact's
timestamps are uniform order statistics made from cumulative sums of exponential gaps. Category properties are small
integer codes emitted as Arrow dictionary arrays, so no Python strings are built per event.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...compiler.schema import Field, Schema
from ...compiler.types import US_PER_DAY, Type
from .mix import (
    APP_RELEASE_DAYS_AGO,
    APP_VERSIONS,
    BROWSER_BY_DEVICE,
    BUY_FAVOURITE,
    CAMPAIGN_SHARE,
    CATEGORY_BRANDS,
    CATEGORY_PRICE,
    CATEGORY_SHARE,
    CITY_COUNTRY,
    CITY_SHARE,
    DEVICE_NULL,
    DEVICE_SHARE,
    DEVICE_STICKINESS,
    DEVICES,
    EMAIL_DOMAINS,
    EVENT_MIX,
    FIRST_NAMES,
    LAST_NAMES,
    LUT_BITS,
    MAX_TAGS,
    PHONES,
    PRICE_SIGMA,
    QUANTITY_SHARE,
    TAG_BOOST,
    TAG_RATE,
    TAGS,
    URL_GENERAL_SHARE,
    URLS,
    VIEW_FAVOURITE,
)
from .progress import progress_steps

# Bump whenever the same (contacts, seed) would produce different data: it names the cache folder.
GENERATOR_VERSION = 1

DEFAULT_NOW = datetime(2026, 11, 1, tzinfo=UTC)
HISTORY_DAYS = 730  # events lie in the two years before now ...
FUTURE_DAYS = 2  # ... except a few, up to two days after it
SIGNUP_YEARS = 4  # contacts signed up during the last four years
CHUNK = 1 << 14  # contacts per unit of parallel work; fixed, so the data never depends on the thread count
FIRST_ID = 1_000_001

TIMESTAMP = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class DemoData:
    """A generated data set: contacts, events by type (Arrow tables as the loader reads them) and its ``now``."""

    contacts: pa.Table
    events: dict[str, pa.Table]
    now: datetime
    seed: int | None = None

    @property
    def counts(self) -> dict[str, int]:
        return {"contacts": self.contacts.num_rows, **{name: table.num_rows for name, table in self.events.items()}}


def demo_schema() -> Schema:
    """The schema of the demo data, read from the TOML packaged with segmint."""
    with resources.as_file(resources.files("segmint.runtime.demo") / "schema.toml") as path:
        return Schema.from_toml(path)


# == generation ====================================================================================================


def generate(
    contacts: int = 100_000,
    *,
    seed: int = 7,
    now: datetime | None = None,
    events_per_contact: float = 26.0,
    progress: bool = False,
) -> DemoData:
    """Generate ``contacts`` contacts with ~``events_per_contact`` events each; same arguments, same data."""
    if contacts < 0:
        raise ValueError("contacts must be >= 0")
    now = _as_utc(now or DEFAULT_NOW)
    schema = demo_schema()
    chunks = range((contacts + CHUNK - 1) // CHUNK)
    with progress_steps(progress) as step, ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:

        def run(work: Callable[[int], None]) -> None:
            for _ in pool.map(work, chunks):
                pass

        population = _population(contacts, seed, now, events_per_contact, run)
        contacts_task = step("contacts", 1)
        contacts_future = pool.submit(_contacts_table, schema, population, _rng(seed, 1), now)
        contacts_future.add_done_callback(lambda _: contacts_task())
        tables = {}
        for index, event in enumerate(schema.events.values()):
            advance = step(event.name, len(chunks))
            columns = _EventColumns.allocate(event, population.counts[event.name])
            work = [(event.name, columns, population, k, _rng(seed, 2, index, k), now) for k in chunks]
            for _ in pool.map(lambda args: _fill_chunk(*args), work):
                advance()
            tables[event.name] = columns.table(event)
        contacts_table = contacts_future.result()
    return DemoData(contacts_table, tables, now, seed)


_Runner = Callable[[Callable[[int], None]], None]  # runs a function for every chunk of contacts, in parallel


def _rng(seed: int, *path: int) -> np.random.Generator:
    """An independent stream per purpose and chunk, named by its path, so streams never depend on each other."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=path))


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _micros(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _shares(values: tuple[str, ...] | list, weights: Mapping) -> np.ndarray:
    """Probabilities in the order of ``values`` (a schema's category order) from a name -> weight mapping."""
    unknown = set(weights) - set(values)
    if unknown:
        raise ValueError(f"unknown values {sorted(unknown)}; expected some of {values}")
    p = np.array([float(weights.get(v, 0.0)) for v in values])
    return p / p.sum()


def _lut(rows: np.ndarray) -> np.ndarray:
    """Tables for categorical draws: row ``k`` maps 2**LUT_BITS equal slices of [0, 1) to outcomes of ``rows[k]``.

    Drawing then costs one small random integer and one gather per event instead of a binary search.
    """
    rows = np.atleast_2d(np.asarray(rows, dtype=np.float64))
    cdf = np.cumsum(rows / rows.sum(axis=1, keepdims=True), axis=1)
    mids = (np.arange(1 << LUT_BITS) + 0.5) / (1 << LUT_BITS)
    table = np.stack([np.minimum(np.searchsorted(row, mids, side="right"), rows.shape[1] - 1) for row in cdf])
    return table.astype(np.int8 if rows.shape[1] <= 127 else np.int32)


def _draw(rng: np.random.Generator, lut: np.ndarray, given: np.ndarray | int, n: int) -> np.ndarray:
    """``n`` categorical outcomes, row ``given`` of ``lut`` for each (a per-event array or one row for all)."""
    slot = rng.integers(0, 1 << LUT_BITS, size=n, dtype=np.int32)
    if isinstance(given, int | np.integer):
        return lut[given][slot]
    return lut.ravel()[(given.astype(np.int32) << LUT_BITS) | slot]


def _sticky(favourite_share: float, population_share: np.ndarray) -> np.ndarray:
    """Row ``k``: outcome ``k`` with ``favourite_share``, else anything by its population share."""
    k = len(population_share)
    return favourite_share * np.eye(k) + (1 - favourite_share) * population_share[None, :]


# -- contacts and their hidden traits ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Population:
    """Per-contact truth behind the data: visible attributes' sources and the hidden traits events are drawn from.

    Times are microseconds since the epoch. ``start``/``span`` are each contact's active window (floats, because
    timestamps are drawn as fractions of it); ``counts[type]`` is how many events of that type the contact has.
    """

    ids: np.ndarray
    created: np.ndarray
    start: np.ndarray
    span: np.ndarray
    has_email: np.ndarray
    subscribed: np.ndarray
    device: np.ndarray  # index into DEVICES
    phone: np.ndarray  # index into PHONES
    favourite: np.ndarray  # index into the schema's product categories
    buyer: np.ndarray  # propensity to buy, mean 1
    app_lag: np.ndarray  # 1 for the quarter who update their app one release late
    counts: dict[str, np.ndarray]

    @classmethod
    def allocate(cls, ids: np.ndarray) -> _Population:
        n = len(ids)
        f64, i8 = np.float64, np.int8
        counts = {name: np.empty(n, np.int64) for name in EVENT_MIX}
        arrays = [np.empty(n, t) for t in (np.int64, f64, f64, bool, bool, i8, i8, i8, f64, i8)]
        return cls(ids, *arrays, counts)


def _population(n: int, seed: int, now: datetime, events_per_contact: float, run: _Runner) -> _Population:
    """Draw every contact's traits, then its event counts: Poisson around its weight, scaled to the wanted mix."""
    # Ids increase with gaps (deleted contacts), so contacts are sorted by id and by row alike.
    ids = FIRST_ID + np.cumsum(_rng(seed, 0).integers(1, 4, size=n)) - 1
    pop = _Population.allocate(ids)
    weights = {name: np.empty(n) for name in EVENT_MIX}
    run(lambda k: _draw_traits(pop, weights, _chunk(k, n), _rng(seed, 0, k), _micros(now)))
    scale = {}
    for name, weight in weights.items():
        mean = EVENT_MIX[name] / sum(EVENT_MIX.values()) * events_per_contact
        total = weight.sum()
        scale[name] = mean * n / total if total > 0 else 0.0
    run(lambda k: _draw_counts(pop, weights, scale, _chunk(k, n), _rng(seed, 3, k)))
    return pop


def _chunk(k: int, n: int) -> slice:
    return slice(k * CHUNK, min((k + 1) * CHUNK, n))


def _draw_traits(pop: _Population, weights: dict[str, np.ndarray], rows: slice, rng, now_us: int) -> None:
    """Fill one chunk of contacts' traits, and their weights: expected events of each type, up to a common scale.

    A contact's weight is its activity rate times the length of its active window, times type-specific appetites:
    e-mail needs an address and mostly a subscription, apps need an app user, purchases need a buyer.
    """
    n = rows.stop - rows.start
    created = now_us - _signup_age(rng, n)
    start = np.maximum(created, now_us - HISTORY_DAYS * US_PER_DAY).astype(np.float64)
    end = _active_until(rng, start, now_us)
    has_email = rng.random(n) >= 0.03
    subscribed = has_email & (rng.random(n) < 0.82)
    device = _draw(rng, _LUTS["usual_device"], 0, n)
    # Phone OS follows the usual device when it is a phone; desktop people split between the two.
    phone = np.where(device <= 1, device, (rng.random(n) < 0.55).astype(np.int8)).astype(np.int8)
    pop.created[rows], pop.start[rows], pop.span[rows] = created, start, end - start
    pop.has_email[rows], pop.subscribed[rows], pop.device[rows], pop.phone[rows] = has_email, subscribed, device, phone
    pop.favourite[rows] = _draw(rng, _LUTS["favourite"], 0, n)
    pop.buyer[rows] = buyer = rng.gamma(0.5, 2.0, size=n)
    pop.app_lag[rows] = rng.random(n) < 0.25

    active = rng.random(n) >= 0.22
    rate = np.where(active, rng.lognormal(0.0, 1.3, size=n), 0.0) * (end - start) / US_PER_DAY
    email = rate * np.where(subscribed, 1.0, np.where(has_email, 0.1, 0.0)) * rng.gamma(2.0, 0.5, size=n)
    shop = rate * rng.gamma(1.5, 1 / 1.5, size=n)
    app_user = rng.random(n) < np.where(device <= 1, 0.45, 0.15)
    weights["email_open"][rows] = email
    weights["email_click"][rows] = email * rng.gamma(1.0, 1.0, size=n)
    weights["product_view"][rows] = shop
    weights["purchase"][rows] = shop * buyer
    weights["app_open"][rows] = rate * app_user * rng.gamma(2.0, 0.5, size=n)
    weights["webpush_subscribe"][rows] = np.sqrt(rate)


def _draw_counts(pop: _Population, weights: dict[str, np.ndarray], scale: dict[str, float], rows: slice, rng) -> None:
    for name, weight in weights.items():
        pop.counts[name][rows] = rng.poisson(weight[rows] * scale[name])


def _signup_age(rng: np.random.Generator, n: int) -> np.ndarray:
    """How long ago each contact signed up (µs): the base grows ~65%/year, so recent sign-ups are most common."""
    growth = 0.5  # per year, continuous
    years = np.log1p(rng.random(n) * np.expm1(growth * SIGNUP_YEARS)) / growth  # inverse CDF of exp(growth * t)
    return ((SIGNUP_YEARS - years) * 365.25 * US_PER_DAY).astype(np.int64)


def _active_until(rng: np.random.Generator, start: np.ndarray, now_us: int) -> np.ndarray:
    """The end of each contact's active window: ~40% churned at a uniform moment, the rest are active now.

    A third of the active ones have events up to FUTURE_DAYS past ``now`` (clock skew, late loads), which puts
    ~0.1% of all events in the future.
    """
    n = len(start)
    churned = rng.random(n) < 0.4
    end = np.where(churned, start + rng.random(n) * (now_us - start), float(now_us))
    future = ~churned & (rng.random(n) < 0.33)
    return np.where(future, end + FUTURE_DAYS * US_PER_DAY, end)


def _contacts_table(schema: Schema, pop: _Population, rng: np.random.Generator, now: datetime) -> pa.Table:
    """The contacts table in the schema's column order; its columns are drawn from the population's traits."""
    n = len(pop.ids)
    attributes = schema.attributes
    city = _draw(rng, _lut(_shares(attributes["city"].values, CITY_SHARE)), 0, n)
    columns = {
        schema.id_column: pa.array(pop.ids),
        "email": _emails(rng, pop),
        "gender": _codes(attributes["gender"], _draw(rng, _lut([48, 48, 4]), 0, n), rng.random(n) >= 0.03),
        "city": _codes(attributes["city"], city, rng.random(n) >= 0.06),
        "country": None,
        "birth_date": _birth_dates(rng, n, now),
        "created_at": pa.array(pop.created).view(TIMESTAMP),
        "email_subscribed": pa.array(pop.subscribed, mask=rng.random(n) < 0.01),
        "loyalty_points": None,
        "tags": None,
    }
    columns["country"] = _countries(rng, attributes, columns["city"], city)
    points = _loyalty_points(rng, pop)
    columns["loyalty_points"] = points
    columns["tags"] = _tags(rng, pop, points)
    assert list(columns) == [schema.id_column, *attributes], "contacts columns out of step with the schema"
    return pa.table(columns)


def _codes(field_: Field, codes: np.ndarray, valid: np.ndarray | None = None) -> pa.DictionaryArray:
    """A category column as a dictionary array over the schema's values (nulls where ``valid`` is False)."""
    indices = pa.array(codes, mask=None if valid is None else ~valid)
    return pa.DictionaryArray.from_arrays(indices, pa.array(field_.values, pa.string()))


def _emails(rng: np.random.Generator, pop: _Population) -> pa.Array:
    """``first.last<number>@domain``; the number is the contact's own, so addresses are unique. Built in Arrow."""
    n = len(pop.ids)
    domains = tuple(EMAIL_DOMAINS)

    def pick(words, weights=None) -> pa.Array:
        lut = _lut(np.ones(len(words)) if weights is None else _shares(words, weights))
        return pa.array(words).take(pa.array(_draw(rng, lut, 0, n).astype(np.int32)))

    number = pc.cast(pa.array(pop.ids - FIRST_ID + 1), pa.string())
    emails = pc.binary_join_element_wise(
        pick(FIRST_NAMES), ".", pick(LAST_NAMES), number, "@", pick(domains, EMAIL_DOMAINS), ""
    )
    return pc.if_else(pa.array(pop.has_email), emails, pa.scalar(None, pa.string()))


def _countries(rng: np.random.Generator, attributes: Mapping[str, Field], city: pa.Array, codes) -> pa.Array:
    """A city implies its country; without a city, half the contacts still have a country."""
    countries = attributes["country"].values
    of_city = np.array([countries.index(CITY_COUNTRY[c]) for c in attributes["city"].values], dtype=np.int8)
    country = of_city[codes]
    has_city = np.asarray(city.is_valid())
    return _codes(attributes["country"], country, has_city | (rng.random(len(codes)) < 0.5))


def _birth_dates(rng: np.random.Generator, n: int, now: datetime) -> pa.Array:
    """Ages 16-80, most in their thirties (16 + 64 * Beta(2, 3.2)); ~10% unknown."""
    age_days = (16 + 64 * rng.beta(2.0, 3.2, size=n)) * 365.25
    days = (_micros(now) // US_PER_DAY - age_days).astype(np.int32)
    return pa.array(days, mask=rng.random(n) < 0.10).view(pa.date32())


def _loyalty_points(rng: np.random.Generator, pop: _Population) -> pa.Array:
    """Heavy tailed and higher for buyers; ~10% have none yet, ~15% are not in the programme (null)."""
    n = len(pop.ids)
    points = np.floor(rng.lognormal(4.5, 1.4, size=n) * (0.3 + pop.buyer)).astype(np.int64)
    points[rng.random(n) < 0.10] = 0
    return pa.array(points, mask=rng.random(n) < 0.15)


def _tags(rng: np.random.Generator, pop: _Population, points: pa.Array) -> pa.Array:
    """0-4 distinct tags per contact, most have none; interests follow the favourite category, vip the points.

    Each tag is a coin flip per contact (so tags are distinct); the rare contact with more than four keeps its first
    four.
    """
    n, categories = len(pop.ids), tuple(CATEGORY_SHARE)
    rate = np.tile(np.array(TAG_RATE, dtype=np.float32), (len(categories), 1))  # [favourite category, tag]
    for category, tags in TAG_BOOST.items():
        for tag in tags:
            rate[categories.index(category), TAGS.index(tag)] *= 8
    chosen = np.empty((n, len(TAGS)), dtype=bool)
    for j in range(len(TAGS)):
        chosen[:, j] = rng.random(n, dtype=np.float32) < rate[:, j][pop.favourite]
    if n:
        points_np = pc.fill_null(points, 0).to_numpy()
        chosen[:, TAGS.index("vip")] = (points_np > np.quantile(points_np, 0.97)) & (rng.random(n) < 0.7)
    per_contact = chosen.sum(axis=1)
    crowded = np.flatnonzero(per_contact > MAX_TAGS)
    chosen[crowded] &= np.cumsum(chosen[crowded], axis=1) <= MAX_TAGS
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.minimum(per_contact, MAX_TAGS), out=offsets[1:])
    values = pa.array(TAGS).take(pa.array(np.nonzero(chosen)[1].astype(np.int32)))
    return pa.ListArray.from_arrays(pa.array(offsets), values)


# -- events ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _EventColumns:
    """Preallocated columns of one event type; chunks fill disjoint slices of them from worker threads."""

    offsets: np.ndarray  # contact row r's events are rows offsets[r]:offsets[r+1]
    contact_id: np.ndarray
    ts: np.ndarray
    values: dict[str, np.ndarray]
    valid: dict[str, np.ndarray]

    @classmethod
    def allocate(cls, event, counts: np.ndarray) -> _EventColumns:
        offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        total = int(offsets[-1])
        values = {name: np.empty(total, _storage(event.name, f)) for name, f in event.properties.items()}
        valid = {name: np.empty(total, np.bool_) for name in _NULLABLE.get(event.name, ())}
        return cls(offsets, np.empty(total, np.int64), np.empty(total, np.int64), values, valid)

    def table(self, event) -> pa.Table:
        columns = {"contact_id": pa.array(self.contact_id), event.timestamp: pa.array(self.ts).view(TIMESTAMP)}
        for name, f in event.properties.items():
            mask = ~self.valid[name] if name in self.valid else None
            dictionary = _dictionary(event.name, f)
            if dictionary is None:
                columns[name] = pa.array(self.values[name], mask=mask)
            else:
                indices = pa.array(self.values[name], mask=mask)
                columns[name] = pa.DictionaryArray.from_arrays(indices, pa.array(dictionary, pa.string()))
        return pa.table(columns)


_NULLABLE = {"email_open": ("device",), "email_click": ("device",)}
_FREE_STRINGS = {("email_click", "url"): URLS, ("app_open", "app_version"): APP_VERSIONS}


def _dictionary(event_name: str, f: Field) -> tuple[str, ...] | None:
    if f.values is not None:
        return f.values
    return _FREE_STRINGS.get((event_name, f.name))


def _storage(event_name: str, f: Field) -> np.dtype:
    if _dictionary(event_name, f) is not None:
        return np.dtype(np.int8)
    return np.dtype({Type.INT: np.int64, Type.FLOAT: np.float64}[f.type])


def _fill_chunk(name: str, out: _EventColumns, pop: _Population, k: int, rng: np.random.Generator, now) -> None:
    """Draw the events of contacts ``k*CHUNK ..`` for one type into their slice of ``out``."""
    first, last = k * CHUNK, min((k + 1) * CHUNK, len(pop.ids))
    lo, hi = int(out.offsets[first]), int(out.offsets[last])
    counts = pop.counts[name][first:last]
    local, ts = _event_times(rng, counts, pop.start[first:last], pop.span[first:last])
    rows = local + first
    out.contact_id[lo:hi] = pop.ids[rows]
    out.ts[lo:hi] = ts
    values, valid = _PROPERTIES[name](rng, pop, rows, ts, now)
    for column, array in values.items():
        out.values[column][lo:hi] = array
    for column, array in valid.items():
        out.valid[column][lo:hi] = array


def _event_times(rng: np.random.Generator, counts: np.ndarray, start: np.ndarray, span: np.ndarray):
    """Each contact's event times, uniform in its window and already sorted, with no sort.

    For c uniform points in [0, 1), sorted, take c+1 exponential gaps G: the i-th point is (G1+..+Gi) / (G1+..+Gc+1).
    One cumulative sum over the whole chunk gives every contact's partial sums once the sum before its first event
    is subtracted (a segmented cumsum). Returns (contact index within the chunk, µs timestamps) per event.
    """
    n = int(counts.sum())
    local = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    cum = np.empty(n + 1)
    cum[0] = 0.0
    np.cumsum(rng.standard_exponential(n, dtype=np.float32), out=cum[1:], dtype=np.float64)
    ends = np.cumsum(counts)
    before = cum[ends - counts]
    total = cum[ends] - before + rng.standard_exponential(len(counts))
    scale = span / total
    ts = (cum[1:] - before[local]) * scale[local]
    ts += start[local]
    return local, ts.astype(np.int64)


def _email_props(rng, pop: _Population, rows, ts, now, *, clicks: bool = False):
    """Device sticks to the contact's usual one; dated campaigns get one id per day, automations fixed ids."""
    n = len(rows)
    device = _draw(rng, _LUTS["device"], pop.device[rows], n)
    campaign_type = _draw(rng, _LUTS["campaign"], 0, n)
    day = (ts - (_micros(now) - HISTORY_DAYS * US_PER_DAY)) // US_PER_DAY
    dated = 20_000 + 2 * day + (campaign_type == 1)
    automation = 1_000 + 100 * campaign_type.astype(np.int64) + rng.integers(0, 6, size=n)
    values = {
        "device": device,
        "campaign_type": campaign_type,
        "campaign_id": np.where(campaign_type <= 1, dated, automation),
    }
    if clicks:
        # Half the clicks land on the page of the contact's favourite category, the rest on general pages.
        general = _draw(rng, _LUTS["url"], 0, n)
        category_page = (len(URL_GENERAL_SHARE) + pop.favourite[rows]).astype(np.int8)
        values["url"] = np.where(rng.random(n, dtype=np.float32) < 0.5, category_page, general)
    return values, {"device": rng.random(n, dtype=np.float32) >= DEVICE_NULL}


def _click_props(rng, pop, rows, ts, now):
    return _email_props(rng, pop, rows, ts, now, clicks=True)


def _product(rng, pop: _Population, rows, favourite_lut: str):
    """Category around the favourite, brand by category, price lognormal around the category's median."""
    n = len(rows)
    category = _draw(rng, _LUTS[favourite_lut], pop.favourite[rows], n)
    brand = _draw(rng, _LUTS["brand"], category, n)
    noise = rng.standard_normal(n, dtype=np.float32) * PRICE_SIGMA
    price = np.maximum(np.round(_MEDIAN_PRICE[category] * np.exp(noise)), 1.0) - 0.01
    return category, brand, price


def _view_props(rng, pop, rows, ts, now):
    category, brand, price = _product(rng, pop, rows, "view_category")
    return {"category": category, "brand": brand, "price": price}, {}


def _purchase_props(rng, pop, rows, ts, now):
    category, brand, price = _product(rng, pop, rows, "buy_category")
    quantity = _draw(rng, _LUTS["quantity"], 0, len(rows)).astype(np.int64) + 1
    return {"category": category, "brand": brand, "amount": np.round(price * quantity, 2), "quantity": quantity}, {}


def _app_props(rng, pop: _Population, rows, ts, now):
    """The contact's phone (2% of opens on the other one) and the latest app release, or one behind for laggards."""
    n = len(rows)
    device = pop.phone[rows] ^ (rng.random(n, dtype=np.float32) < 0.02)
    releases = np.array([_micros(now) - days * US_PER_DAY for days in APP_RELEASE_DAYS_AGO])
    behind = pop.app_lag[rows]
    version = np.clip(np.searchsorted(releases, ts, side="right") - 1 - behind, 0, len(APP_VERSIONS) - 1)
    return {"device": device.astype(np.int8), "app_version": version.astype(np.int8)}, {}


def _webpush_props(rng, pop: _Population, rows, ts, now):
    """Web pushes come from the usual device (web counts as desktop); the browser follows the device."""
    device = np.minimum(pop.device[rows], 2)
    return {"device": device, "browser": _draw(rng, _LUTS["browser"], device, len(rows))}, {}


_PROPERTIES: dict[str, Callable] = {
    "email_open": _email_props,
    "email_click": _click_props,
    "product_view": _view_props,
    "purchase": _purchase_props,
    "app_open": _app_props,
    "webpush_subscribe": _webpush_props,
}


def _property_luts() -> dict[str, np.ndarray]:
    """The categorical tables of event properties, in the demo schema's value order."""
    events = demo_schema().events
    categories = events["product_view"].properties["category"].values
    brands = events["product_view"].properties["brand"].values
    category_share = _shares(categories, CATEGORY_SHARE)
    # Codes index the schema's value lists directly, so the constants above must list categories in its order.
    assert categories == tuple(CATEGORY_SHARE) and URLS[len(URL_GENERAL_SHARE) :][0].endswith(categories[0].lower())
    assert events["email_open"].properties["device"].values == DEVICES
    assert events["app_open"].properties["device"].values == PHONES
    return {
        "usual_device": _lut(_shares(DEVICES, DEVICE_SHARE)),
        "favourite": _lut(category_share),
        "device": _lut(_sticky(DEVICE_STICKINESS, _shares(DEVICES, DEVICE_SHARE))),
        "campaign": _lut(_shares(events["email_open"].properties["campaign_type"].values, CAMPAIGN_SHARE)),
        "url": _lut(np.array(URL_GENERAL_SHARE, dtype=np.float64)),
        "view_category": _lut(_sticky(VIEW_FAVOURITE, category_share)),
        "buy_category": _lut(_sticky(BUY_FAVOURITE, category_share)),
        "brand": _lut(np.stack([_shares(brands, CATEGORY_BRANDS[c]) for c in categories])),
        "quantity": _lut(np.array(list(QUANTITY_SHARE.values()), dtype=np.float64)),
        "browser": _lut(
            np.stack(
                [
                    _shares(events["webpush_subscribe"].properties["browser"].values, BROWSER_BY_DEVICE[d])
                    for d in events["webpush_subscribe"].properties["device"].values
                ]
            )
        ),
    }


_LUTS = _property_luts()
_MEDIAN_PRICE = np.array([CATEGORY_PRICE[c] for c in CATEGORY_SHARE], dtype=np.float64)
