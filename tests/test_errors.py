"""Error messages are part of the interface: each bad rule below must produce exactly the message in
tests/golden/errors.txt. After a deliberate change of wording, regenerate with SEGMINT_UPDATE_GOLDEN=1 and review
the diff like any other change."""

import datetime as dt
import json
import os
import sys
from pathlib import Path

import pytest
from storebuilder import build_store

import segmint
from segmint.dsl.errors import printable
from segmint.dsl.limits import MAX_DEPTH
from segmint.dsl.parser import parse

GOLDEN = Path(__file__).parent / "golden" / "errors.txt"
NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def small_store(schema):
    """Three contacts: 1 opened, clicked and bought lately; 2 opened long ago; 3 nothing."""
    contacts = [{"id": 1, "loyalty_points": 5}, {"id": 2, "loyalty_points": -1}, {"id": 3}]
    events = {
        "email_open": [{"id": 1, "ts": NOW - 2 * DAY, "device": "ios"}, {"id": 2, "ts": NOW - 400 * DAY}],
        "email_click": [{"id": 1, "ts": NOW - DAY, "url": "x"}],
        "product_view": [{"id": 2, "ts": NOW - 3 * DAY, "category": "Vinyl"}],
        "purchase": [{"id": 1, "ts": NOW - 5 * DAY, "amount": 10.0, "brand": "Apple", "category": "Vinyl"}],
    }
    return build_store(schema, contacts, events)


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
    # values out of range, and text that cannot be shown or stored
    "loyalty_points > 9223372036854775808",
    "loyalty_points < -9223372036854775809",
    "loyalty_points > 123456789012345678901234567890",
    "loyalty_points > 9223372036854775807 + 1",
    "opened > 99999999999999999999 times",
    "opened within 99999999999999999999d",
    "loyalty_points > 1e400",
    'email = "\\ud800"',
    'email = "\ud800"',
    "email = \udcff",
    # control characters, bidirectional marks and wide characters in the excerpt: escaped, carets under their text
    "city = Kyiv and \x1b[31mopnd",
    'city = "\x1b[2J" and opnd',
    "opened and \u202eopnd",
    'email = "Київ"\tand email = "日本語" and opnd',
    "opened and\x0bopnd",
    "a" * 200 + " and opnd and " + "b" * 200,
    # text tests of a constant (found by the fuzz suite: every engine raised)
    '"a" contains opened',
    '"a" in (a, b)',
    '"a" = $p',
    # nesting beyond the limit: the caret is on the first level too many
    "not " * 200 + "opened",
    "(opened and " * 150 + "clicked" + ")" * 150,
    "loyalty_points" + " + 1" * 150 + " > 0",
    # sequences
    "age(birth_date) > 3 then bought",
    "viewed then bought same amount within 7d",
    "viewed then not bought",
    "viewed then city = Kyiv",
    # a text test takes text (a number reached the engines as a pattern)
    "email endswith -1",
    "clicked url contains 5",
]


def render(rule: str, schema) -> str:
    try:
        segmint.compile(rule, schema)
    except segmint.RuleError as error:
        return str(error)
    raise AssertionError(f"no error for {rule!r}")


def test_error_messages_match_golden_file(schema):
    actual = "".join(f"### {printable(rule)}\n{render(rule, schema)}\n\n" for rule in BAD_RULES)
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
    document = error.to_dict()
    assert json.loads(json.dumps(document)) == document  # JSON-ready, as tools read it
    assert document["error"] == type(error).__name__ and printable(document["message"]) in str(error)
    assert (document["line"], document["column"]) == (error.line, error.column)
    if document["start"] is not None and "\n" not in rule:  # the span starts where line and column point
        assert document["start"] == document["column"] - 1 <= document["end"] <= len(rule) + 1  # + 1: end of input


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


def test_rendered_errors_print_anywhere(schema):
    """Whatever the rule holds, its message is printable text that any terminal or UTF-8 file takes."""
    for rule in BAD_RULES:
        text = render(rule, schema)
        assert all(line.isprintable() for line in text.split("\n")), rule
        text.encode("utf-8")


def test_carets_stay_under_their_text_after_escapes(schema):
    with pytest.raises(segmint.RuleError) as info:
        segmint.compile('email = "\x1b[1mKyiv\x1b[0m" and opnd', schema)
    excerpt, carets = str(info.value).split("\n")[1:3]
    assert excerpt[carets.index("^") :].startswith("opnd") and carets.strip() == "^^^^"


# -- nesting: refused beyond MAX_DEPTH, and every stage works at it ----------------------------------------------
NESTINGS = {
    "not": lambda d: "not " * d + "opened within 30d",
    "and": lambda d: "(opened and " * d + "clicked" + ")" * d,
    "and/or": lambda d: "".join("(opened and " if i % 2 else "(clicked or " for i in range(d)) + "viewed" + ")" * d,
    "not/and": lambda d: "not (opened within 30d and " * d + "clicked" + ")" * d,
    "plus": lambda d: "loyalty_points" + " + 1" * d + " > 0",
    "minus": lambda d: "-" * d + "loyalty_points > 0",
    "product": lambda d: "sum(bought.amount within 30d)" + " * count(opened)" * d + " > 0",
}


