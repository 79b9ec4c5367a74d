"""Every error at once (issue 13): a rule with several mistakes reports all that one pass of the binder finds, each
with its caret and hint; the first is the error raised (the single-error API as before), ``errors`` holds all.

Golden file: tests/golden/every-error.txt (``render_all()`` of each rule). After a deliberate change of wording,
regenerate with SEGMINT_UPDATE_GOLDEN=1 and review the diff."""

import json
import os
from pathlib import Path

import pytest
from data import run, run_json

import segmint

GOLDEN = Path(__file__).parent / "golden" / "every-error.txt"

MANY_MISTAKES = [
    # siblings of and/or: each checked
    "opend within 30d and city = Kyv and sum(bought.brand) > 3",
    "gendr = f or not citty = Kyiv",
    # an event's filters and its window: each checked
    "bought brand=Aple, category=Phnes, colour=red within 30d",
    "viewed colour=red between 2026-02-01 and 2026-01-01",
    # the values of a list
    "city in (Kyv, Lvov, Berlin)",
    "gender in (f, q, z) and device = ios",
    # both sides of arithmetic
    "loyalty_points + citty * agee > 1",
    "sum(bought.colour within 3d) > 1 and sum(bought.amount brand=Aple within 3d) > 1",
]

# (rule, the messages found, in order): an unknown part makes what holds it unknown, without a second error
FOUND = [
    ("opend and citty = Kyiv", ["unknown name 'opend'", "unknown name 'citty'"]),
    ("sum(bought.colour) + gendr > 1", ["event 'bought' has no property 'colour'", "unknown name 'gendr'"]),
    ("citty + 1 > 2", ["unknown name 'citty'"]),  # not also "'+' needs numbers"
    ("bought brand=Aple > 2 times and opened", ["'Aple' is not a value of brand"]),
    ("(opend and citty = x) or gender = q", ["unknown name 'opend'", "unknown name 'citty'", "'q' is not a value"]),
]


def test_all_errors_match_golden_file(schema):
    actual = "".join(f"### {rule}\n{_error(rule, schema).render_all()}\n\n" for rule in MANY_MISTAKES)
    if os.environ.get("SEGMINT_UPDATE_GOLDEN"):
        GOLDEN.write_text(actual, encoding="utf-8")
    assert actual == GOLDEN.read_text(encoding="utf-8")


@pytest.mark.parametrize("rule", MANY_MISTAKES)
def test_the_raised_error_is_the_first_and_holds_all(schema, rule):
    error = _error(rule, schema)
    assert len(error.errors) >= 2 and error.errors[0] is error
    assert str(error).endswith(f"... and {len(error.errors) - 1} more error{'s' if len(error.errors) > 2 else ''}")
    assert str(error).startswith(error.render_one())
    spans = [(e.span.start, e.span.end) for e in error.errors]
    assert len(set(spans)) == len(spans), "each mistake once"


@pytest.mark.parametrize("rule", MANY_MISTAKES)
def test_to_dict_lists_every_error_for_an_editor(schema, rule):
    error = _error(rule, schema)
    document = error.to_dict()
    assert json.loads(json.dumps(document)) == document
    assert [e["message"] for e in document["errors"]] == [e.message for e in error.errors]
    assert {k: v for k, v in document.items() if k != "errors"} == document["errors"][0]
    for item in document["errors"]:
        assert rule[item["start"] : item["end"]], "each points at text to underline"
        assert item["column"] == item["start"] + 1 and item["line"] == 1


@pytest.mark.parametrize(("rule", "messages"), FOUND)
def test_an_unknown_part_spoils_its_whole_not_its_siblings(schema, rule, messages):
    found = [e.message for e in _error(rule, schema).errors]
    assert len(found) == len(messages)
    assert all(m.startswith(want) for m, want in zip(found, messages, strict=True)), found


def test_one_error_is_its_own_list(schema):
    error = _error("opend within 30d", schema)
    assert error.errors == (error,) and "more error" not in str(error)
    assert error.to_dict()["errors"] == [{k: v for k, v in error.to_dict().items() if k != "errors"}]


def test_a_syntax_error_is_one_per_parse(schema):
    error = _error("opend and (citty = Kyiv", schema)
    assert isinstance(error, segmint.RuleSyntaxError) and error.errors == (error,)


def test_errors_in_a_definition_are_all_named(schema):
    broken = schema.with_definitions(loyal="loyalty_poinst > 100 and byught")
    error = _error("loyal", broken)
    assert [(e.rule_name, e.message.split(":")[0]) for e in error.errors] == [
        ("loyal", "unknown name 'loyalty_poinst'"), ("loyal", "unknown name 'byught'")
    ]


def test_check_prints_every_error_and_eval_the_first(capsys, data):
    rule = "opend and citty = Kyiv and gender = q"
    code, out, err = run(capsys, "check", rule)
    assert code == 1 and out == ""
    assert err.count("^") >= 3 and "'opend'" in err and "'citty'" in err and "'q'" in err and "more error" not in err
    code, out, err = run(capsys, "eval", rule, "--data", data)
    assert code == 1 and "'opend'" in err and "'citty'" not in err
    assert "... and 2 more errors (segmint check shows them all)" in err


def test_json_lists_every_error(capsys, data):
    code, doc = run_json(capsys, "check", "opend and citty = Kyiv")
    assert code == 1
    assert [(e["column"], e["suggestions"]) for e in doc["error"]["errors"]] == [(1, ["opened"]), (11, ["city"])]


def _error(rule: str, schema) -> segmint.RuleError:
    with pytest.raises(segmint.RuleError) as info:
        segmint.compile(rule, schema)
    return info.value
