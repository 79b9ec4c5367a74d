"""Rule text (or a JSON rule document) -> bound IR -> optimised plan: the compiler's front door."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

from ..dsl.formatter import format_ir
from ..dsl.parser import parse
from . import ir, serial
from .binder import Definitions, bind
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
        bound = bind(parse(rule), schema, rule, schema.cache["definitions"])
    elif isinstance(rule, Mapping):
        bound = _from_document(rule, schema)
    else:
        raise TypeError(f"a rule is text or a JSON rule document (dict), not {type(rule).__name__}")
    plan = optimise(bound, defs)
    return Compiled(format_ir(bound, schema), bound, plan, ir.params(plan), defs)


def format_rule(rule: str, schema: Schema) -> str:
    """The canonical text of ``rule``."""
    return compile_rule(rule, schema).text


def _from_document(document: Mapping, schema: Schema) -> ir.Expr:
    """Read a rule document and check it against the schema by binding its canonical text again."""
    node = serial.from_document(dict(document))
    try:
        text = format_ir(node, schema)
    except (TypeError, KeyError) as error:
        raise RuleFormatError(f"rule document does not describe a valid rule: {error}") from None
    rebound = bind(parse(text), schema, text, schema.cache["definitions"])
    if rebound != node:
        raise RuleFormatError(
            "rule document does not match the schema (a name or type differs); its text reads: " + text
        )
    return node
