"""Population-relative measures (issue 13): percentile, quintile, decile and RFM, on ten hand-built contacts, in
every engine; their exact definitions are in runtime/engines/ranks.py and docs/language.md.

Purchases (amount, days ago): 1 none; 2 (100, 10); 3 (50, 300) (50, 200); 4 (10, 1); 5 (100, 5) (200, 50)
(300, 100); 6 (1000, 400); 7 (20, 30) (30, 31); 8 (null, 2); 9 (5, 20); 10 (1, 3) (1, 4) (1, 6) (1, 7).
The worked answers are in the comments of RANKED.
"""

import numpy as np
import oracle
import pytest
import rulegen
from data import NOW, ago
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from storebuilder import build_store

import segmint
from segmint.runtime.bindings import bind
from segmint.runtime.engines import overflow, ranks

ENGINES = ("reference", "vector", "compiled")
PURCHASES = {
    2: [(100, 10)], 3: [(50, 300), (50, 200)], 4: [(10, 1)], 5: [(100, 5), (200, 50), (300, 100)], 6: [(1000, 400)],
    7: [(20, 30), (30, 31)], 8: [(None, 2)], 9: [(5, 20)], 10: [(1, 3), (1, 4), (1, 6), (1, 7)],
}
CITIES = {2: "Kyiv", 3: "Lviv", 5: "Kyiv", 7: "Kyiv"}

# sum(bought.amount within 365d): 1 0, 2 100, 3 100, 4 10, 5 600, 6 0, 7 50, 8 0, 9 5, 10 4: below = 0 0 0 3 4 5 6 7 7 9
# (1 6 8 | 10 | 9 | 4 | 7 | 2 3 | 5): percentile = 10 x below, quintile = 1 + below // 2, decile = 1 + below.
# count(bought within 365d): 0 1 2 1 3 0 2 1 1 4: quintile 1 2 4 2 5 1 4 2 2 5.
# rfm over the 9 buyers (2-10), each letter 1 + 5 x below // 9: R by last purchase (6 oldest ... 4 newest),
# F by count, M by sum (8's null amount: 0): rfm 2 313, 3 133, 4 512, 5 344, 6 115, 7 233, 8 411, 9 212, 10 451.
RANKED = [
    ("percentile(sum(bought.amount within 365d)) >= 90", [5]),
    ("percentile(sum(bought.amount within 365d)) >= 70", [2, 3, 5]),
    ("percentile(sum(bought.amount within 365d)) = 0", [1, 6, 8]),  # ties share the lowest rank
    ("percentile(sum(bought.amount within 365d)) between 30 and 50", [4, 9, 10]),
    ("quintile(sum(bought.amount within 365d)) = 4", [2, 3, 7]),
    ("decile(sum(bought.amount within 365d)) = 8", [2, 3]),
    ("decile(sum(bought.amount within 365d)) = 10", [5]),
    ("quintile(count(bought within 365d)) = 5", [5, 10]),
    ("quintile(count(bought within 365d)) = 2", [2, 4, 8, 9]),
    ("rfm(bought.amount) in (555, 554, 545)", []),
    ("rfm(bought.amount) in (344, 115, 512)", [4, 5, 6]),
    ("rfm(bought.amount) = 451", [10]),
    ("rfm_r(bought.amount) = 1", [3, 6]),
    ("rfm_r(bought.amount) = 5", [4]),
    ("rfm_f(bought.amount) >= 4", [5, 10]),
    ("rfm_m(bought.amount) >= 3", [2, 3, 5, 6, 7]),
    ("rfm(bought.amount) is null", [1]),  # no purchase: outside the population
    ("not rfm_f(bought.amount) = 1", [1, 3, 5, 7, 10]),  # null compares false; not negates that plainly
    # a window: 6's purchase (400 days ago) is out, 8 buyers are left; 3 and 7 bought longest ago: 1 + 5 x 1 // 8 = 1
    ("rfm_r(bought.amount within 365d) = 1", [3, 7]),
    # mixed with ordinary conditions: one evaluation
    ("percentile(sum(bought.amount within 365d)) >= 70 and city = Kyiv", [2, 5]),
    ("city = Kyiv or quintile(count(bought within 365d)) = 5", [2, 5, 7, 10]),
    ("decile(loyalty_points) = 10 or percentile(sum(bought.amount within 365d)) > 95", [7]),
    ("quintile(sum(bought.amount within 365d)) + decile(count(bought within 365d)) > 12", [5]),
    # ranks of ranks, and of times
    ("quintile(percentile(sum(bought.amount within 365d))) = 4", [2, 3, 7]),
    ("decile(last(bought)) = 9", [4]),  # 9 buyers: 4 bought last, 1 + 10 x 8 // 9 = 9 (no one reaches 10)
    # all null: nobody has a rank
    ("percentile(avg(bought.amount within 12h)) >= 0", []),
]


