"""Rule text -> syntax tree (``dsl/syntax.py``), with positions; Lark's errors become ``RuleSyntaxError``."""

from __future__ import annotations

import contextlib
import functools
import math
import re
import threading
import unicodedata
from collections.abc import Iterator

import lark.lexer
from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from . import syntax as s
from .errors import RuleSyntaxError, Span
from .lexicon import KEYWORDS
from .limits import INT64_MAX, INT64_MIN, INT_DIGITS, MAX_DEPTH


@functools.cache
def grammar() -> Lark:
    with _without_collision_check():
        return Lark.open_from_package(
            "segmint.grammar", "segmint.lark", parser="lalr", propagate_positions=True, maybe_placeholders=True
        )


_collision_switch = threading.Lock()


@contextlib.contextmanager
def _without_collision_check() -> Iterator[None]:
    """Lark checks every pair of terminals for a collision when ``interegular`` is installed (the test extra installs
    it), its own grammar's as well as ours: ~0.1-0.3 s of a fresh process's first rule, 0.04 s left without it. Outside
    strict mode a collision is only logged, never changes the parser, and tests/test_grammar.py builds the grammar in
    strict mode, where one fails. Lark has no option for it, so its switch is turned off for this build only."""
    with _collision_switch:
        checks = lark.lexer.has_interegular
        lark.lexer.has_interegular = False
        try:
            yield
        finally:
            lark.lexer.has_interegular = checks


def parse(text: str) -> s.Node:
    """Parse one rule. Raises ``RuleSyntaxError`` pointing at the first place the text stops making sense."""
    if not isinstance(text, str):
        raise TypeError(f"a rule is text, not {type(text).__name__}")
    if not text.strip():
        raise RuleSyntaxError("the rule is empty", source=text, hint="write a condition, e.g. opened within 30d")
    _check_characters(text)
    try:
        tree = grammar().parse(text)
    except UnexpectedInput as error:
        raise _syntax_error(text, error) from None
    _check_depth(tree, text)
    try:
        return _ToSyntax(text).transform(tree)
    except VisitError as error:  # Lark wraps what the tree builder raises (bad literals)
        if isinstance(error.orig_exc, RuleSyntaxError):
            raise error.orig_exc from None
        raise


def _check_characters(text: str) -> None:
    """Refuse lone surrogates: they are not characters, cannot be printed or stored, and are what undecodable bytes
    become when text is read with ``surrogateescape`` (command-line arguments, stdin)."""
    match = _SURROGATE.search(text)
    if match is None:
        return
    char = match.group()
    if "\udc80" <= char <= "\udcff":
        message = f"byte 0x{ord(char) - 0xDC00:02x} is not valid UTF-8: the rule must be UTF-8 text"
    else:
        message = f"{char!r} is a lone surrogate, not a character"
    raise RuleSyntaxError(message, source=text, span=_span_at(text, match.start(), match.end()))


_SURROGATE = re.compile("[\ud800-\udfff]")
_WORD_AT = re.compile(r"\w+|\S")  # what a caret underlines: the word (or sign) that starts there


