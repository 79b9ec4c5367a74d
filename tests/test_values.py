"""Values at the edges: parameters that are not numbers or not a category's values, integers at the ends of int64.

Integer results that int64 cannot hold are refused with the rule part named, in every engine: the reference computes
them exactly, the others prove from the store's bounds that they cannot overflow or let the reference check.
"""

import datetime as dt
import math
import re

import numpy as np
import oracle
import pytest
from data import NOW
from storebuilder import build_store

import segmint
from segmint.compiler.types import Type
from segmint.runtime.bindings import bind
from segmint.runtime.store.columns import Column, EventTable, Store

ENGINES = ("reference", "vector", "compiled")
INT64_MAX, INT64_MIN = 2**63 - 1, -(2**63)


@pytest.fixture(scope="module")
def store(schema):
    contacts = [
        {"id": 1, "gender": "f", "loyalty_points": 10},
        {"id": 2, "gender": "m", "loyalty_points": -5},
        {"id": 3},
    ]
    purchases = [{"id": 1, "ts": NOW, "brand": "Apple", "category": "Books", "amount": 5.0, "quantity": 1}]
    return build_store(schema, contacts, {"purchase": purchases})


def selected(schema, store, rule, params=None, engine="reference"):
    return set(segmint.compile(rule, schema).evaluate(store, now=NOW, params=params, engine=engine).ids().tolist())


# -- number parameters ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [math.nan, "nan", "NaN"])
def test_a_nan_parameter_is_refused(schema, store, value):
    with pytest.raises(segmint.ParamError, match=r"\$n must be a number, got NaN"):
        selected(schema, store, "loyalty_points > $n", {"n": value})


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("rule", "value", "expected"),
    [
        ("loyalty_points < $n", math.inf, {1, 2}),  # +-inf are numbers: beyond every value, null stays out
        ("loyalty_points < $n", "inf", {1, 2}),
        ("loyalty_points > $n", -math.inf, {1, 2}),
        ("loyalty_points > $n", math.inf, set()),
        ("loyalty_points = $n", math.inf, set()),
        ("loyalty_points != $n", math.inf, {1, 2}),
        ("sum(bought.amount) < $n", "inf", {1, 2, 3}),
        ("loyalty_points + $n > 0", math.inf, {1, 2}),
        ("loyalty_points - $n is null", -math.inf, {3}),  # 10 + inf is inf: a number
        ("$n - $n is null", math.inf, {1, 2, 3}),  # inf - inf is not a number: null
    ],
)
def test_infinite_parameters_are_numbers(schema, store, rule, value, expected, engine):
    assert selected(schema, store, rule, {"n": value}, engine) == expected


def test_an_integer_parameter_a_float_cannot_hold_is_refused(schema, store):
    assert selected(schema, store, "loyalty_points < $n", {"n": 2**53}) == {1, 2}
    for value in (2**53 + 1, 2**63 - 1, 10**400):
        cannot_hold = r"\$n is \d+(\.\.\.)?, which a number parameter .* cannot hold exactly"
        with pytest.raises(segmint.ParamError, match=cannot_hold):
            selected(schema, store, "loyalty_points < $n", {"n": value})


# -- category parameters -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rule", "params", "message"),
    [
        ("gender = $g", {"g": "q"}, r"parameter \$g is 'q', which is not a value of gender \(gender is one of: f, m"),
        ("bought brand = $b", {"b": "Aple"}, r"\$b is 'Aple', which is not a value of brand; did you mean 'Apple'\?"),
        ("gender in (f, $g)", {"g": "F"}, r"\$g is 'F', which is not a value of gender; did you mean 'f'\?"),
        ("bought brand not in ($b)", {"b": "apple"}, r"\$b is 'apple'.*did you mean 'Apple'\?"),
    ],
)
def test_a_category_parameter_outside_the_declared_values_is_refused_like_a_literal(
    schema, store, rule, params, message
):
    with pytest.raises(segmint.RuleError):
        segmint.compile(rule.replace("$g", params.get("g", "")).replace("$b", params.get("b", "")), schema)
    for engine in ENGINES:
        with pytest.raises(segmint.ParamError, match=message):
            selected(schema, store, rule, params, engine)
    with pytest.raises(segmint.ParamError, match=message):
        segmint.evaluate_many([segmint.compile(rule, schema)], store, now=NOW, params=params)


