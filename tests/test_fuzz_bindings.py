"""Fuzzing what evaluation takes besides the store: ``$parameter`` values of every Python type and extreme values,
and ``now`` values (strings, dates, datetimes in any time zone, the calendar's ends, junk).

- Evaluating gives a result or a ``SegmintError`` (``ParamError`` for a parameter), never another exception.
- Every engine gives the same answer or every engine refuses; ``evaluate_many`` agrees with single evaluations.
"""

from fuzzgen import ENGINES, NOW, SCHEMA, assert_agree, attempt, fuzz, now_values, param_values, refused, small_stores
from hypothesis import given
from hypothesis import strategies as st

import segmint

# One rule per kind of parameter: number, category, free text, date or timestamp, duration, in every place a kind
# can take (comparison, range, list, filter, window).
PARAMETRIC = [
    "loyalty_points > $n",
    "loyalty_points between $n and $m",
    "count(opened within $window) >= $n",
    "bought amount > $n, quantity = $m",
    "viewed category = $category within $window",
    "city in ($city, Kyiv)",
    'email endswith $suffix or email = "a"',
    "opened since $start",
    "opened between $start and $end",
    "created_at > $start",
    "birth_date < $start",
    "first(bought) between $start and $end",
    "opened before $window ago",
    "age(birth_date) >= $n",
]
SEGMENTS = [segmint.compile(rule, SCHEMA) for rule in PARAMETRIC]


@fuzz(100)
@given(data=st.data(), index=st.integers(0, len(SEGMENTS) - 1), store=small_stores())
def test_fuzz_parameters(data, index, store):
    segment = SEGMENTS[index]
    params = {name: data.draw(param_values(), label=f"${name}") for name in segment.params}
    mask = assert_agree(segment, store, NOW, params)
    categories = {
        "category": SCHEMA.events["product_view"].properties["category"].values,
        "city": SCHEMA.attributes["city"].values,
    }
    for name, values in categories.items():  # as a literal outside the declared values is: refused
        if name in params and isinstance(params[name], str) and params[name] not in values:
            assert mask is None, f"{segment.text}: ${name} = {params[name]!r} is not a declared value, yet accepted"


@fuzz(100)
@given(now=now_values(), index=st.integers(0, len(SEGMENTS) - 1), store=small_stores())
def test_fuzz_now(now, index, store):
    segment = SEGMENTS[index]
    params = {
        "n": 2,
        "m": 3,
        "window": "30d",
        "category": "iPhones",
        "city": "Lviv",
        "suffix": "@gmail.com",
        "start": "2026-10-01",
        "end": "2026-10-31",
    }
    assert_agree(segment, store, now, {name: params[name] for name in segment.params})


@fuzz(25)  # the compiled engine: one kernel per rule and store shape, whatever the values
@given(data=st.data(), index=st.integers(0, len(SEGMENTS) - 1), store=small_stores())
def test_fuzz_parameters_and_now_compiled(data, index, store):
    segment = SEGMENTS[index]
    params = {name: data.draw(param_values(), label=f"${name}") for name in segment.params}
    now = data.draw(st.one_of(st.just(NOW), now_values()), label="now")
    mask = assert_agree(segment, store, now, params, ENGINES, duckdb_too=False)
    batch = attempt(
        segmint.evaluate_many, [segment, SEGMENTS[0]], store, now=now, params={"n": 1, **params}, engine="compiled"
    )
    if mask is not None and not refused(batch) and params.get("n", 1) == 1:
        assert (batch[0].mask == mask).all(), f"{segment.text}: evaluate_many and evaluate differ"