def _check_depth(tree: Tree, text: str) -> None:
    """Every later stage walks the rule recursively: refuse, at the first level too many, a rule nested deeper than
    ``MAX_DEPTH`` (measured without recursion, so any depth can be measured)."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            start = node.meta.start_pos
            word = _WORD_AT.match(text, start)
            raise RuleSyntaxError(
                f"the rule nests too deeply (more than {MAX_DEPTH} levels)",
                source=text,
                span=_span_at(text, start, word.end() if word else start + 1),
                hint="each not, parenthesised and/or inside another, arithmetic operator and function call is a "
                "level; a and b and c needs no parentheses",
            )
        # children reversed: the first level too many reported is the leftmost in the text
        stack.extend((child, depth + 1) for child in reversed(node.children) if isinstance(child, Tree))


def _span_at(text: str, start: int, end: int) -> Span:
    line_start = text.rfind("\n", 0, start) + 1
    return Span(start, end, text.count("\n", 0, start) + 1, start - line_start + 1)


# -- the tree builder ----------------------------------------------------------------------------------------
def _span_of(meta_or_token) -> Span:
    return Span(meta_or_token.start_pos, meta_or_token.end_pos, meta_or_token.line, meta_or_token.column)


@v_args(meta=True)
class _ToSyntax(Transformer):
    """Lark tree -> syntax nodes. Only shapes are decided here; meanings are the binder's."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    # boolean structure
    def or_(self, meta, items):
        return s.Or(tuple(items), _span_of(meta))

    def and_(self, meta, items):
        return s.And(tuple(items), _span_of(meta))

    def not_(self, meta, items):
        return s.Not(items[0], _span_of(meta))

    # sequences
    def sequence(self, meta, items):
        return s.Sequence(items[0], tuple(items[1:]), _span_of(meta))

    def step(self, meta, items, negated=False):
        subject, same, within = items
        return s.Step(subject, negated, same.value if same else None, self._bound(within) if within else None,
                      _span_of(meta))

    def not_step(self, meta, items):
        return self.step(meta, items, negated=True)

    def condition(self, meta, items):
        subject, test, times, window = items
        return s.Condition(subject, test, window, _span_of(times) if times else None, _span_of(meta))

    def windowed(self, meta, items):
        subject, window = items
        return s.Condition(subject, None, window, None, _span_of(meta))

    # regular behaviour
    def regular(self, meta, items):
        subject, regularity, window = items
        return s.Regular(subject, regularity, window, _span_of(meta))

    def in_each(self, meta, items):
        amount, unit = items[0]
        return s.Regularity(amount, unit, None, _span_of(meta))

    def in_at_least(self, meta, items):
        least, (amount, unit) = items
        return s.Regularity(amount, unit, self.number(least, [least]), _span_of(meta))

    def period(self, meta, items):
        """``3 mo`` or ``3mo``: the amount (a number literal) and the unit as written."""
        if len(items) == 1:
            digits = items[0].value.rstrip("abcdefghijklmnopqrstuvwxyz")
            return s.Lit("number", self._check_whole(digits, _span_of(items[0])), _span_of(items[0])), items[0].value[
                len(digits) :]
        return self.number(items[0], [items[0]]), items[1].value

    # tests
    def compare(self, meta, items):
        op, right = items
        return s.Compare({"==": "=", "<>": "!="}.get(op.value, op.value), right, _span_of(meta))

    def between(self, meta, items):
        return s.Between(items[0], items[1], _span_of(meta))

    def in_(self, meta, items):
        return s.InList(items[0], False, _span_of(meta))

    def not_in(self, meta, items):
        return s.InList(items[0], True, _span_of(meta))

    def is_null(self, meta, items):
        return s.IsNull(False, _span_of(meta))

    def is_not_null(self, meta, items):
        return s.IsNull(True, _span_of(meta))

    def match(self, meta, items):
        op, value = items
        return s.Match(op.value, value, _span_of(meta))

    def has(self, meta, items):
        return s.Has("one", (items[0],), _span_of(meta))

    def has_any(self, meta, items):
        return s.Has("any", items[0], _span_of(meta))

    def has_all(self, meta, items):
        return s.Has("all", items[0], _span_of(meta))

    # windows
    def _window(kind):
        def build(self, meta, items):
            return s.Window(kind, tuple(self._bound(item) for item in items), _span_of(meta))

        return build

    within = _window("within")
    since = _window("since")
    before = _window("before")
    before_ago = _window("before_ago")
    within_next = _window("within_next")
    between_dates = _window("between")
    del _window

    def _bound(self, token: Token) -> s.Lit:
        kind = {"DURATION": "duration", "DATE": "date", "TIMESTAMP": "timestamp", "PARAM": "param"}[token.type]
        value = token.value[1:] if kind == "param" else token.value
        if kind == "duration":
            self._check_whole(token.value.rstrip("abcdefghijklmnopqrstuvwxyz"), _span_of(token))
        return s.Lit(kind, value, _span_of(token))

    # arithmetic and atoms
    def binop(self, meta, items):
        left, op, right = items
        return s.BinOp(op.value, left, right, _span_of(meta))

    def neg(self, meta, items):
        operand = items[0]
        if isinstance(operand, s.Lit) and operand.kind == "number":
            return s.Lit("number", -operand.value, _span_of(meta))
        return s.Neg(operand, _span_of(meta))

    def call(self, meta, items):
        name, argument = items
        return s.Call(name.value, argument, _span_of(meta))

    def subject(self, meta, items):
        name, prop, filters = items
        return s.Subject(name.value, prop.value if prop else None, tuple(filters or ()), _span_of(meta))

    def filters(self, meta, items):
        return items

    def filter_compare(self, meta, items):
        name, op, value = items
        op = {"==": "=", "<>": "!="}.get(op.value, op.value)
        return s.Filter(name.value, s.Compare(op, value, _span_of(meta)), _span_of(meta))

    def filter_between(self, meta, items):
        name, low, high = items
        return s.Filter(name.value, s.Between(low, high, _span_of(meta)), _span_of(meta))

    def filter_test(self, meta, items):
        name, test = items
        return s.Filter(name.value, test, _span_of(meta))

    def value_list(self, meta, items):
        return tuple(item for item in items if item is not None)

    # literals
    def number(self, meta, items):
        text = items[0].value
        if any(c in text for c in ".eE"):
            value = float(text)
            if not math.isfinite(value):
                raise RuleSyntaxError(
                    f"{text} is too large for a number", source=self.text, span=_span_of(meta),
                    hint="numbers are 64-bit floating point: at most about 1.8e308",
                )
        else:
            value = self._check_whole(text, _span_of(meta))
        return s.Lit("number", value, _span_of(meta))

    def _check_whole(self, digits: str, span: Span) -> int:
        """A whole number as written; more digits than any 64-bit number has is refused here, before ``int``
        (which refuses thousands of digits with its own error); compiling checks the exact range, after negation and
        constant folding (compiler/pipeline.py)."""
        if len(digits.lstrip("0")) > INT_DIGITS:
            raise RuleSyntaxError(
                "this number is out of range for a whole number", source=self.text, span=span,
                hint=f"whole numbers are 64-bit: {INT64_MIN} to {INT64_MAX}",
            )
        return int(digits)

    def negative(self, meta, items):
        number = self.number(meta, items)
        return s.Lit("number", -number.value, _span_of(meta))

    def string(self, meta, items):
        return s.Lit("string", _unquote(items[0], self.text), _span_of(meta))

    def word(self, meta, items):
        return s.Lit("word", items[0].value, _span_of(meta))

    def date(self, meta, items):
        return s.Lit("date", items[0].value, _span_of(meta))

    def timestamp(self, meta, items):
        return s.Lit("timestamp", items[0].value, _span_of(meta))

    def param(self, meta, items):
        return s.Lit("param", items[0].value[1:], _span_of(meta))

    def true(self, meta, items):
        return s.Lit("bool", True, _span_of(meta))

    def false(self, meta, items):
        return s.Lit("bool", False, _span_of(meta))