def test_a_category_parameter_inside_the_declared_values_and_free_text_parameters_are_accepted(schema, store):
    assert selected(schema, store, "gender = $g", {"g": "f"}) == {1}
    assert selected(schema, store, "bought brand = $b", {"b": "Sony"}) == set()  # declared, just not bought
    assert selected(schema, store, "email contains $t", {"t": "no such"}) == set()  # not a category


# -- integers at the ends of int64 ---------------------------------------------------------------------------------
def test_integer_constants_beyond_int64_are_refused_when_the_rule_is_compiled(schema):
    assert segmint.compile("loyalty_points > 9223372036854775806 + 1", schema)
    assert segmint.compile("loyalty_points > -9223372036854775807 - 1", schema)
    for rule in (
        "loyalty_points > 9223372036854775807 + 1",
        "loyalty_points < -9223372036854775807 - 2",
        "loyalty_points > 4294967296 * 4294967296",
        "loyalty_points > -(-9223372036854775807 - 1)",
    ):
        with pytest.raises(segmint.RuleError, match=r"out of range for a whole number") as error:
            segmint.compile(rule, schema)
        assert error.value.span is not None


@pytest.fixture(scope="module")
def huge(schema):
    """Values near int64's ends: contact 1's quantities (Sony) sum past 2^63, contact 2's (Apple) add up to 2^62 on
    the way through 2^63 (+2^62, +2^62, -2^62), contact 3's are small; loyalty points at the ends of int64."""
    rows = [
        (1, "Sony", 2**62),
        (1, "Sony", 2**62),
        (2, "Apple", 2**62),
        (2, "Apple", 2**62),
        (2, "Apple", -(2**62)),
        (3, "Apple", 5),
    ]
    purchases = [
        {"id": c, "ts": NOW - dt.timedelta(days=k), "brand": brand, "category": "Books", "amount": 1.0, "quantity": q}
        for k, (c, brand, q) in enumerate(rows)
    ]
    contacts = [
        {"id": 1, "loyalty_points": INT64_MAX},
        {"id": 2, "loyalty_points": INT64_MIN},
        {"id": 3, "loyalty_points": 7},
        {"id": 4},
    ]
    return build_store(schema, contacts, {"purchase": purchases})


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("rule", "part", "contact"),
    [
        ("sum(bought.quantity) > 0", "sum(bought.quantity)", 1),
        ("loyalty_points + 1 > 0", "loyalty_points + 1", 1),
        ("loyalty_points - 1 < 0", "loyalty_points - 1", 2),
        ("loyalty_points * 2 > 0", "loyalty_points * 2", 1),
        ("-loyalty_points > 0", "-loyalty_points", 2),
        ("count(bought) * loyalty_points > 0", "count(bought) * loyalty_points", 1),
        ("sum(bought.quantity within 90d) + 1 > 0", "sum(bought.quantity within 90d)", 1),
    ],
)
def test_integer_results_beyond_int64_are_an_error_naming_the_rule_part(schema, huge, rule, part, contact, engine):
    with pytest.raises(segmint.DataError, match=rf"{re.escape(part)} is -?\d+ for contact {contact}, beyond"):
        segmint.compile(rule, schema).evaluate(huge, now=NOW, engine=engine)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        # the bounds cannot rule an overflow out, so the sums are computed exactly: they fit
        ("sum(bought.quantity brand = Apple) = 4611686018427387904", {2}),
        ("sum(bought.quantity brand = Apple) < 10", {1, 3, 4}),
        ("loyalty_points * 1 = 9223372036854775807", {1}),
        ("loyalty_points + 0 < 0", {2}),
        ("loyalty_points * 0 = 0", {1, 2, 3}),
        ("loyalty_points = -9223372036854775807 - 1", {2}),
        ("sum(bought.amount) = 2", {1}),
    ],
)
def test_integer_results_near_the_ends_of_int64_are_exact(schema, huge, rule, expected, engine):
    assert set(segmint.compile(rule, schema).evaluate(huge, now=NOW, engine=engine).ids().tolist()) == expected


