"""The grammar itself: conflict-free, its keywords known to the schema, positions on every node."""

from importlib.resources import files

import lark.lexer
import pytest
from lark import Lark
from lark.exceptions import LexError

import segmint
from segmint.dsl import syntax as s
from segmint.dsl.lexicon import KEYWORDS
from segmint.dsl.parser import grammar, parse

GRAMMAR = files("segmint.grammar").joinpath("segmint.lark").read_text()


def test_grammar_is_lalr_without_collisions():
    # strict=True turns shift/reduce conflicts and terminal collisions into errors
    Lark(GRAMMAR, parser="lalr", strict=True, maybe_placeholders=True)


def test_the_parser_is_built_without_the_collision_check_and_lark_keeps_it():
    """The runtime build skips the check the test above runs (a fresh process's first rule would pay for it), and
    switches it off for that build only."""
    assert grammar.__wrapped__().parse("opened within 30d")
    assert lark.lexer.has_interegular
    with pytest.raises(LexError, match="Collision between Terminals"):
        Lark('start: A | B\nA: /a+/\nB: /ab?/', parser="lalr", strict=True)


@pytest.mark.parametrize("keyword", sorted(KEYWORDS))
def test_keywords_are_reserved(keyword):
    """The keywords, read from the grammar, can name nothing in a schema, and a value spelt like one is quoted."""
    with pytest.raises(segmint.SchemaError, match="keyword"):
        segmint.Schema.from_dict({"contacts": {"attributes": {keyword: "string"}}})
    schema = segmint.Schema.from_dict({"contacts": {"attributes": {"city": "string"}}})
    assert segmint.compile(f'city = "{keyword}"', schema).text == f'city = "{keyword}"'


def test_the_keywords_are_read_from_the_grammar():
    assert {"and", "or", "not", "within", "between", "times", "contains"} <= KEYWORDS


def test_precedence_not_and_or():
    tree = parse("not a or b and c")
    assert isinstance(tree, s.Or)
    assert isinstance(tree.items[0], s.Not) and isinstance(tree.items[1], s.And)


def test_arithmetic_precedence_and_associativity():
    tree = parse("a - b - c * d > 0").subject
    assert tree.op == "-" and tree.left.op == "-" and tree.right.op == "*"


def test_spans_point_at_the_text():
    text = "opened > 2 within 90d and\n  bought brand = Apple"
    tree = parse(text)
    bought = tree.items[1]
    assert (bought.span.line, bought.span.column) == (2, 3)
    assert text[bought.span.start : bought.span.end] == "bought brand = Apple"
    window = tree.items[0].window
    assert text[window.span.start : window.span.end] == "within 90d"


def test_literals():
    values = parse('x in (1, 2.5, -3, "a\\"b", Apple, 2026-01-31, 2026-01-31T10:00:00Z, $p, true)').test.values
    assert [(v.kind, v.value) for v in values] == [
        ("number", 1), ("number", 2.5), ("number", -3), ("string", 'a"b'), ("word", "Apple"),
        ("date", "2026-01-31"), ("timestamp", "2026-01-31T10:00:00Z"), ("param", "p"), ("bool", True),
    ]


def test_unicode_words_and_comments():
    tree = parse("city = Київ  # the capital\n")
    assert tree.test.right.name == "Київ"


def test_keywords_as_prefixes_of_names():
    tree = parse("android and notes or inbox")
    assert [i.name for i in tree.items[0].items] == ["android", "notes"]
    assert tree.items[1].name == "inbox"


def test_redundant_parentheses_do_not_nest():
    assert parse("(" * 5_000 + "opened" + ")" * 5_000) == s.Subject("opened")


def test_a_surrogate_pair_escape_is_the_character_it_encodes():
    assert parse('email = "\\ud83d\\ude00"').test.right.value == "\U0001f600"


def test_unknown_escapes_stay_as_written_without_a_warning(recwarn):
    assert parse('email contains "\\d+"').test.value.value == "\\d+"
    assert not recwarn.list


def test_numbers_keep_their_kind_and_value():
    tree = parse("x in (007, 1e-400, 0.5e1, 9223372036854775807, -9223372036854775808)")
    values = [v.value for v in tree.test.values]
    assert values == [7, 0.0, 5.0, 2**63 - 1, -(2**63)]
    assert [type(v) for v in values] == [int, float, float, int, int]
