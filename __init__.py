"""segmint: an embeddable rule language for customer segmentation with a compiled evaluator.

    schema = segmint.Schema.from_toml("schema.toml")
    store = segmint.Store.from_parquet("data/", schema)
    seg = segmint.compile("opened > 2 within 90d and (ios_open or bought brand = Apple)", schema)
    result = seg.evaluate(store, now=..., params={...})
    result.count, result.mask, result.ids()
    print(seg.explain(store, contact_id))
"""

from __future__ import annotations

from collections.abc import Mapping

from .compiler.pipeline import compile_rule
from .compiler.schema import Schema
from .compiler.serial import RuleFormatError
from .compiler.types import Type
from .dsl.errors import (
    DataError,
    ParamError,
    RuleError,
    RuleNameError,
    RuleSyntaxError,
    RuleTypeError,
    SchemaError,
    SegmintError,
)
from .runtime.explain import Explanation
from .runtime.live.refresh import RefreshReport
from .runtime.live.registry import Change, Registry, RegistryError
from .runtime.segment import Result, Segment, evaluate_many
from .runtime.store.columns import Store
from .runtime.store.partitioned import SavedStore

__version__ = "0.1.0"


def compile(rule: str | Mapping, schema: Schema) -> Segment:
    """Compile rule text (or a JSON rule document from ``Segment.to_json()``) against ``schema``.

    Raises ``RuleError`` (with line, column, caret, hints) for a rule that does not parse, names something the
    schema does not have, or mixes types.
    """
    return Segment.compile(rule, schema)


def format(rule: str, schema: Schema) -> str:
    """The canonical text of ``rule``: parsing it again gives the same rule."""
    return compile_rule(rule, schema).text


__all__ = [
    "Change",
    "DataError",
    "Explanation",
    "ParamError",
    "RefreshReport",
    "Registry",
    "RegistryError",
    "Result",
    "RuleError",
    "RuleFormatError",
    "RuleNameError",
    "RuleSyntaxError",
    "RuleTypeError",
    "SavedStore",
    "Schema",
    "SchemaError",
    "Segment",
    "SegmintError",
    "Store",
    "Type",
    "compile",
    "evaluate_many",
    "format",
]
