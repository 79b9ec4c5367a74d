"""Binding population-relative measures (issue 13): ``percentile``, ``quintile``, ``decile`` of a contact's measure,
and ``rfm`` (with ``rfm_r``, ``rfm_f``, ``rfm_m`` for one letter) of an event set's property.

A mixin of the binder (compiler/binder.py), which sends these calls here; their IR is ``ir.Rank`` and ``ir.Rfm``,
their exact meaning is in runtime/engines/ranks.py and docs/language.md.
"""

from __future__ import annotations

from ..dsl import syntax as s
from . import ir
from .types import Type

POPULATION_FUNCTIONS = (*ir.RANKS, *ir.RFM_PARTS)


class PopulationCalls:
    """``Binder.call`` for the functions of ``POPULATION_FUNCTIONS``."""

    def population_call(self, node: s.Call) -> ir.Expr:
        if node.function in ir.RANKS:
            return self.rank(node)
        return self.rfm(node)

    def rank(self, node: s.Call) -> ir.Rank:
        measure = self.value(node.argument)
        if not (measure.type.is_numeric or measure.type in (Type.DATE, Type.TIMESTAMP)):
            raise self.type_error(
                f"{node.function}() ranks numbers, dates or times, not {measure.type}",
                node.argument,
                hint=f"e.g. {node.function}(sum(bought.amount within 365d)), {node.function}(count(opened within 90d))",
            )
        result = Type.FLOAT if node.function == "percentile" else Type.INT
        return ir.Rank(node.function, measure, result, node.span)

    def rfm(self, node: s.Call) -> ir.Rfm:
        function, argument = node.function, node.argument
        argument, window = self.events_argument(argument)
        example = f"{function}(bought.amount within 365d)"
        if not (isinstance(argument, s.Subject) and argument.name in self.verbs):
            raise self.error(
                f"{function}() takes events and the property of their amount: a verb.property, filters and a window",
                node.argument,
                hint=f"e.g. {example}",
            )
        event = self.verbs[argument.name]
        if argument.prop is None:
            numeric = [p for p, f in event.properties.items() if f.type.is_numeric] or ["amount"]
            raise self.error(
                f"{function}() needs the property that measures the money (M)",
                argument,
                hint=f"e.g. {function}({argument.name}.{numeric[0]} ...)",
            )
        events, prop = self.each([lambda: self.event_set(argument, window),
                                  lambda: self.prop(event, argument.prop, argument)])
        if not prop.type.is_numeric:
            raise self.type_error(
                f"{function}() sums the property for M: it needs numbers, but {argument.name}.{prop.name} is "
                f"{prop.type}",
                argument,
            )
        return ir.Rfm(function, events, prop, node.span)