@pytest.fixture(scope="module")
def store(schema):
    contacts = [{"id": i, "city": CITIES.get(i), "loyalty_points": 100 if i == 7 else i} for i in range(1, 11)]
    purchases = [{"id": i, "ts": ago(days), "amount": None if amount is None else float(amount)}
                 for i, rows in PURCHASES.items() for amount, days in rows]
    return build_store(schema, contacts, {"purchase": purchases})


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("rule", "expected"), RANKED)
def test_ranks(schema, store, rule, expected, engine):
    result = segmint.compile(rule, schema).evaluate(store, now=NOW, engine=engine)
    assert sorted(result.ids().tolist()) == expected


def test_the_window_of_rfm_sets_its_population(schema, store):
    # within 365d the buyers are 2-5 and 7-10 (n = 8). 3: R last purchase the oldest (below 0) -> 1; F count 2, below
    # 4 (the four with one) -> 1 + 20 // 8 = 3; M sum 100, below 5 (0 4 5 10 50) -> 1 + 25 // 8 = 4
    values = _values(schema, store, "rfm(bought.amount within 365d)")
    assert values[1 - 1] is None and values[6 - 1] is None
    assert values[3 - 1] == 134


def _values(schema, store, expression):
    from segmint.runtime.engines.reference import Evaluator

    seg = segmint.compile(f"{expression} is null", schema)
    node = seg.rule.plan.operand
    v = Evaluator(store, bind(node, NOW, None, schema)).vec(node, None)
    return [int(d) if ok else None for d, ok in zip(v.data, np.broadcast_to(v.valid, (len(store),)), strict=True)]


@pytest.mark.parametrize(
    ("function", "values", "expected"),
    [
        ("percentile", [3.0, 1.0, 2.0, 2.0], [75.0, 0.0, 25.0, 25.0]),
        ("quintile", [3, 1, 2, 2], [4, 1, 2, 2]),
        ("decile", [5], [1]),  # one contact: the lowest rank
        ("percentile", [7, 7, 7], [0.0, 0.0, 0.0]),  # all tied
        ("quintile", [], []),  # no contacts
    ],
)
def test_rank_definition(function, values, expected):
    data, valid = ranks.rank(function, np.array(values), np.ones(len(values), bool))
    assert data.tolist() == expected and valid.all()


def test_a_null_measure_has_no_rank_and_does_not_count():
    data, valid = ranks.rank("percentile", np.array([10.0, 0.0, 20.0]), np.array([True, False, True]))
    assert valid.tolist() == [True, False, True] and (data[0], data[2]) == (0.0, 50.0)


def test_explain_ranks_among_every_contact(schema, store):
    seg = segmint.compile("percentile(sum(bought.amount within 365d)) >= 90", schema)
    explanation = seg.explain(store, 5, now=NOW)
    assert explanation.value is True and explanation.children[0].value == 90.0


def test_the_kernel_plan_shows_the_ranked_input(schema, store):
    seg = segmint.compile("percentile(sum(bought.amount within 365d)) >= 90 and city = Kyiv", schema)
    text = str(seg.kernel(store).plan)
    assert "percentile(sum(bought.amount within 365d)) [ranked before the kernel from purchase events]" in text


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("percentile(city) > 3", "percentile() ranks numbers, dates or times, not string"),
        ("quintile(bought within 30d) = 5", "quintile() ranks numbers, dates or times, not bool"),
        ("rfm(bought) = 555", "rfm() needs the property that measures the money (M)"),
        ("rfm(bought.brand) = 555", "rfm() sums the property for M: it needs numbers, but bought.brand is string"),
        ("rfm(loyalty_points) = 555", "rfm() takes events and the property of their amount"),
        ("rfm_x(bought.amount) = 5", "unknown function 'rfm_x'"),
    ],
)
def test_bad_population_measures(schema, rule, message):
    with pytest.raises(segmint.RuleError) as info:
        segmint.compile(rule, schema)
    assert info.value.message.startswith(message)