@pytest.mark.filterwarnings("ignore:invalid value encountered")  # numpy's note on the NaN itself
def test_a_nan_in_one_contact_spoils_no_other_contact(schema):
    """Loaders turn NaN into null; a store built by hand can still hold one. The reference seeds its minima and
    maxima with the fold's identity (+-inf), not with the data's extremes, so only that contact's answer is
    undefined."""
    purchases = [
        {"id": c, "ts": NOW - dt.timedelta(days=k), "brand": "Apple", "category": "Books", "amount": a, "quantity": 1}
        for k, (c, a) in enumerate([(1, math.nan), (2, 150.0), (2, 50.0), (3, 90.0)])
    ]
    nan_store = build_store(schema, [{"id": 1}, {"id": 2}, {"id": 3}], {"purchase": purchases})
    for engine in ENGINES:
        assert selected(schema, nan_store, "max(bought.amount) > 100", engine=engine) - {1} == {2}
        assert selected(schema, nan_store, "min(bought.amount) < 60", engine=engine) - {1} == {2}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("count(bought) > 9223372036854775807", set()),  # the compiled count test added 1 to the bound: it wrapped
        ("count(bought) <= 9223372036854775807", {1, 2, 3}),
        ("count(bought) = 9223372036854775807", set()),
        ("count(bought) != 9223372036854775807", {1, 2, 3}),
        ("bought > 9223372036854775807 times within 30d", set()),
        ("count(bought) >= -9223372036854775807 - 1", {1, 2, 3}),
        ("age(birth_date) > 9223372036854775807 or age(birth_date) < -9223372036854775807 - 1", set()),
        ("days_since(last(bought)) < 9223372036854775807", {1}),
    ],
)
def test_integer_bounds_at_the_ends_of_int64(schema, store, rule, expected, engine):
    assert selected(schema, store, rule, engine=engine) == expected


def test_days_since_far_past_times_does_not_wrap(schema):
    """``now - t`` in microseconds leaves int64 for a time in the year -290,000 or a date beyond year 294,000 (an
    int32 day number): days are counted apart from the time into the day, in every engine and in DuckDB."""
    base = build_store(
        schema,
        [{"id": 1}, {"id": 2}],
        {"purchase": [{"id": 1, "ts": NOW, "brand": "Apple", "category": "Books", "amount": 1.0, "quantity": 1}]},
    )
    purchases = base.events["purchase"]
    far = EventTable("purchase", purchases.offsets, np.array([INT64_MIN + 1], np.int64), purchases.properties)
    births = Column(Type.DATE, np.array([-(2**31) + 1, 2**31 - 1], np.int32))
    store = Store(schema, base.ids, {**base.attributes, "birth_date": births}, {**base.events, "purchase": far})
    rules = {
        "days_since(first(bought)) > 106000000": {1},
        "days_since(birth_date) > 0": {1},
        "days_since(birth_date) < 0": {2},
    }
    for rule, expected in rules.items():
        plan = segmint.compile(rule, schema).rule.plan
        duckdb_mask = oracle.mask(oracle.connect(store), plan, bind(plan, NOW, None), len(store))
        assert set(store.ids[duckdb_mask].tolist()) == expected, rule
        for engine in ENGINES:
            assert selected(schema, store, rule, engine=engine) == expected, (rule, engine)
