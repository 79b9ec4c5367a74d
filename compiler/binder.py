"""Syntax tree -> typed IR: the one place where names are resolved against the schema and types are checked.

A bare name means, in this order of lookup: an attribute, an event verb or a definition (the schema guarantees a
name is at most one of them). Inside filters and aggregates, names are properties of that event. On the right of
a comparison with a string, a bare word is a string value (``gender = f``), checked against the categories of
the field when the schema declares them.

A date compared with a timestamp is kept as written (``created_at <= 2026-06-30``): what it means, the whole day,
is given in one place, the ``whole_days`` pass (compiler/passes.py).

Every error at once: where parts of a rule can be checked on their own (the items of ``and``/``or``, the two sides of
arithmetic, an event's filters and window, the values of a list), the binder checks each, notes its errors and goes
on; a part with an error is *unknown* (``_Unknown`` travels up to the next such place), so it makes no second error
out of the first (an unknown name is not also a type error) while its siblings are still checked. ``bind`` raises
the first error with ``errors`` holding all (``RuleError.gather``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from functools import partial
from typing import TypeVar

from ..dsl import syntax as s
from ..dsl.errors import RuleError, RuleNameError, RuleTypeError, Span, did_you_mean
from ..dsl.lexicon import parse_duration
from . import ir, sequences
from .calendar import CalendarConditions
from .ranks import POPULATION_FUNCTIONS, PopulationCalls
from .schema import EventType, Field, Schema
from .types import Type, arithmetic_result, comparable, in_utc

T = TypeVar("T")
COUNT_FUNCTIONS = ("count", *ir.AGGREGATES)
ALL_FUNCTIONS = (*COUNT_FUNCTIONS, *ir.FUNCTIONS, *POPULATION_FUNCTIONS, *ir.CALENDAR_FUNCTIONS)


class Definitions:
    """The schema's named rules, parsed and bound on first use; a cycle among them is an error naming it."""

    def __init__(self, schema: Schema, parse: Callable[[str], s.Node]) -> None:
        self.schema = schema
        self._parse = parse
        self._bound: dict[str, ir.Expr] = {}
        self._stack: list[str] = []

    def __contains__(self, name: str) -> bool:
        return name in self.schema.definitions

    def get(self, name: str) -> ir.Expr:
        if name in self._bound:
            return self._bound[name]
        if name in self._stack:
            cycle = " -> ".join([*self._stack[self._stack.index(name) :], name])
            raise RuleError(
                f"definitions refer to each other in a cycle: {cycle}",
                rule_name=name,
                hint="a definition cannot use itself, directly or through others",
            )
        text = self.schema.definitions[name]
        self._stack.append(name)
        try:
            try:
                tree = self._parse(text)
            except RuleError as error:
                error.rule_name = name
                raise type(error)(
                    error.message, source=text, span=error.span, expected=error.expected, hint=error.hint,
                    suggestions=error.suggestions, rule_name=name,
                ) from None
            bound = Binder(self.schema, text, self, rule_name=name).whole(tree)
        finally:
            self._stack.pop()
        self._bound[name] = bound
        return bound

    def bind_all(self) -> dict[str, ir.Expr]:
        return {name: self.get(name) for name in self.schema.definitions}


def bind(tree: s.Node, schema: Schema, source: str, definitions: Definitions) -> ir.Expr:
    """Bind a whole rule: it must be a condition, true or false for each contact."""
    binder = Binder(schema, source, definitions)
    expr = binder.whole(tree)
    if expr.type is not Type.BOOL:
        raise binder.type_error(
            f"a rule must be a condition, but this is a value of type {expr.type}",
            tree,
            hint="compare it, e.g. ... > 100, or test it, e.g. ... is not null",
        )
    return expr


class _Unknown(Exception):
    """A part of the rule whose error is noted already: what contains it is unknown too, its siblings are not."""


