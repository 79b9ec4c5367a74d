"""Rule text (or a JSON rule document) -> bound IR -> optimised plan: the compiler's front door."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from ..dsl import syntax as s
from ..dsl.errors import RuleError, RuleTypeError, Span
from ..dsl.limits import INT64_MAX, INT64_MIN, MAX_DEPTH
from ..dsl.parser import parse
from . import ir, serial
from .binder import Definitions, bind
from .formatter import format_ir
from .passes import optimise
from .schema import Schema
from .serial import RuleFormatError
from .types import Type

_lock = threading.Lock()


@dataclass(frozen=True)
class Rule:
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
            depths: dict[str, int] = {}
            for name in _binding_order(schema):  # each after those it uses: binding never recurses down a chain
                bound = table.get(name)
                depths[name] = _depth(bound, depths, schema.definitions[name], bound_of=name)
            bound = table.bind_all()
            schema.cache["definitions"] = table
            schema.cache["definition depths"] = depths
            return bound
        return table.bind_all()


def _binding_order(schema: Schema) -> list[str]:
    """The schema's definitions, each after the definitions it uses, found without recursion; a cycle is an error
    naming it (binding would only find it at the end of the chain, as deep as the chain is long)."""
    uses: dict[str, list[str]] = {}
    for name, text in schema.definitions.items():
        if not isinstance(text, str):  # Schema.with_definitions takes what it is given
            raise RuleError(f"a definition is rule text, not {type(text).__name__}", rule_name=name)
        try:
            tree = parse(text)
        except RuleError:
            uses[name] = []  # binding reports it, naming the definition
            continue
        uses[name] = [n.name for n in _syntax_nodes(tree) if isinstance(n, s.Subject) and n.name in schema.definitions]
    order: list[str] = []
    done: set[str] = set()
    for root in uses:
        path, pending = [root], [iter(uses[root])]
        while path:
            following = next(pending[-1], None)
            if following is None:
                done.add(path[-1])
                order.append(path.pop())
                pending.pop()
            elif following in path:
                cycle = " -> ".join([*path[path.index(following) :], following])
                raise RuleError(
                    f"definitions refer to each other in a cycle: {cycle}",
                    rule_name=following,
                    hint="a definition cannot use itself, directly or through others",
                )
            elif following not in done:
                path.append(following)
                pending.append(iter(uses[following]))
    return order


def _syntax_nodes(tree: s.Node):
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for f in dataclasses.fields(node):
            value = getattr(node, f.name)
            for item in value if isinstance(value, tuple) else (value,):
                if dataclasses.is_dataclass(item) and not isinstance(item, Span):
                    stack.append(item)


def _depth(node: ir.Expr, definitions: Mapping[str, int], source: str, bound_of: str | None = None) -> int:
    """How deep ``node`` nests once the definitions it uses are written out (their depths in ``definitions``);
    more than ``MAX_DEPTH`` through a definition is an error pointing at it (the text alone was checked by the
    parser, whose levels the IR's need not match one for one)."""
    deepest = 0
    stack = [(node, 1)]
    while stack:
        n, depth = stack.pop()
        if isinstance(n, ir.Ref):
            depth += definitions.get(n.name, 0)
        if depth > MAX_DEPTH and isinstance(n, ir.Ref):
            raise RuleError(
                f"too deeply nested once definitions are written out (more than {MAX_DEPTH} levels)",
                source=source,
                span=n.span,
                rule_name=bound_of,
                hint="a definition counts as deep as its own rule; use fewer definitions inside one another",
            )
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ir.children(n))
    return deepest


def compile_rule(rule: str | Mapping, schema: Schema) -> Rule:
    defs = definitions(schema)
    if isinstance(rule, str):
        source = rule
        bound = bind(parse(rule), schema, rule, schema.cache["definitions"])
    elif isinstance(rule, Mapping):
        source, bound = _from_document(rule, schema)
    else:
        raise RuleError(f"a rule is text or a JSON rule document (dict), not {type(rule).__name__}")
    _check_whole_numbers(bound, source)
    _depth(bound, schema.cache["definition depths"], source)
    plan = optimise(bound, defs, schema.zoned)
    _check_whole_numbers(plan, source)
    _check_text_tests(plan, source)
    return Rule(format_ir(bound, schema), bound, plan, ir.params(plan), defs)


def _check_whole_numbers(node: ir.Expr, source: str) -> None:
    """Every whole number of the rule fits in 64 bits, as the engines compute: literals as written, and what
    constant folding made of them (``9223372036854775807 + 1``)."""
    for n in ir.walk(node):
        if isinstance(n, ir.Const) and n.type is Type.INT and not INT64_MIN <= n.value <= INT64_MAX:
            raise RuleError(
                f"{n.value} is out of range for a whole number",
                source=source if n.span is not None else None,
                span=n.span,
                hint=f"whole numbers are 64-bit: {INT64_MIN} to {INT64_MAX}",
            )


def _check_text_tests(plan: ir.Expr, source: str) -> None:
    """Text is tested through each contact's dictionary codes: a test whose text is a constant (``"a" contains
    $p``, ``"a" in (a, b)``) has none, so it is refused (tests of two literals were folded already)."""
    for n in ir.walk(plan):
        match n:
            case ir.TextMatch(operand=x) | ir.InSet(operand=x) | ir.IsNull(operand=x) | ir.HasTags(operand=x) | (
                ir.Compare(left=x, right=ir.Const() | ir.Param())
            ) if isinstance(x, ir.Const | ir.Param) and x.type is Type.STRING:
                raise RuleTypeError(
                    "this tests a constant text, not a value of each contact",
                    source=source if x.span is not None else None,
                    span=x.span,
                    hint='put an attribute or an event property on the left, e.g. email contains "gmail"',
                )


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
