"""Rule text (or a JSON rule document) -> bound IR -> optimised plan: the compiler's front door."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

from ..dsl.formatter import format_ir
from ..dsl.parser import parse
from . import ir, serial
from .binder import Definitions, bind
from .errors import RuleError
from .limits import INT_MAX, INT_MIN
from .passes import optimise
from .schema import Schema
from .serial import RuleFormatError
from .types import Type

_lock = threading.Lock()


@dataclass(frozen=True)
class Compiled:
    """A rule ready to evaluate: ``ir`` as written (bound), ``plan`` after the passes, ``text`` canonical."""

    text: str
    ir: ir.Expr
    plan: ir.Expr
    params: Mapping[str, Type]
    definitions: Mapping[str, ir.Expr]  # every definition of the schema, bound (explain shows them by name)


def definitions(schema: Schema) -> Mapping[str, ir.Expr]:
    """The schema's definitions, bound once per schema; the first error in any of them is raised, naming it."""
    with _lock:
        table = schema.cache.get("definitions")
        if table is None:
            table = Definitions(schema, parse)
            bound = table.bind_all()
            schema.cache["definitions"] = table
            return bound
        return table.bind_all()


def compile_rule(rule: str | Mapping, schema: Schema) -> Compiled:
    defs = definitions(schema)
    if isinstance(rule, str):
        source = rule
        bound = bind(parse(rule), schema, rule, schema.cache["definitions"])
    elif isinstance(rule, Mapping):
        source, bound = _from_document(rule, schema)
    else:
        raise RuleError(f"a rule is text or a JSON rule document (dict), not {type(rule).__name__}")
    _check_whole_numbers(bound, source)
    plan = optimise(bound, defs)
    _check_whole_numbers(plan, source)
    return Compiled(format_ir(bound, schema), bound, plan, ir.params(plan), defs)


def _check_whole_numbers(node: ir.Expr, source: str) -> None:
    """Every whole number of the rule fits in 64 bits, as the engines compute: literals as written, and what
    constant folding made of them (``9223372036854775807 + 1``)."""
    for n in ir.walk(node):
        if isinstance(n, ir.Const) and n.type is Type.INT and not INT_MIN <= n.value <= INT_MAX:
            raise RuleError(
                f"{n.value} is out of range for a whole number",
                source=source if n.span is not None else None,
                span=n.span,
                hint=f"whole numbers are 64-bit: {INT_MIN} to {INT_MAX}",
            )


def format_rule(rule: str, schema: Schema) -> str:
    """The canonical text of ``rule``."""
    return compile_rule(rule, schema).text


def _from_document(document: Mapping, schema: Schema) -> tuple[str, ir.Expr]:
    """Read a rule document and check it against the schema by binding its canonical text again: the rule is what
    that text binds to, so nothing in the document reaches the engines unless the text says it too."""
    node = serial.from_document(dict(document))
    try:
        text = format_ir(node, schema)
    except Exception as error:  # nodes read from JSON may hold anything; binding the text again decides
        raise RuleFormatError(f"rule document does not describe a valid rule: {error}") from None
    rebound = bind(parse(text), schema, text, schema.cache["definitions"])
    if rebound != node:
        raise RuleFormatError(
            "rule document does not match the schema (a name or type differs); its text reads: " + text
        )
    return text, rebound
