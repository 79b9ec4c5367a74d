"""The one error family of segmint.

``SegmintError`` is the root. ``RuleError`` and its subclasses point into rule text (line, column, caret);
``SchemaError`` is a schema that cannot be used; ``DataError`` is data that does not fit its schema, naming the
file and column; ``ParamError`` is a ``$parameter`` missing or of the wrong kind at evaluation time.

``str(error)`` is always the full human message, so ``print(e)`` and logs show what a user needs.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch of rule text: 0-based character offsets ``[start, end)``, 1-based ``line`` and ``column``."""

    start: int
    end: int
    line: int
    column: int


class SegmintError(Exception):
    """Root of every error segmint raises on purpose. Its text is terminal-safe: messages quote names, values and
    rule text from users and data, so what does not print is escaped (``printable``), line by line."""

    def __init__(self, message: object = "", *args: object) -> None:
        super().__init__("\n".join(printable(line) for line in str(message).split("\n")), *args)


class RuleError(SegmintError):
    """A rule that cannot be parsed, bound or type-checked.

    ``message`` says what is wrong, ``span`` where, ``expected`` what would have fitted there, ``hint`` how to
    fix it and ``suggestions`` the close names ("did you mean ...?").

    Every error at once: a rule with several mistakes raises its first (in reading order of the binder) with
    ``errors`` holding all of them, this one first (``RuleError.gather``); a lone error's ``errors`` is itself.
    ``str(error)`` is the first in full and "... and N more errors"; ``render_all()`` shows each in full and
    ``to_dict()["errors"]`` lists each for an editor to underline.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        span: Span | None = None,
        expected: Iterable[str] = (),
        hint: str | None = None,
        suggestions: Iterable[str] = (),
        rule_name: str | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.span = span
        self.expected = tuple(expected)
        self.hint = hint
        self.suggestions = tuple(suggestions)
        self.rule_name = rule_name
        self.errors: tuple[RuleError, ...] = (self,)
        super().__init__(self.render())

    @staticmethod
    def gather(errors: Iterable[RuleError]) -> RuleError:
        """The first of ``errors``, holding all of them (the same mistake found twice is listed once)."""
        unique: dict[tuple, RuleError] = {}
        for error in errors:
            for one in error.errors:
                unique.setdefault(one._identity(), one)
        first, *_ = found = list(unique.values())
        first.errors = tuple(found)
        first.args = (first.render(),)
        return first

    def _identity(self) -> tuple:
        return (type(self), self.message, self.span, self.rule_name, self.source)

    @property
    def line(self) -> int | None:
        return self.span.line if self.span else None

    @property
    def column(self) -> int | None:
        return self.span.column if self.span else None

    def render(self) -> str:
        """This error in full, and how many more the rule has."""
        more = len(getattr(self, "errors", ())) - 1
        tail = [f"... and {more} more error{'s' if more > 1 else ''}"] if more > 0 else []
        return "\n".join([self.render_one(), *tail])

    def render_all(self) -> str:
        """Every error of the rule in full, a blank line between them."""
        return "\n\n".join(error.render_one() for error in self.errors)

    def render_one(self) -> str:
        where = ""
        if self.span is not None:
            where = f"line {self.span.line}, column {self.span.column}: "
        if self.rule_name:
            where = f"in definition '{self.rule_name}', {where}"
        lines = [f"{where}{self.message}"]
        if self.source is not None and self.span is not None:
            lines.extend(_caret_lines(self.source, self.span))
        if self.suggestions:
            lines.append("did you mean " + " or ".join(repr(s) for s in self.suggestions) + "?")
        if self.expected:
            lines.append("expected " + _one_of(self.expected))
        if self.hint:
            lines.append("hint: " + self.hint)
        return "\n".join(printable(line) for line in lines)

    def to_dict(self) -> dict:
        """A stable, JSON-ready description for tools (the CLI's ``--json``, rule builders): this error's fields,
        and ``errors``, every error of the rule (this one first) with the same fields, for an editor to underline."""
        return {**self._fields(), "errors": [error._fields() for error in self.errors]}

    def _fields(self) -> dict:
        return {
            "error": type(self).__name__,
            "message": self.message,
            "line": self.line,
            "column": self.column,
            "start": self.span.start if self.span else None,
            "end": self.span.end if self.span else None,
            "expected": list(self.expected),
            "suggestions": list(self.suggestions),
            "hint": self.hint,
            "definition": self.rule_name,
        }


class RuleSyntaxError(RuleError):
    """The text does not follow the grammar."""


class RuleNameError(RuleError):
    """A name (attribute, verb, property, definition, value of a category) that the schema does not know."""


class RuleTypeError(RuleError):
    """Operands whose types do not fit the operator or function."""


class ParamError(SegmintError):
    """A ``$parameter`` missing or not of the kind its place in the rule needs."""


class SchemaError(SegmintError):
    """A schema that cannot be used: unknown type, a name used twice, a cycle among definitions."""


class DataError(SegmintError):
    """Data that does not fit its schema; the message names the file (or table) and column."""

    def __init__(self, message: str, *, source: str | None = None, column: str | None = None) -> None:
        self.message = message
        self.source = source
        self.column = column
        where = ", ".join(part for part in (source and f"in {source}", column and f"column '{column}'") if part)
        super().__init__(f"{where}: {message}" if where else message)


def did_you_mean(name: str, candidates: Iterable[str], cutoff: float = 0.75) -> list[str]:
    """Close matches for ``name``; case-insensitive first, then by similarity. Never a wild guess."""
    candidates = list(dict.fromkeys(candidates))
    folded = [c for c in candidates if c.casefold() == name.casefold() and c != name]
    if folded:
        return folded[:3]
    return difflib.get_close_matches(name, candidates, n=3, cutoff=cutoff)


def _one_of(items: tuple[str, ...]) -> str:
    if len(items) == 1:
        return items[0]
    return "one of " + ", ".join(items)


def printable(text: str) -> str:
    """``text`` safe for a terminal: control characters, bidirectional marks, lone surrogates and other characters
    that do not print are shown as escapes (``\\x1b``, ``\\u202e``), so a rule cannot send a terminal commands,
    reorder what is shown or fail to encode."""
    return text if text.isprintable() else "".join(_shown(c) for c in text)


CONTEXT = 60  # columns of a long line shown before and after the part an error points at
_CUT = "..."  # where a long line is cut (one cell a dot)


def _caret_lines(source: str, span: Span) -> list[str]:
    """The line of ``source`` that ``span`` starts in, as the terminal shows it, and carets under the span.

    Lines are split at ``\\n`` only, as the parser counts them; characters that do not print are escaped and wide
    ones take two columns, so the carets stay under their text; a long line is cut to the columns around the span.
    """
    lines = source.split("\n")
    text = lines[min(span.line, len(lines)) - 1].removesuffix("\r")
    start = min(span.column - 1, len(text))
    end = min(start + max(span.end - span.start, 1), len(text))
    before, inside, after = (_cells(part) for part in (text[:start], text[start:end], text[end:]))
    if len(before) > CONTEXT:
        before = [*_CUT, *before[-CONTEXT:]]
    if len(inside) > 2 * CONTEXT:
        inside = [*inside[: 2 * CONTEXT], *_CUT]
    if len(after) > CONTEXT:
        after = [*after[:CONTEXT], *_CUT]
    carets = max(1, len(inside))
    return ["  " + "".join(before + inside + after), "  " + " " * len(before) + "^" * carets]


def _cells(text: str) -> list[str]:
    """``text`` as terminal cells: a wide character fills two (the second empty), a combining mark none, an escape
    one per character of it."""
    cells: list[str] = []
    for char in text:
        shown = _shown(char)
        if shown != char:
            cells.extend(shown)
        elif unicodedata.combining(char) and cells:
            cells[-1] += char
        else:
            cells.append(char)
            if unicodedata.east_asian_width(char) in "WF":
                cells.append("")
    return cells


def _shown(char: str) -> str:
    if "\udc80" <= char <= "\udcff":  # a byte that was not UTF-8, kept by ``surrogateescape``: show the byte
        return f"\\x{ord(char) - 0xDC00:02x}"
    return char if char.isprintable() else repr(char)[1:-1]


class SegmintWarning(UserWarning):
    """Root of every warning segmint gives: something works, but not as configured (say, a cache it cannot use)."""
