"""Typed IR <-> JSON, for rule builders that store and exchange rules.

The document is ``{"format": "segmint.rule", "version": 1, "text": <canonical text>, "rule": <node>}``; a node
is an object ``{"node": <class name>, <field>: <value>, ...}`` with the IR's own field names. Values: types by
name ("int"), dates and timestamps as ISO text in ``{"date": ...}`` / ``{"timestamp": ...}``, durations as
``{"duration": "90d"}``. Readers must reject a ``version`` they do not know; ``from_document`` does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from ..dsl.errors import SegmintError
from ..dsl.limits import MAX_DOCUMENT_DEPTH
from . import ir
from .types import Type, in_utc, iso_z

FORMAT = "segmint.rule"
VERSION = 1

_NODES = {
    cls.__name__: cls
    for cls in (
        ir.Const, ir.Param, ir.Attr, ir.Prop, ir.AllTime, ir.Within, ir.Since, ir.Before, ir.BeforeAgo,
        ir.DateRange, ir.EventSet, ir.Exists, ir.Count, ir.Aggregate, ir.Arith, ir.Negate, ir.Func,
        ir.ToTimestamp, ir.Compare, ir.InRange, ir.InSet, ir.IsNull, ir.TextMatch, ir.HasTags, ir.InWindow,
        ir.And, ir.Or, ir.Not, ir.Ref,
        ir.Rank, ir.Rfm,
        ir.Step, ir.Sequence, ir.SequenceCount,
        ir.TimePart, ir.Upcoming, ir.Regular,
    )
}


class RuleFormatError(SegmintError):
    """A JSON rule document that is not one segmint can read."""


def to_document(node: ir.Expr, text: str) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "text": text, "rule": to_json(node)}


def to_json(node) -> Any:
    if isinstance(node, tuple):
        return [to_json(item) for item in node]
    if isinstance(node, Type):
        return node.value
    if isinstance(node, ir.Duration):
        return {"duration": str(node)}
    if isinstance(node, dt.datetime):
        return {"timestamp": iso_z(node)}
    if isinstance(node, dt.date):
        return {"date": node.isoformat()}
    if dataclasses.is_dataclass(node):
        out = {"node": type(node).__name__}
        for f in dataclasses.fields(node):
            if f.name != "span":
                out[f.name] = to_json(getattr(node, f.name))
        return out
    return node


def from_document(document: Any) -> ir.Expr:
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise RuleFormatError(f"not a segmint rule document (expected \"format\": \"{FORMAT}\")")
    if document.get("version") != VERSION:
        raise RuleFormatError(f"rule document version {document.get('version')!r} is not supported (this is {VERSION})")
    if "rule" not in document:
        raise RuleFormatError('malformed rule document: it has no "rule"')
    _check_depth(document["rule"])
    try:
        return from_json(document["rule"])
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as error:
        raise RuleFormatError(f"malformed rule document: {error}") from None


def _check_depth(data: Any) -> None:
    """``from_json`` and every later stage recurse: refuse documents nested deeper than any rule can be (measured
    without recursion; a structure that contains itself is found too)."""
    stack = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DOCUMENT_DEPTH:
            raise RuleFormatError(f"malformed rule document: nested more than {MAX_DOCUMENT_DEPTH} levels deep")
        if isinstance(item, dict):
            stack.extend((value, depth + 1) for value in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((value, depth + 1) for value in item)


def from_json(data: Any) -> Any:
    if isinstance(data, list):  # a loop, not a generator: one frame a level (nesting is bounded by _check_depth)
        items = []
        for item in data:
            items.append(from_json(item))
        return tuple(items)
    if not isinstance(data, dict):
        return data
    if "node" not in data:
        ((kind, text),) = data.items()
        match kind:
            case "duration":
                amount, unit = text[: len(text.rstrip("abcdefghijklmnopqrstuvwxyz"))], text.lstrip("0123456789")
                if unit not in ir.Duration.UNITS:
                    raise ValueError(f"unknown duration unit in {text!r}")
                return ir.Duration(int(amount), unit)
            case "timestamp":
                value = dt.datetime.fromisoformat(text)
                return in_utc(value)
            case "date":
                return dt.date.fromisoformat(text)
        raise ValueError(f"unknown value {data!r}")
    cls = _NODES.get(data["node"])
    if cls is None:
        raise ValueError(f"unknown node {data['node']!r}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name == "span" or f.name not in data:
            continue
        value = from_json(data[f.name])
        kwargs[f.name] = Type(value) if f.name == "type" else value
    return cls(**kwargs)