@pytest.mark.parametrize(("rule", "expected"), RANKED)
def test_duckdb_agrees_with_the_table(schema, store, rule, expected):
    plan = segmint.compile(rule, schema).rule.plan
    got = oracle.mask(oracle.connect(store), plan, bind(plan, NOW, None), len(store))
    assert sorted(store.ids[got].tolist()) == expected


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), rule=rulegen.populations())
def test_population_rules_agree_everywhere(schema, data, rule):
    """Reference, vector and DuckDB on random population rules over random stores (ties, nulls, infinities,
    contacts without events); the compiled engine on the table above (kernels compile per shape)."""
    store = data.draw(rulegen.stores(schema))
    segment = segmint.compile(rule, schema)
    plan = segment.rule.plan
    expected = oracle.mask(oracle.connect(store), plan, bind(plan, NOW, None), len(store))
    for engine in ("reference", "vector"):
        got = segment.evaluate(store, now=NOW, engine=engine).mask
        assert (got == expected).all(), f"{segment.text}: {engine} and DuckDB differ"


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("points", "rule", "expected"),
    [
        ([], "percentile(loyalty_points) >= 0", []),  # an empty population
        ([7], "percentile(loyalty_points) = 0 and quintile(loyalty_points) = 1 and decile(loyalty_points) = 1", [1]),
        ([7], "rfm(bought.amount) is null", [1]),  # no buyers: nobody has an RFM code
        ([None, None, None], "quintile(loyalty_points) >= 1", []),  # all null: nobody has a rank
        ([None, None, None], "quintile(loyalty_points) is null", [1, 2, 3]),
        ([None, 5, 5, 9], "percentile(loyalty_points) = 0", [2, 3]),  # n = 3: ties at the bottom
        ([None, 5, 5, 9], "percentile(loyalty_points) > 66.6 and quintile(loyalty_points) = 4", [4]),  # 1 + 10 // 3
    ],
)
def test_edges_of_the_population(schema, engine, points, rule, expected):
    store = build_store(schema, [{"id": i, "loyalty_points": p} for i, p in enumerate(points, start=1)])
    found = segmint.compile(rule, schema).evaluate(store, now=NOW, engine=engine).ids().tolist()
    assert sorted(found) == expected
    plan = segmint.compile(rule, schema).rule.plan
    assert sorted(store.ids[oracle.mask(oracle.connect(store), plan, bind(plan, NOW, None), len(store))]) == expected


@settings(deadline=None, max_examples=12, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), rule=rulegen.populations())
def test_population_rules_compiled_equals_reference(schema, data, rule):
    """The compiled engine ranks before its kernel: the same answers (a rank becomes a column, so the kernels of these
    rules have few shapes and compile once each)."""
    store = data.draw(rulegen.stores(schema))
    segment = segmint.compile(rule, schema)
    expected = segment.evaluate(store, now=NOW, engine="reference").mask
    assert (segment.evaluate(store, now=NOW, engine="compiled").mask == expected).all(), segment.text


@pytest.mark.parametrize(
    ("rule", "bounds"),
    [
        ("quintile(loyalty_points)", (1, 5)),
        ("decile(count(opened))", (1, 10)),
        ("rfm(bought.amount)", (111, 555)),
        ("rfm_m(bought.amount)", (1, 5)),
    ],
)
def test_ranks_are_small_whole_numbers_for_the_overflow_check(schema, store, rule, bounds):
    # so arithmetic on them (rank * 2) runs at full speed in int64, with no exact evaluation to prove it fits
    node = segmint.compile(f"{rule} is null", schema).rule.plan.operand
    assert overflow.value_range(node, store) == bounds