class Binder(PopulationCalls, CalendarConditions):
    def __init__(self, schema: Schema, source: str, definitions: Definitions, rule_name: str | None = None) -> None:
        self.schema = schema
        self.source = source
        self.definitions = definitions
        self.rule_name = rule_name
        self.verbs = schema.verbs
        self.errors: list[RuleError] = []

    def whole(self, tree: s.Node) -> ir.Expr:
        """Bind ``tree``; every error found is raised at once (the first, holding all)."""
        try:
            expr = self.expr(tree)
        except RuleError as error:
            self.errors.append(error)
        except _Unknown:
            pass
        if self.errors:
            raise RuleError.gather(self.errors)
        return expr

    def each(self, parts: Sequence[Callable[[], T]]) -> tuple[T, ...]:
        """Every part bound, each on its own: the errors of all are noted before any makes the whole unknown."""
        results, unknown = [], False
        for part in parts:
            try:
                results.append(part())
            except RuleError as error:
                self.errors.append(error)
                unknown = True
            except _Unknown:
                unknown = True
        if unknown:
            raise _Unknown
        return tuple(results)

    # -- errors ----------------------------------------------------------------------------------------------
    def _error(self, cls, message: str, node, **extra) -> RuleError:
        span = node if isinstance(node, Span) or node is None else getattr(node, "span", None)
        return cls(message, source=self.source, span=span, rule_name=self.rule_name, **extra)

    def error(self, message: str, node, **extra) -> RuleError:
        return self._error(RuleError, message, node, **extra)

    def type_error(self, message: str, node, **extra) -> RuleError:
        return self._error(RuleTypeError, message, node, **extra)

    def name_error(self, message: str, node, **extra) -> RuleError:
        return self._error(RuleNameError, message, node, **extra)

    # -- expressions -----------------------------------------------------------------------------------------
    def expr(self, node: s.Node) -> ir.Expr:
        """Any expression; a verb on its own means "at least one such event"."""
        match node:
            case s.Or(items=items, span=span):
                return ir.Or(self.each([partial(self.condition, item) for item in items]), span)
            case s.And(items=items, span=span):
                return ir.And(self.each([partial(self.condition, item) for item in items]), span)
            case s.Not(operand=operand, span=span):
                return ir.Not(self.condition(operand), span)
            case s.Condition():
                return self.bind_condition(node)
            case s.Sequence(span=span):
                return ir.Sequence(sequences.sequence(self, node, counted=False), span)
            case s.Regular():
                return self.regular(node)
            case s.Subject(name=name, prop=None) if name in self.verbs:
                return ir.Exists(self.event_set(node, None), node.span)
        return self.value(node)

    def condition(self, node: s.Node) -> ir.Expr:
        expr = self.expr(node)
        if expr.type is not Type.BOOL:
            raise self.type_error(
                f"expected a condition (true or false) here, but this is a value of type {expr.type}",
                node,
                hint="compare it, e.g. ... > 100",
            )
        return expr

    def value(self, node: s.Node) -> ir.Expr:
        """A value: a name, a literal, a call, arithmetic, or a parenthesised condition."""
        match node:
            case s.Lit():
                return self.literal(node, None, None)
            case s.Subject():
                return self.name(node)
            case s.Call():
                return self.call(node)
            case s.BinOp(op=op, left=left, right=right, span=span):
                a, b = self.each([partial(self.value, left), partial(self.value, right)])
                result = arithmetic_result(op, a.type, b.type)
                if result is None:
                    raise self.type_error(f"'{op}' needs numbers on both sides, not {a.type} and {b.type}", node)
                return ir.Arith(op, a, b, result, span)
            case s.Neg(operand=operand, span=span):
                a = self.value(operand)
                if not a.type.is_numeric:
                    raise self.type_error(f"'-' needs a number, not {a.type}", node)
                return ir.Negate(a, a.type, span)
        return self.expr(node)

    def name(self, node: s.Subject) -> ir.Expr:
        """A name in a value position, at contact level."""
        if node.prop is not None:
            raise self.error(
                f"{node.name}.{node.prop} is a value of each event; aggregate it",
                node,
                hint=f"e.g. sum({node.name}.{node.prop}) > 100, avg(...), min(...), max(...)",
            )
        if node.name in self.verbs:
            raise self.error(
                f"'{node.name}' is an event verb; count its events to use it as a number",
                node,
                hint=f"count({node.name} ...)",
            )
        if node.filters:
            raise self.error(
                f"only event verbs take filters, and '{node.name}' is not one",
                node.filters[0],
                hint="two conditions need 'and' or 'or' between them",
            )
        if node.name in self.schema.attributes:
            return ir.Attr(node.name, self.schema.attributes[node.name].type, node.span)
        if node.name in self.definitions:
            return ir.Ref(node.name, self.definitions.get(node.name).type, node.span)
        raise self.unknown_name(node)

    def unknown_name(self, node: s.Subject) -> RuleError:
        candidates = [*self.schema.attributes, *self.verbs, *self.schema.definitions]
        hint = None
        if node.name in ALL_FUNCTIONS:
            hint = f"{node.name} is a function: {node.name}(...)"
        elif node.name in self.schema.events:
            hint = f"rules name event type '{node.name}' by its verb '{self.schema.events[node.name].verb}'"
        else:
            owners = [e.verb for e in self.schema.events.values() if node.name in e.properties]
            if owners:
                hint = f"'{node.name}' is a property of {', '.join(owners)}: write it after the verb, " \
                       f"e.g. {owners[0]} {node.name} = ..."
        return self.name_error(
            f"unknown name '{node.name}': not an attribute, event verb or definition",
            node,
            suggestions=did_you_mean(node.name, candidates),
            hint=hint,
        )

    # -- conditions ------------------------------------------------------------------------------------------
    def bind_condition(self, node: s.Condition) -> ir.Expr:
        subject, test, window = node.subject, node.test, node.window
        if isinstance(subject, s.Subject) and subject.prop is None and subject.name in self.verbs:
            return self.event_condition(node)
        if node.times is not None:
            raise self.error("'times' counts events, but this is not an event verb", node.times)
        if window is not None and window.kind == "within_next":
            return self.upcoming(node)
        left = self.value(subject)
        if test is None:
            assert window is not None
            return ir.InWindow(self.temporal(left, subject), self.window(window), node.span)
        if window is not None:
            raise self.error(
                "a window after a test applies only to counting events",
                window,
                hint="put the window inside the aggregate, e.g. sum(bought.amount within 90d) > 100",
            )
        return self.test(left, test, self.field_of(left), node.span)

    def event_condition(self, node: s.Condition) -> ir.Expr:
        """``opened``, ``opened > 2 times within 90d``, ``opened between 2026-01-01 and 2026-01-31``."""
        test, window = _date_window(node)
        events = self.event_set(node.subject, window)
        if test is None:
            if node.times is not None:
                raise self.error("'times' needs a count before it, e.g. opened > 2 times", node.times)
            return ir.Exists(events, node.span)
        count = ir.Count(events, node.subject.span)
        if not isinstance(test, s.Compare | s.Between):
            raise self.type_error(
                f"'{node.subject.name}' counts events: compare it with a number",
                test,
                hint=f"e.g. {node.subject.name} > 2 times, or put the test on a property: "
                f"{node.subject.name} <property> in (...)",
            )
        return self.test(count, test, None, node.span)

    def event_set(self, subject: s.Subject, window: s.Window | None) -> ir.EventSet:
        event = self.verbs[subject.name]
        *where, bound = self.each(
            [*(partial(self.filter, event, f) for f in subject.filters),
             partial(self.window, window) if window else ir.AllTime]
        )
        return ir.EventSet(event.name, tuple(where), bound, subject.span)

    def filter(self, event: EventType, node: s.Filter) -> ir.Expr:
        if node.prop not in event.properties and node.prop in ir.TIME_PARTS:
            return self.time_part_filter(event, node)
        prop = self.prop(event, node.prop, node)
        return self.test(prop, node.test, event.properties[node.prop], node.span)

    def prop(self, event: EventType, name: str, node) -> ir.Prop:
        if name not in event.properties:
            known = list(event.properties)
            raise self.name_error(
                f"event '{event.verb}' has no property '{name}'",
                node,
                suggestions=did_you_mean(name, known),
                hint=f"its properties: {', '.join(known)}" if known else f"'{event.verb}' events have no properties",
            )
        return ir.Prop(event.name, name, event.properties[name].type, getattr(node, "span", None))

    # -- tests -----------------------------------------------------------------------------------------------
    def test(self, left: ir.Expr, test: s.Test, field: Field | None, span: Span | None) -> ir.Expr:
        match test:
            case s.Compare(op=op, right=right):
                right_ir = self.operand(left, right, field)
                left, right_ir = self.unify(left, right_ir, test)
                if left.type in (Type.BOOL, Type.TAGS) and op not in ("=", "!="):
                    raise self.type_error(f"'{op}' does not apply to {left.type} values; use = or !=", test)
                return ir.Compare(op, left, right_ir, span)
            case s.Between(low=low, high=high):
                low_ir, high_ir = self.operand(left, low, field), self.operand(left, high, field)
                if left.type in (Type.BOOL, Type.TAGS, Type.STRING):
                    raise self.type_error(f"'between' needs numbers, dates or times, not {left.type}", test)
                left, low_ir = self.unify(left, low_ir, test)
                left, high_ir = self.unify(left, high_ir, test)
                return ir.InRange(left, low_ir, high_ir, span)
            case s.InList(values=values, negated=negated):
                if left.type is Type.TAGS:
                    raise self.type_error("tags are a set: use 'has any (...)'", test)
                items = self.each([partial(self.list_item, left, v, field) for v in values])
                return ir.InSet(left, items, negated, span)
            case s.IsNull(negated=negated):
                return ir.IsNull(left, negated, span)
            case s.Match(op=op, value=value):
                if left.type is not Type.STRING:
                    raise self.type_error(f"'{op}' applies to strings, not {left.type}", test)
                pattern = self.literal(value, left, None)
                if pattern.type is not Type.STRING:  # a number would reach the engines as a pattern
                    raise self.type_error(
                        f"'{op}' takes text, not {pattern.type}", value, hint=f'quote it: {op} "{value.value}"'
                    )
                return ir.TextMatch(op, left, pattern, span)
            case s.Has(mode=mode, values=values):
                if left.type is not Type.TAGS:
                    raise self.type_error(f"'has' applies to tags, not {left.type}", test)
                return ir.HasTags(left, mode, self.each([partial(self.literal, v, left, field) for v in values]), span)
        raise AssertionError(test)

    def list_item(self, left: ir.Expr, value: s.Lit, field: Field | None) -> ir.Expr:
        return self.unify(left, self.literal(value, left, field), value)[1]

    def field_of(self, expr: ir.Expr) -> Field | None:
        """The schema field behind an attribute, for checking category values."""
        if isinstance(expr, ir.Attr):
            return self.schema.attributes[expr.name]
        return None

    def operand(self, left: ir.Expr, node: s.Node, field: Field | None) -> ir.Expr:
        """The right-hand side of a test on ``left``: a bare word next to a string is a string value."""
        if isinstance(node, s.Lit):
            return self.literal(node, left, field)
        if isinstance(node, s.Subject) and node.prop is None and left.type in (Type.STRING, Type.TAGS):
            if node.filters:
                raise self.error(
                    f"'{node.name}' is a value here and cannot take filters",
                    node.filters[0],
                    hint="two conditions need 'and' or 'or' between them",
                )
            return self.literal(s.Lit("word", node.name, node.span), left, field)
        return self.value(node)

    def unify(self, left: ir.Expr, right: ir.Expr, node) -> tuple[ir.Expr, ir.Expr]:
        """Check ``left`` and ``right`` can be compared. A date meeting a timestamp stays a date here, so the rule
        keeps it as written; the ``whole_days`` pass gives the comparison its meaning (the date's whole day)."""
        if not comparable(left.type, right.type):
            hint = "tags are a set: test them with has, has any (...), has all (...)" if Type.TAGS in (
                left.type, right.type) else None
            raise self.type_error(f"cannot compare {left.type} with {right.type}", node, hint=hint)
        return left, right

    def temporal(self, expr: ir.Expr, node) -> ir.Expr:
        if not expr.type.is_temporal:
            raise self.type_error(
                f"a window tests a date or time, but this is {expr.type}",
                node,
                hint="windows follow event verbs (opened within 30d) or times (created_at within 30d)",
            )
        return expr

    # -- literals --------------------------------------------------------------------------------------------
    def literal(self, lit: s.Lit, left: ir.Expr | None, field: Field | None) -> ir.Const | ir.Param:
        """A literal, typed by what it is compared with (``left``); categories checked against ``field``."""
        want = left.type if left is not None else None
        match lit.kind:
            case "param":
                return ir.Param(lit.value, _param_type(want), lit.span)
            case "word" | "string":
                if want not in (None, Type.STRING, Type.TAGS):
                    what = f"'{lit.value}'" if lit.kind == "word" else f'"{lit.value}"'
                    raise self.type_error(f"{what} is text, but it is compared with {want}", lit)
                self.check_category(lit, field)
                return ir.Const(lit.value, Type.STRING, lit.span)
            case "number":
                value_type = Type.FLOAT if isinstance(lit.value, float) else Type.INT
                return ir.Const(lit.value, value_type, lit.span)
            case "bool":
                return ir.Const(lit.value, Type.BOOL, lit.span)
            case "date":
                return ir.Const(self.parse_date(lit), Type.DATE, lit.span)
            case "timestamp":
                return ir.Const(self.parse_timestamp(lit), Type.TIMESTAMP, lit.span)
            case "duration":
                return ir.Const(self.parse_duration(lit), Type.DURATION, lit.span)
        raise AssertionError(lit)

    def check_category(self, lit: s.Lit, field: Field | None) -> None:
        if field is None or field.values is None or lit.value in field.values:
            return
        shown = ", ".join(field.values[:12]) + (", ..." if len(field.values) > 12 else "")
        raise self.name_error(
            f"'{lit.value}' is not a value of {field.name}",
            lit,
            suggestions=did_you_mean(str(lit.value), field.values, cutoff=0.6),
            hint=f"{field.name} is one of: {shown}",
        )

    def parse_date(self, lit: s.Lit) -> dt.date:
        try:
            return dt.date.fromisoformat(lit.value)
        except ValueError:
            raise self.error(f"'{lit.value}' is not a valid date", lit, hint="dates are YYYY-MM-DD") from None

    def parse_timestamp(self, lit: s.Lit) -> dt.datetime:
        try:
            value = dt.datetime.fromisoformat(lit.value)
        except ValueError:
            raise self.error(
                f"'{lit.value}' is not a valid timestamp", lit, hint="timestamps are YYYY-MM-DDTHH:MM:SSZ"
            ) from None
        try:
            return in_utc(value)
        except ValueError:
            raise self.error(
                f"'{lit.value}' is before year 1 in UTC", lit, hint="times are between years 1 and 9999, in UTC"
            ) from None

    def parse_duration(self, lit: s.Lit) -> ir.Duration:
        return ir.Duration(*parse_duration(lit.value))  # a DURATION token: its digits were bounded by the parser

    # -- windows ---------------------------------------------------------------------------------------------
    def window(self, node: s.Window) -> ir.Window:
        slot = Type.DURATION if node.kind in ("within", "before_ago") else Type.TIMESTAMP
        bounds = [self.bound(b, slot) for b in node.bounds]
        match node.kind:
            case "within":
                return ir.Within(bounds[0])
            case "before_ago":
                return ir.BeforeAgo(bounds[0])
            case "since":
                return ir.Since(bounds[0])
            case "before":
                return ir.Before(bounds[0])
            case "within_next":
                raise self.error(
                    "'within next' looks ahead: it applies to birthday(...) and anniversary(...)",
                    node,
                    hint="e.g. birthday(birth_date) within next 7d; events in the past: opened within 7d",
                )
            case "between":
                start, end = bounds
                if isinstance(start, ir.Const) and isinstance(end, ir.Const) and _instant(end) < _instant(start):
                    raise self.error("this window ends before it starts", node)
                return ir.DateRange(start, end)
        raise AssertionError(node)

    def bound(self, lit: s.Lit, slot: Type) -> ir.Const | ir.Param:
        if lit.kind == "param":
            return ir.Param(lit.value, slot, lit.span)
        return self.literal(lit, None, None)

    # -- calls -----------------------------------------------------------------------------------------------
    def call(self, node: s.Call) -> ir.Expr:
        function = node.function
        if function in COUNT_FUNCTIONS:
            return self.aggregate(node)
        if function in POPULATION_FUNCTIONS:
            return self.population_call(node)
        if function in ir.CALENDAR_FUNCTIONS:
            raise self.error(
                f"{function}() is tested with 'within next': {function}(...) within next 7d",
                node,
                hint=f"e.g. {function}({'birth_date' if function == 'birthday' else 'created_at'}) within next 7d",
            )
        if function in ir.FUNCTIONS:
            argument = self.value(node.argument)
            if not argument.type.is_temporal:
                raise self.type_error(f"{function}() needs a date or time, not {argument.type}", node.argument)
            return ir.Func(function, argument, node.span)
        raise self.name_error(
            f"unknown function '{function}'",
            node,
            suggestions=did_you_mean(function, ALL_FUNCTIONS),
            hint="functions: " + ", ".join(ALL_FUNCTIONS),
        )

    def events_argument(self, argument: s.Node) -> tuple[s.Node, s.Window | None]:
        """A function's events as written, ``bought.amount between 2026-01-01 and 2026-03-31`` included: the parser
        reads a date window right after the verb as a range test, which ``_date_window`` gives back as a window."""
        if isinstance(argument, s.Condition) and argument.times is None:
            test, window = _date_window(argument)
            if test is None:
                return argument.subject, window
        return argument, None

    def aggregate(self, node: s.Call) -> ir.Expr:
        function, argument = node.function, node.argument
        if isinstance(argument, s.Sequence):
            if function != "count":
                raise self.error(f"{function}() takes events; sequences are counted", node,
                                 hint="count(viewed then bought within 7d) >= 2")
            return ir.SequenceCount(sequences.sequence(self, argument, counted=True), node.span)
        argument, window = self.events_argument(argument)
        takes_property = function in ("sum", "avg", "min", "max", "distinct")
        example = f"{function}(bought.amount within 90d)" if takes_property else f"{function}(opened within 30d)"
        if not (isinstance(argument, s.Subject) and argument.name in self.verbs):
            raise self.error(
                f"{function}() takes events: a verb, its filters and a window",
                node.argument,
                hint=f"e.g. {example}",
            )
        event = self.verbs[argument.name]
        if function == "count":
            if argument.prop is not None:
                raise self.error("count() counts events; it takes no property", argument, hint=f"e.g. {example}")
            return ir.Count(self.event_set(argument, window), node.span)
        if function in ("first", "last"):
            if argument.prop is not None:
                raise self.error(f"{function}() gives the time of an event; it takes no property", argument)
            return ir.Aggregate(function, self.event_set(argument, window), None, Type.TIMESTAMP, node.span)
        if argument.prop is None:
            numeric = [p for p, f in event.properties.items() if f.type.is_numeric] or ["property"]
            raise self.error(
                f"{function}() needs a property of the events",
                argument,
                hint=f"e.g. {function}({argument.name}.{numeric[0]} ...)",
            )
        events, prop = self.each(
            [partial(self.event_set, argument, window), partial(self.prop, event, argument.prop, argument)]
        )
        return ir.Aggregate(function, events, prop, self.aggregate_type(function, prop, argument), node.span)

    def aggregate_type(self, function: str, prop: ir.Prop, node) -> Type:
        match function:
            case "distinct":
                return Type.INT
            case "sum" | "avg" if prop.type.is_numeric:
                return Type.FLOAT if function == "avg" else prop.type
            case "min" | "max" if prop.type.is_numeric or prop.type.is_temporal:
                return prop.type
        verb = self.schema.events[prop.event].verb
        raise self.type_error(f"{function}() needs numbers, but {verb}.{prop.name} is {prop.type}", node)


def _date_window(node: s.Condition) -> tuple[s.Test | None, s.Window | None]:
    """``verb between A and B`` right after a verb is a date window when A and B are dates, timestamps or
    parameters (and no ``times`` follows): the test and window the condition really has."""
    test, window = node.test, node.window
    if (
        isinstance(test, s.Between)
        and window is None
        and node.times is None
        and all(isinstance(b, s.Lit) and b.kind in ("date", "timestamp", "param") for b in (test.low, test.high))
    ):
        return None, s.Window("between", (test.low, test.high), test.span)
    return test, window


def _param_type(want: Type | None) -> Type:
    if want is None:
        return Type.FLOAT
    if want.is_numeric:
        return Type.FLOAT
    if want.is_temporal:
        return Type.TIMESTAMP
    if want is Type.TAGS:
        return Type.STRING
    return want


def _instant(const: ir.Const) -> dt.datetime:
    value = const.value
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.combine(value, dt.time(), tzinfo=dt.UTC)
