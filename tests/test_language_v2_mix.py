"""The constructs of language v2 inside one another (sequences, time parts, calendar, regular behaviour, ranks):
every engine and DuckDB agree on a small demo data set. Each construct has its own table tests; this holds them
together where one is written inside another (a time part in a sequence step, a rank of a sequence count, ...)."""

from __future__ import annotations

import oracle
import pytest
from data import NOW

import segmint
from segmint.runtime.bindings import bind
from segmint.runtime.demo import demo_schema, generate

RULES = [
    "viewed hour between 7 and 21 then bought same category within 7d",
    "percentile(count(viewed then bought within 7d)) >= 50",
    "quintile(count(opened hour < 12 within 90d)) = 5 and birthday(birth_date) within next 30d",
    "viewed within 30d then not bought within 1d and bought in at least 1 of the last 6 mo",
    "rfm(bought.amount) in (555, 554) or (opened weekday in (sat, sun) then clicked within 1h)",
    "count(opened then clicked within 1d) >= 2 and not birthday(birth_date) within next 7d",
    "decile(sum(bought.amount weekday = mon)) >= 9",
]


@pytest.fixture(scope="module")
def store():
    data = generate(3000, seed=3)
    return segmint.Store.from_arrow(data.contacts, data.events, demo_schema())


@pytest.mark.parametrize("rule", RULES)
def test_every_engine_and_duckdb_agree(store, rule):
    segment = segmint.compile(rule, demo_schema())
    expected = oracle.mask(oracle.connect(store), segment.rule.plan, bind(segment.rule.plan, NOW, None), len(store))
    assert 0 < expected.sum() < len(store), "a rule that keeps nobody or everybody tests little"
    for engine in ("reference", "vector", "compiled"):
        assert (segment.evaluate(store, now=NOW, engine=engine).mask == expected).all(), engine
