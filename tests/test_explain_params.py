"""``Segment.explain`` takes exactly the parameters ``evaluate`` takes (``Segment.params``: those of the rule as it
is evaluated). A parameter the optimiser removed from the plan (the answer does not depend on it) is neither asked
for nor accepted by either; the parts of the rule as written that read it are shown as not needed."""

import pytest
from data import CONTACTS, EVENTS, NOW
from storebuilder import build_store

import segmint


@pytest.fixture(scope="module")
def store(schema):
    return build_store(schema, CONTACTS, EVENTS)


FOLDED = [
    # rule, parameters evaluate takes (the plan's), parameters of the rule as written it does not take
    ("opened > $n within 7d and false", {}, {"n": 1}),
    ("(sum(bought.amount) > $low and false) or opened within 30d", {}, {"low": 10}),
    ("opened > $n within 30d or (city = $city and false)", {"n": 1}, {"city": "Kyiv"}),
]


@pytest.mark.parametrize(("rule", "taken", "folded"), FOLDED)
def test_explain_takes_what_evaluate_takes(schema, store, rule, taken, folded):
    segment = segmint.compile(rule, schema)
    assert set(segment.params) == set(taken)
    member = segment.evaluate(store, now=NOW, params=taken, engine="reference").mask
    for row, contact in enumerate(store.ids.tolist()):
        explanation = segment.explain(store, contact, now=NOW, params=taken)
        assert explanation.value is bool(member[row]) and explanation.needed
    contact = int(store.ids[0])
    for call in (lambda p: segment.evaluate(store, now=NOW, params=p),
                 lambda p: segment.explain(store, contact, now=NOW, params=p)):
        with pytest.raises(segmint.ParamError, match="unknown parameter"):
            call({**taken, **folded})


def test_the_parts_that_read_a_folded_parameter_are_not_needed(schema, store):
    segment = segmint.compile("opened > $n within 30d or (city = $city and false)", schema)
    explanation = segment.explain(store, int(store.ids[0]), now=NOW, params={"n": 0})
    opened, folded = explanation.children
    assert opened.needed and isinstance(opened.value, bool)
    assert (folded.needed, folded.value) == (False, None)
    city, false = folded.children
    assert (city.needed, false.needed, false.value) == (False, True, False)
    assert explanation.to_dict()["children"][1]["needed"] is False
    assert "-  city = $city" in str(explanation)


def test_a_missing_parameter_is_the_same_error_for_both(schema, store):
    segment = segmint.compile("opened > $n within 30d or (city = $city and false)", schema)
    for call in (lambda: segment.evaluate(store, now=NOW), lambda: segment.explain(store, int(store.ids[0]), now=NOW)):
        with pytest.raises(segmint.ParamError, match=r"missing parameter\(s\): \$n; this rule takes \$n"):
            call()
