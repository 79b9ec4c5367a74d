"""Properties over random rules and random stores (tests/rulegen.py):

- the canonical text is a fixed point and means the same rule (format/parse round trip);
- the JSON rule document means the same rule;
- the compiled evaluator selects exactly the contacts the reference evaluator selects, on stores with values at the
  ends of the number types, or refuses the rule with the same DataError (an integer result beyond int64).
"""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rulegen import DAY, MICRO, NOW, params_for, rules, stores

import segmint

SLOW = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SLOW
@given(rule=rules())
def test_canonical_text_round_trips(schema, rule):
    segment = segmint.compile(rule, schema)
    again = segmint.compile(segment.text, schema)
    assert again.ir == segment.ir
    assert again.text == segment.text
    assert segmint.format(segment.text, schema) == segment.text


@SLOW
@given(rule=rules())
def test_json_document_round_trips(schema, rule):
    segment = segmint.compile(rule, schema)
    document = json.loads(json.dumps(segment.to_json()))
    again = segmint.compile(document, schema)
    assert again.ir == segment.ir and again.text == segment.text


def outcome(segment, store, now, params, engine):
    """The mask an engine gives, or the message of the DataError it raises instead."""
    try:
        return segment.evaluate(store, now=now, params=params, engine=engine).mask
    except segmint.DataError as error:
        return str(error)


def agrees_with_reference(engine: str, schema, data, rule: str) -> None:
    """``engine`` and the reference select the same contacts for ``rule`` on a random store, at a random now, or
    both refuse it with the same error."""
    store = data.draw(stores(schema, edges=True))
    segment = segmint.compile(rule, schema)
    now = data.draw(st.sampled_from([NOW, NOW - 7 * DAY, NOW + MICRO * DAY]))
    params = params_for(segment)
    got = outcome(segment, store, now, params, engine)
    reference = outcome(segment, store, now, params, "reference")
    if isinstance(reference, str) or isinstance(got, str):
        assert got == reference, f"{segment.text} at {now}: {engine} gives {got!r}, the reference {reference!r}"
        return
    differ = [store.ids[i] for i in range(len(store)) if got[i] != reference[i]]
    assert not differ, f"{segment.text} at {now}: {engine} and reference differ for contacts {differ}"


@settings(SLOW, max_examples=60)  # each new rule shape compiles a kernel (~0.3-1 s)
@given(data=st.data(), rule=rules(max_leaves=4))
def test_compiled_equals_reference(schema, data, rule):
    agrees_with_reference("compiled", schema, data, rule)


@settings(SLOW, max_examples=300)  # the vector engine compiles nothing per rule: many examples are cheap
@given(data=st.data(), rule=rules())
def test_vector_equals_reference(schema, data, rule):
    agrees_with_reference("vector", schema, data, rule)


@settings(SLOW, max_examples=20)  # each batch compiles one kernel for its three segments (~1-2 s)
@given(data=st.data(), a=rules(max_leaves=3), b=rules(max_leaves=3))
def test_batch_equals_reference(schema, data, a, b):
    """``evaluate_many`` (one kernel for all, sharing event passes and scans) gives each segment the reference's
    answer; the third segment repeats the first two's conditions, so the batch shares work between segments."""
    store = data.draw(stores(schema))
    segments = [segmint.compile(rule, schema) for rule in (a, b, f"({a}) or not ({b})")]
    now = data.draw(st.sampled_from([NOW, NOW - 7 * DAY]))
    params = {name: value for s in segments for name, value in params_for(s).items()}
    results = segmint.evaluate_many(segments, store, now=now, params=params, engine="compiled")
    for segment, result in zip(segments, results, strict=True):
        reference = segment.evaluate(store, now=now, params=params_for(segment), engine="reference")
        assert (result.mask == reference.mask).all(), f"{segment.text}: batch and reference differ"


@settings(SLOW, max_examples=100)
@given(data=st.data(), rule=rules())
def test_explain_agrees_with_evaluation(schema, data, rule):
    """``explain`` evaluates one contact on its own (a one-row slice of the store): its verdict for every contact is
    the segment's, and so is every sub-condition's."""
    store = data.draw(stores(schema))
    segment = segmint.compile(rule, schema)
    params = params_for(segment)
    result = segment.evaluate(store, now=NOW, params=params, engine="reference")
    # explain takes exactly the parameters evaluation takes (a part the plan folded away, `$x ... and false`, is
    # shown as not needed: tests/test_explain_params.py)
    for row, contact in enumerate(store.ids):
        explanation = segment.explain(store, contact, now=NOW, params=params)
        assert explanation.value == bool(result.mask[row]), f"{segment.text}: explain differs for contact {contact}"