def deepest_accepted(make) -> int:
    """The largest nesting ``make(d)`` the parser accepts (d counts repetitions, several levels each for some)."""
    accepted, refused = 1, 4 * MAX_DEPTH
    while accepted + 1 < refused:
        middle = (accepted + refused) // 2
        try:
            parse(make(middle))
            accepted = middle
        except segmint.RuleSyntaxError as error:
            assert "nests too deeply" in error.message
            refused = middle
    return accepted


def with_stack_in_use(frames: int, work):
    """Run ``work`` with ``frames`` more Python frames on the stack, as when called deep inside an application."""
    return work() if frames == 0 else with_stack_in_use(frames - 1, work)


@pytest.mark.parametrize("shape", NESTINGS)
def test_nesting_is_refused_beyond_the_limit_with_a_caret(schema, shape):
    make = NESTINGS[shape]
    depth = deepest_accepted(make)
    assert depth >= MAX_DEPTH // 3  # every shape nests to a useful depth
    with pytest.raises(segmint.RuleSyntaxError, match=f"more than {MAX_DEPTH} levels") as info:
        segmint.compile(make(depth + 1), schema)
    assert info.value.span is not None and info.value.line == 1


@pytest.mark.parametrize("shape", NESTINGS)
def test_every_stage_works_at_the_nesting_limit(schema, small_store, shape):
    """At the deepest nesting accepted, with a third of the interpreter's stack already in use: compile, canonical
    text, JSON document, explain and the reference and vector engines (the compiled engine: next test)."""
    rule = NESTINGS[shape](deepest_accepted(NESTINGS[shape]))

    def every_stage():
        segment = segmint.compile(rule, schema)
        assert segmint.compile(segment.text, schema).ir == segment.ir
        assert segmint.compile(segment.to_json(), schema).ir == segment.ir
        segment.explain(small_store, 1, now=NOW)
        answers = {e: segment.evaluate(small_store, now=NOW, engine=e).mask for e in ("reference", "vector")}
        assert (answers["reference"] == answers["vector"]).all()

    with_stack_in_use(sys.getrecursionlimit() // 3, every_stage)


@pytest.mark.parametrize("shape", ["not/and", "minus"])  # each compiles a kernel (seconds); the others as above
def test_compiled_engine_works_at_the_nesting_limit(schema, small_store, shape):
    rule = NESTINGS[shape](deepest_accepted(NESTINGS[shape]))
    segment = segmint.compile(rule, schema)
    compiled = with_stack_in_use(
        sys.getrecursionlimit() // 3, lambda: segment.evaluate(small_store, now=NOW, engine="compiled")
    )
    assert (compiled.mask == segment.evaluate(small_store, now=NOW, engine="reference").mask).all()


def test_definitions_nesting_through_each_other(schema):
    """A chain of definitions is bound without recursion; written out, it is held to the same limit, naming the
    definition that passes it; a long cycle is named without recursing along it."""
    chain = {"d0": "opened"} | {f"d{i}": f"not (clicked and d{i - 1})" for i in range(1, 300)}
    with pytest.raises(segmint.RuleError, match="too deeply nested once definitions are written out") as info:
        segmint.compile("opened", schema.with_definitions(**chain))
    assert info.value.rule_name is not None
    shallow = {k: v for k, v in chain.items() if int(k[1:]) < 10}
    segment = segmint.compile("d9 and opened", schema.with_definitions(**shallow))
    assert "d9" in segment.text
    with pytest.raises(segmint.RuleError, match="too deeply nested") as info:
        segmint.compile("(opened and not " * 40 + "d9" + ")" * 40, schema.with_definitions(**shallow))
    assert info.value.source is not None and info.value.span is not None
    with pytest.raises(segmint.RuleError, match="a definition is rule text, not int"):
        segmint.compile("opened", schema.with_definitions(x=5))
    cycle = {f"c{i}": f"c{(i + 1) % 500} and opened" for i in range(500)}
    with pytest.raises(segmint.RuleError, match="cycle: c0 -> c1 -> c2"):
        segmint.compile("opened", schema.with_definitions(**cycle))


@pytest.mark.parametrize(
    "rule", ["sum(bought.amount since 0001-01-01T00:00:00+14:00) > 0", "created_at > 0001-01-01T00:00:00+14:00"]
)
def test_a_timestamp_before_year_one_in_utc_is_a_rule_error(schema, rule):
    with pytest.raises(segmint.RuleError, match="before year 1 in UTC"):
        segmint.compile(rule, schema)


@pytest.mark.parametrize(
    "make",
    [
        lambda: segmint.Schema.from_dict({"contacts": {"attributes": {}}, "events": {"\x1f": None}}),
        lambda: segmint.Schema.from_dict({"contacts": {"attributes": {"\ud800": "int"}}}),
        lambda: segmint.Schema.from_dict({"contacts": {"attributes": {"a\x00b": "int"}}}),
        lambda: (_ for _ in ()).throw(segmint.DataError("ids appear twice, e.g. \x1b[2J", source="f\u202e.parquet")),
    ],
)
def test_every_error_message_is_terminal_safe(make):
    """Names and values from schemas and data are quoted in messages: what does not print is escaped."""
    with pytest.raises(segmint.SegmintError) as error:
        make()
    text = str(error.value)
    assert text.isprintable() and text.encode("utf-8")
