"""``explain`` says when one contact enters or leaves next if no new data arrives (runtime/explain.py
``contact_next_change``): exact, since on one contact membership is constant between its candidate instants."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from data import NOW, ago, live_store, run
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from rulegen import params_for, rules, stores

import segmint
from segmint.compiler.types import iso_z

US = dt.timedelta(microseconds=1)
DAY = dt.timedelta(days=1)
FUTURE_OPEN = dict(id=50, ts=NOW + 2 * DAY, device="ios")  # dated after now: counts from its time


@pytest.fixture
def store(schema):
    """Contacts 10, 20, 30, 40 opened 1, 6, 20 and 8 days before NOW; 50 opens two days after it."""
    from data import LIVE_CONTACTS, LIVE_OPENS

    return live_store(LIVE_CONTACTS, [*LIVE_OPENS, FUTURE_OPEN], schema)


@pytest.mark.parametrize(
    ("rule", "contact", "expected"),
    [
        ("opened within 7d", 10, ("leaves", ago(1) + 7 * DAY)),
        ("opened within 7d", 20, ("leaves", ago(6) + 7 * DAY)),
        ("opened within 7d", 30, None),  # out, and nothing can bring it back without new data
        ("opened within 7d", 50, ("enters", NOW + 2 * DAY)),
        ("not opened within 7d", 10, ("enters", ago(1) + 7 * DAY)),
        ("not opened within 7d", 40, None),
        ("opened within 7d and city = Kyiv", 20, None),  # Lviv: the window does not matter
        ("opened within 30d and not opened within 3d", 10, ("enters", ago(1) + 3 * DAY)),
        ("opened before 10d ago", 40, ("enters", ago(8) + 10 * DAY)),
        ("city = Kyiv", 10, None),
        # ranks among everyone: 10's percentile goes from 60 to 80 when 20's open leaves the window
        ("percentile(count(opened within 7d)) >= 70", 10, ("enters", ago(6) + 7 * DAY)),
    ],
)
def test_when_a_contact_enters_or_leaves(schema, store, rule, contact, expected):
    explanation = segmint.compile(rule, schema).explain(store, contact, now=NOW)
    found = explanation.next_change
    if expected is None:
        assert found is None
        assert str(explanation).endswith(f"stays {'in' if explanation.value else 'out'} unless new data arrives")
        assert explanation.to_dict()["next_change"] is None
        return
    change, at = expected
    assert (found.to_dict(), found.certain) == ({"at": iso_z(at), "change": change, "certain": True}, True)
    assert explanation.value is (change == "leaves")
    assert str(explanation).endswith(f"{change} on {iso_z(at)} unless new data arrives")


def test_parts_of_the_rule_carry_no_next_change(schema, store):
    document = segmint.compile("opened within 7d and city = Kyiv", schema).explain(store, 10, now=NOW).to_dict()
    assert document["next_change"]["change"] == "leaves"
    assert all("next_change" not in child for child in document["children"])


def test_a_budget_that_runs_out_is_never_late(schema, store):
    """With no evaluation allowed, the first candidate comes back, marked not certain."""
    from segmint.runtime.explain import contact_next_change

    segment = segmint.compile("opened within 30d", schema)  # 10 stays in past its first candidate (its open + 0)
    found = contact_next_change(segment.rule.plan, store, store.row_of(10), NOW, None, {}, checks=0)
    assert not found.certain and found.at == iso_z(ago(1) + 30 * DAY)
    assert "in at least until" in found.sentence()


def test_explain_from_the_shell_says_when(capsys, data):
    """test_cli's data: contact 1 opened 1, 2 and 3 days before NOW."""
    now = "2026-11-01T00:00:00Z"
    code, out, _ = run(capsys, "eval", "opened within 7d", "--data", data, "--now", now, "--explain", "1",
                       "--engine", "reference")
    assert code == 0 and out.rstrip().endswith("leaves on 2026-11-07T00:00:00Z unless new data arrives")
    code, out, _ = run(capsys, "eval", "opened within 7d", "--data", data, "--now", now, "--explain", "1", "--json")
    assert json.loads(out)["explain"]["next_change"] == {"at": "2026-11-07T00:00:00Z", "change": "leaves",
                                                          "certain": True}


@settings(deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(data=st.data(), rule=rules(max_leaves=3))
def test_the_contacts_change_is_exact(schema, data, rule):
    """The contact's membership is its membership at now just before the returned time, and differs at it."""
    segment = segmint.compile(rule, schema)
    store = data.draw(stores(schema))
    assume(len(store) > 0)
    params = params_for(segment)
    row = data.draw(st.integers(0, len(store) - 1))
    contact = store.ids[row]

    def member(at):
        return bool(segment.evaluate(store, now=at, params=params, engine="reference").mask[row])

    try:
        explanation = segment.explain(store, contact, now=NOW, params=params)
    except segmint.DataError:
        assume(False)
    except segmint.ParamError:  # explain binds the rule as written: a parameter the plan folded away is asked for
        assume(False)
    found = explanation.next_change
    event("never" if found is None else "certain" if found.certain else "budget")
    assert explanation.value is member(NOW)
    if found is None:
        for days in (1, 30, 400):
            assert member(NOW + days * DAY) is explanation.value
        return
    at = dt.datetime.fromisoformat(found.at)
    assert at > NOW
    assert member(at - US) is explanation.value
    if found.certain:
        assert member(at) is found.enters is (not explanation.value)
