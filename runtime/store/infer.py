"""A schema from data, for a first look at a data set without writing one: types from the Arrow columns, verbs from
the event type names, and string columns with few distinct values as categories."""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from ...compiler.schema import Schema
from ...dsl.errors import DataError

CATEGORY_LIMIT = 64  # a string column with at most this many distinct values becomes a category


def infer_schema(contacts: pa.Table, events: Mapping[str, pa.Table], id_column: str = "contact_id") -> Schema:
    attributes = {n: _spec(contacts.column(n), n) for n in contacts.column_names if n != id_column}
    event_specs = {}
    for name, table in events.items():
        properties = {n: _spec(table.column(n), n) for n in table.column_names if n not in (id_column, "timestamp")}
        event_specs[name] = {"verb": name, "properties": properties}
    return Schema.from_dict({"contacts": {"id": id_column, "attributes": attributes}, "events": event_specs})


def _spec(array: pa.ChunkedArray, name: str):
    t = array.type
    if pa.types.is_dictionary(t):
        t = t.value_type
        array = array.cast(t)
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return "tags"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        distinct = array.unique().drop_null()
        if len(distinct) <= CATEGORY_LIMIT and len(distinct) < max(len(array), 1):
            return {"type": "category", "values": sorted(distinct.to_pylist())}
        return "string"
    raise DataError(f"cannot infer a segmint type from {t}", column=name)
