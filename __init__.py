"""segmint: an embeddable rule language for customer segmentation with a compiled evaluator."""

from .compiler.errors import (
    DataError,
    ParamError,
    RuleError,
    RuleNameError,
    RuleSyntaxError,
    RuleTypeError,
    SchemaError,
    SegmintError,
)
from .compiler.schema import Schema
from .compiler.types import Type
from .runtime.store import Store

__all__ = [
    "DataError",
    "ParamError",
    "RuleError",
    "RuleNameError",
    "RuleSyntaxError",
    "RuleTypeError",
    "Schema",
    "SchemaError",
    "SegmintError",
    "Store",
    "Type",
]
__version__ = "0.1.0"
