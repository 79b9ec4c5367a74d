"""Binding time of day and the calendar (issue 13): time parts in event filters (``hour between 7 and 9``,
``weekday in (sat, sun)``), ``birthday(...)``/``anniversary(...) within next D`` and regular behaviour (``in each of
the last 3 mo``, ``in at least 4 of the last 6 w``).

A mixin of the binder (compiler/binder.py), which sends these conditions here; their IR is ``ir.TimePart``,
``ir.Upcoming`` and ``ir.Regular``, their meaning in docs/language.md ("Time of day, calendar and time zones").
"""

from __future__ import annotations

import dataclasses

from ..dsl import syntax as s
from ..dsl.errors import did_you_mean
from . import ir
from .schema import EventType
from .types import Type


class CalendarConditions:
    """``Binder`` methods for time parts, anniversaries and regular behaviour."""

    def time_part_filter(self, event: EventType, node: s.Filter) -> ir.Expr:
        """``hour between 7 and 9``, ``weekday in (sat, sun)``: a test of a part of the event's local time."""
        part = ir.TimePart(event.name, node.prop, node.span)
        test = _weekday_numbers(node.test, self) if node.prop == "weekday" else node.test
        if isinstance(test, s.Match | s.Has):
            raise self.type_error(f"{node.prop} is a number: compare it, e.g. {node.prop} between 7 and 9", test)
        self.check_part_range(node.prop, test)
        return self.test(part, test, None, node.span)

    def check_part_range(self, part: str, test: s.Test) -> None:
        """A number a part never takes, tested for equality or as a range's end, is a mistake (``month = 13``)."""
        if ir.TIME_PARTS[part] is None:
            return
        low, high = ir.TIME_PARTS[part]
        match test:
            case s.Compare(op="=" | "!=", right=right):
                values = (right,)
            case s.Between(low=a, high=b):
                values = (a, b)
            case s.InList(values=listed):
                values = listed
            case _:
                return
        for value in values:
            if isinstance(value, s.Lit) and value.kind == "number" and not low <= value.value <= high:
                names = " (or mon ... sun)" if part == "weekday" else ""
                raise self.error(
                    f"{part} is {low} to {high}{names}, never {value.value}",
                    value,
                    hint="hours are 0 (midnight to 1 am) to 23; weekdays 1 (mon) to 7 (sun); months 1 to 12",
                )

    def upcoming(self, node: s.Condition) -> ir.Upcoming:
        """``birthday(birth_date) within next 7d``."""
        subject = node.subject
        if node.test is not None or node.times is not None:
            raise self.error("'within next' follows birthday(...) or anniversary(...) alone", node.window)
        if not (isinstance(subject, s.Call) and subject.function in ir.CALENDAR_FUNCTIONS):
            raise self.error(
                "'within next' looks ahead: it applies to birthday(...) and anniversary(...)",
                node.window,
                hint="e.g. birthday(birth_date) within next 7d; events in the past: opened within 7d",
            )
        operand = self.value(subject.argument)
        if not operand.type.is_temporal:
            raise self.type_error(
                f"{subject.function}() needs a date or time, not {operand.type}",
                subject.argument,
                hint=f"e.g. {subject.function}(birth_date) within next 7d",
            )
        (bound,) = node.window.bounds
        duration = self.bound(bound, Type.DURATION)
        if isinstance(duration, ir.Const) and duration.value.unit not in ("d", "w", "mo", "y"):
            raise self.error(
                f"{subject.function}() counts whole days: a duration in days, weeks, months or years",
                bound,
                hint=f"e.g. within next {max(1, duration.value.amount // 24) if duration.value.unit == 'h' else 1}d",
            )
        return ir.Upcoming(subject.function, operand, duration, node.span)


    def regular(self, node: s.Regular) -> ir.Regular:
        """``bought in each of the last 3 mo before 90d ago``, ``opened in at least 4 of the last 6 w``."""
        subject, regularity = node.subject, node.regularity
        if not (isinstance(subject, s.Subject) and subject.prop is None and subject.name in self.verbs):
            raise self.error(
                "'in each of the last ...' tests events: a verb and its filters go before it",
                subject,
                hint="e.g. bought in each of the last 3 mo, opened in at least 4 of the last 6 w",
            )
        unit, periods = regularity.unit, regularity.amount
        if unit not in ir.PERIOD_UNITS:
            raise self.error(
                f"'{unit}' is not a calendar period: use d (days), w (weeks), mo (months) or y (years)",
                regularity,
                hint=f"e.g. in each of the last {periods.value} mo",
            )
        if not (isinstance(periods.value, int) and 1 <= periods.value <= ir.MAX_PERIODS):
            raise self.error(f"the number of periods is a whole number from 1 to {ir.MAX_PERIODS}, not "
                             f"{periods.value}", periods)
        least = periods.value if regularity.least is None else regularity.least.value
        if regularity.least is not None and not (isinstance(least, int) and 1 <= least <= periods.value):
            raise self.error(
                f"'at least {least} of the last {periods.value}' needs a whole number from 1 to {periods.value}",
                regularity.least,
            )
        return ir.Regular(self.event_set(subject, node.window), unit, periods.value, least, node.span)


def _weekday_numbers(test: s.Test, binder) -> s.Test:
    """``weekday in (sat, sun)`` -> ``weekday in (6, 7)``: weekday names as the numbers they stand for."""

    def number(value):
        if not (isinstance(value, s.Lit) and value.kind in ("word", "string")):
            return value
        name = str(value.value).lower()
        if name not in ir.WEEKDAYS:
            raise binder.name_error(
                f"'{value.value}' is not a weekday",
                value,
                suggestions=did_you_mean(name, ir.WEEKDAYS, cutoff=0.5),
                hint="weekdays: mon tue wed thu fri sat sun (or 1 to 7, Monday first)",
            )
        return s.Lit("number", ir.WEEKDAYS.index(name) + 1, value.span)

    match test:
        case s.Compare(right=right):
            return dataclasses.replace(test, right=number(right))
        case s.Between(low=low, high=high):
            return dataclasses.replace(test, low=number(low), high=number(high))
        case s.InList(values=values):
            return dataclasses.replace(test, values=tuple(number(v) for v in values))
    return test
