"""The words of the language that code outside the grammar needs: the keywords (read from the grammar file, their
one definition), the pattern of a name, and durations (``90d``, ``6mo``) as numbers and units."""

from __future__ import annotations

import re
from importlib.resources import files

from .limits import INT_DIGITS

_GRAMMAR = files("segmint.grammar").joinpath("segmint.lark").read_text(encoding="utf-8")

# Keyword terminals are written `_AND: "and"` (or `TIMES: "times"`) in the grammar.
KEYWORDS: frozenset[str] = frozenset(re.findall(r'^_?[A-Z]+: "([a-z]+)"', _GRAMMAR, flags=re.M))

NAME = re.compile(r"[^\W\d]\w*\Z")  # the grammar's NAME: a letter (any script), then letters, digits, _

DURATION_UNITS = ("min", "mo", "s", "h", "d", "w", "y")
_DURATION = re.compile(rf"\s*(\d+)\s*({'|'.join(DURATION_UNITS)})\s*\Z")


def is_name(text: str) -> bool:
    """Whether ``text`` can be written as a bare name in a rule (a NAME that is not a keyword)."""
    return bool(NAME.match(text)) and text.lower() not in KEYWORDS


def parse_duration(text: str) -> tuple[int, str] | None:
    """``"90d"`` -> ``(90, "d")``; None when ``text`` is not a duration, or its amount has more digits than a 64-bit
    number (``limits.INT_DIGITS``). Spaces around and inside are allowed."""
    match = _DURATION.match(text)
    if match is None or len(match.group(1).lstrip("0")) > INT_DIGITS:
        return None
    return int(match.group(1)), match.group(2)
