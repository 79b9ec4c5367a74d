"""How large a rule may be: one definition of each limit, checked where a rule enters (text, JSON document).

Every stage after parsing (binder, passes, formatter, engines, code generation, explain, JSON) walks the rule
recursively, so nesting is bounded once, early, with an error that points at where the bound is passed; each
stage is then known to work at the bound (tests/test_errors.py runs a rule nested exactly this deep through all
of them, with part of the interpreter's stack already in use, as inside an application).
"""

from __future__ import annotations

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
"""Whole numbers: literals in rules, INT columns, and every evaluator's arithmetic are 64-bit."""

MAX_DEPTH = 100
"""Levels a rule may nest: each ``not``, parenthesised ``and``/``or`` inside another, arithmetic operator, unary
minus, function call and condition counts one (``a and b and c`` is one level; so are redundant parentheses)."""

MAX_DOCUMENT_DEPTH = 2 * MAX_DEPTH + 20
"""Levels of objects and lists a JSON rule document may nest: a level of a rule takes at most two in JSON (a node
and its list of items), and the condition at the bottom a few more (a count, its event set, its filters)."""

INT_DIGITS = len(str(INT64_MAX))
"""Digits of the largest whole number: a literal with more (leading zeros aside) is out of range."""
