"""Error messages are part of the interface: each bad rule below must produce exactly the message in
tests/golden/errors.txt. After a deliberate change of wording, regenerate with SEGMINT_UPDATE_GOLDEN=1 and review
the diff like any other change."""

import os
from pathlib import Path

import pytest

import segmint

GOLDEN = Path(__file__).parent / "golden" / "errors.txt"

BAD_RULES = [
    # names: did you mean, and what the name is instead
    "opend within 30d",
    "bought brand=Aple",
    "opened device=iso",
    "viewed colour=red",
    "email_open within 30d",
    "brand = Apple",
    "age > 30",
    "avrg(bought.amount) > 1",
    # types: which types met
    "sum(bought.brand) > 3",
    "tags = vinyl",
    'loyalty_points > "many"',
    "count(opened) + gender > 1",
    "loyalty_points",
    "loyalty_points within 30d",
    # shapes that the grammar accepts but the meaning does not
    "gender = f city = Kyiv",
    "bought.amount > 100",
    "opened contains ios",
    "sum(bought within 30d) > 3",
    "count(bought.amount) > 1",
    "gender = f times",
    "opened between 2026-02-01 and 2026-01-01",
    "birth_date = 2026-02-30",
    # syntax
    "opened > 2 within 30 days",
    "opened within 90m",
    "city in (Kyiv, Lviv",
    "opened and",
    "opened within 90d and city = 'Kyiv'",
    "opened && clicked",
    "opened times",
    "a b",
    "",
    "city = in",
    '"unterminated',
]


def render(rule: str, schema) -> str:
    try:
        segmint.compile(rule, schema)
    except segmint.RuleError as error:
        return str(error)
    raise AssertionError(f"no error for {rule!r}")


def test_error_messages_match_golden_file(schema):
    actual = "".join(f"### {rule}\n{render(rule, schema)}\n\n" for rule in BAD_RULES)
    if os.environ.get("SEGMINT_UPDATE_GOLDEN"):
        GOLDEN.write_text(actual, encoding="utf-8")
    assert actual == GOLDEN.read_text(encoding="utf-8")


@pytest.mark.parametrize("rule", BAD_RULES)
def test_every_error_points_into_the_rule(schema, rule):
    with pytest.raises(segmint.RuleError) as info:
        segmint.compile(rule, schema)
    error = info.value
    if rule:
        assert error.line == 1 and 1 <= error.column <= len(rule) + 1
    assert error.to_dict()["message"] == error.message


def test_error_in_definition_names_it(schema):
    broken = schema.with_definitions(loyal="loyalty_points > 100 and byught")
    with pytest.raises(segmint.RuleNameError) as info:
        segmint.compile("loyal", broken)
    assert info.value.rule_name == "loyal"
    assert str(info.value).startswith("in definition 'loyal', line 1, column 26: unknown name 'byught'")


def test_definition_cycle_is_named(schema):
    cyclic = schema.with_definitions(a="b and opened", b="clicked or c", c="a")
    with pytest.raises(segmint.RuleError, match="cycle: a -> b -> c -> a"):
        segmint.compile("opened", cyclic)


def test_name_used_twice_is_a_schema_error(schema):
    with pytest.raises(segmint.SchemaError, match="'opened' is both"):
        schema.with_definitions(opened="clicked")
    with pytest.raises(segmint.SchemaError, match="keyword"):
        segmint.Schema.from_dict({"contacts": {"attributes": {"within": "int"}}})