def _unquote(token: Token, text: str) -> str:
    """A double-quoted string with Python's escapes (``\\"``, ``\\\\``, ``\\n``, ``\\u00e9``, ``\\x41``, ``\\101``,
    ``\\N{name}``); an unknown escape such as ``\\d`` stays as written. Decoded here rather than by ``ast``, whose
    warning for unknown escapes becomes an error under ``-W error`` and can only be silenced process-wide."""
    try:
        value = _ESCAPE.sub(_unescape, token.value[1:-1])
    except (ValueError, KeyError, OverflowError):
        raise RuleSyntaxError(
            "this string has an escape that is not valid",
            source=text,
            span=_span_of(token),
            hint='escapes are \\" \\\\ \\n \\t and \\uXXXX',
        ) from None
    # \ud83d\ude00 is one character written as a UTF-16 pair; a surrogate left alone is not a character
    value = value.encode("utf-16", "surrogatepass").decode("utf-16", "surrogatepass")
    lone = _SURROGATE.search(value)
    if lone:
        raise RuleSyntaxError(
            f"this string holds {lone.group()!r}, a lone surrogate, which is not a character",
            source=text,
            span=_span_of(token),
            hint="write the character itself, or both halves of a surrogate pair (\\ud83d\\ude00)",
        )
    return value


_ESCAPE = re.compile(r"\\(?:([0-7]{1,3})|x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|N\{([^}]*)\}|(.))", re.S)
_SIMPLE = {"\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _unescape(match: re.Match) -> str:
    octal, byte, short, long, name, other = match.groups()
    if octal or byte or short or long:
        return chr(int(octal, 8) if octal else int(byte or short or long, 16))
    if name is not None:
        return unicodedata.lookup(name)
    if other in "xuUN":  # the start of an escape that is not complete
        raise ValueError(other)
    return _SIMPLE.get(other, "\\" + other)


# -- errors --------------------------------------------------------------------------------------------------
# Terminal names in words a marketer knows.
_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": 'a "quoted string"',
    "DATE": "a date (2026-01-31)",
    "TIMESTAMP": "a timestamp (2026-01-31T10:00:00Z)",
    "DURATION": "a duration (30d, 12h, 3w, 6mo, 1y)",
    "PARAM": "a $parameter",
    "COMPARE": "a comparison (= != > >= < <=)",
    "ADD": "+ or -",
    "MUL": "* or /",
    "MINUS": "-",
    "LPAR": "(",
    "RPAR": ")",
    "COMMA": ",",
    "DOT": ".",
    "TIMES": "times",
    "CONTAINS": "contains",
    "STARTSWITH": "startswith",
    "ENDSWITH": "endswith",
    "$END": "the end of the rule",
}


def _word(terminal: str) -> str:
    if terminal in _WORDS:
        return _WORDS[terminal]
    if terminal.startswith("_"):
        return terminal[1:].lower()
    return terminal.lower()


def _expected_words(expected: set[str]) -> list[str]:
    words = sorted({_word(t) for t in expected if t not in ("MINUS",)})
    # A long list helps nobody: keep the shape ("a condition") when everything could start one.
    if "a name" in words and "a number" in words and len(words) > 6:
        return ["a condition or value (a name, number, string, date, ( ...)"]
    return words


def _syntax_error(text: str, error: UnexpectedInput) -> RuleSyntaxError:
    end = len(text)
    if isinstance(error, UnexpectedCharacters):
        pos = error.pos_in_stream
        char = text[pos]
        span = Span(pos, pos + 1, error.line, error.column)
        hint = _CHAR_HINTS.get(char)
        return RuleSyntaxError(
            f"unexpected character {char!r}", source=text, span=span, hint=hint or "values that are not plain words "
            'go in "double quotes"'
        )
    if isinstance(error, UnexpectedEOF) or (isinstance(error, UnexpectedToken) and error.token.type == "$END"):
        last_line = text.count("\n") + 1
        column = len(text) - (text.rfind("\n") + 1) + 1
        span = Span(end, end + 1, last_line, column)
        expected = _expected_words(set(error.expected))
        hint = None
        if "RPAR" in error.expected and text.count("(") > text.count(")"):
            hint = "a ( is not closed: add )"
        elif text.rstrip().split()[-1].lower() in ("and", "or", "not"):
            hint = f"the rule ends after '{text.rstrip().split()[-1]}': add a condition or remove it"
        elif "_IN" in error.expected and "COMPARE" in error.expected:
            hint = _FILTER_HINT
        return RuleSyntaxError("the rule ends too early", source=text, span=span, expected=expected, hint=hint)
    assert isinstance(error, UnexpectedToken)
    token = error.token
    span = _span_of(token)
    found = repr(token.value)
    hint = _token_hint(text, token, error)
    return RuleSyntaxError(
        f"unexpected {found}", source=text, span=span, expected=_expected_words(set(error.expected)), hint=hint
    )


_CHAR_HINTS = {
    '"': 'this "string" is not closed: add the final "',
    "'": 'strings use double quotes: "like this"',
    "&": "use 'and' to combine conditions",
    "|": "use 'or' for alternatives",
    "!": "use 'not' to negate, or != to compare",
    "[": "lists are written in parentheses: in (a, b)",
    "{": "lists are written in parentheses: in (a, b)",
}



_FILTER_HINT = (
    "a name after a verb starts a filter (bought brand = Apple); "
    "two conditions need 'and' or 'or' between them"
)


def _token_hint(text: str, token: Token, error: UnexpectedToken) -> str | None:
    before = text[: token.start_pos].rstrip()
    if token.type == "TIMES":
        return "'times' follows a count: opened > 2 times"
    if re.search(r"\bthen\s+(not\s+)?[^\W\d]\w*(\.[^\W\d]\w*)?$", before):
        return ("a step after 'then' is an event: a verb, its filters, same PROP and within D "
                "(viewed then bought category = iPhones within 7d); other conditions join with 'and'")
    if token.type == "NUMBER" and "DURATION" in error.expected:
        after = text[token.end_pos :].lstrip()[:1]
        if after == "m":
            return f"write {token.value}min for minutes or {token.value}mo for months"
        return f"write the unit right after the number: {token.value}d (units: s, min, h, d, w, mo, y)"
    if token.type == "NAME" and before[-1:].isdigit():
        number = before.split()[-1] if before.split() else ""
        if token.value in ("m", "mins", "minutes", "minute"):
            return f"write {number}min for minutes or {number}mo for months"
        return f"durations are written without a space and with a unit: {number}d (s, min, h, d, w, mo, y)"
    if token.value.lower() in KEYWORDS and ("NAME" in error.expected or "STRING" in error.expected):
        return f'\'{token.value}\' is a keyword; to use it as a value, quote it: "{token.value}"'
    if "_IN" in error.expected and "COMPARE" in error.expected and re.search(r"[^\W\d]\w*\s+[^\W\d]\w*$", before):
        return _FILTER_HINT
    if "NAME" not in error.expected and "_AND" in error.expected:
        return "two conditions need 'and' or 'or' between them"
    if token.type in ("COMPARE",) and before.endswith(("=", "<", ">")):
        return "one comparison at a time: combine with 'and'"
    return None
