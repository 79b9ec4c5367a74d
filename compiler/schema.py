"""What a store holds and what rules may name: attributes, event types with their verbs and properties, definitions.

A schema comes from a TOML file, a dict of the same shape, or (``runtime/infer.py``) from data::

    [contacts]
    id = "contact_id"                    # the column of external ids (int or string)

    [contacts.attributes]
    gender = { type = "category", values = ["f", "m", "x"] }   # a string with a closed set of values
    city = "string"
    birth_date = "date"
    tags = "tags"

    [events.email_open]
    verb = "opened"                      # the word rules use; defaults to the event type's name
    [events.email_open.properties]
    device = { type = "category", values = ["ios", "android", "desktop"] }

    [definitions]
    ios_open = "opened device=ios"

Every name a rule can use alone (attribute, verb, definition) must be unique across all three kinds, must look like
an identifier and must not be a keyword of the language; the schema refuses otherwise, naming both uses.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SchemaError
from .types import STORABLE, TYPE_ALIASES, Type

# The language's reserved words (kept equal to the grammar's keywords by tests/test_grammar.py).
KEYWORDS = frozenset({
    "and", "or", "not", "true", "false", "null", "is", "in", "has", "any", "all",
    "contains", "startswith", "endswith", "within", "between", "since", "before", "ago", "times",
})

IDENTIFIER = re.compile(r"[^\W\d]\w*\Z")  # the grammar's NAME: letters (any script), digits, _


@dataclass(frozen=True, slots=True)
class Field:
    """An attribute of contacts or a property of events. ``values`` closes a string field to a set of categories."""

    name: str
    type: Type
    values: tuple[str, ...] | None = None

    @property
    def is_category(self) -> bool:
        return self.values is not None


@dataclass(frozen=True, slots=True)
class EventType:
    name: str
    verb: str
    properties: Mapping[str, Field]
    timestamp: str = "timestamp"  # the timestamp column's name in files


@dataclass(frozen=True)
class Schema:
    attributes: Mapping[str, Field]
    events: Mapping[str, EventType]
    definitions: Mapping[str, str] = field(default_factory=dict)
    id_column: str = "contact_id"
    # Per-schema memo for later stages (the bound definitions); not part of the schema's value.
    cache: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_names(self)

    # -- look-ups ------------------------------------------------------------------------------------------
    @property
    def verbs(self) -> dict[str, EventType]:
        return {event.verb: event for event in self.events.values()}

    def event_by_verb(self, verb: str) -> EventType | None:
        return self.verbs.get(verb)

    # -- construction --------------------------------------------------------------------------------------
    @classmethod
    def from_toml(cls, path: str | Path) -> Schema:
        path = Path(path)
        try:
            with path.open("rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError:
            raise SchemaError(f"schema file not found: {path}") from None
        except tomllib.TOMLDecodeError as error:
            raise SchemaError(f"{path}: not valid TOML: {error}") from None
        try:
            return cls.from_dict(data)
        except SchemaError as error:
            raise SchemaError(f"{path}: {error}") from None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schema:
        unknown = set(data) - {"contacts", "events", "definitions"}
        if unknown:
            raise SchemaError(f"unknown section(s) {sorted(unknown)}; expected contacts, events, definitions")
        contacts = dict(data.get("contacts", {}))
        id_column = contacts.pop("id", "contact_id")
        attributes = {
            name: _field(name, spec, "attribute") for name, spec in dict(contacts.pop("attributes", {})).items()
        }
        if contacts:
            raise SchemaError(f"unknown key(s) {sorted(contacts)} in [contacts]; expected id, attributes")
        events = {}
        for name, spec in dict(data.get("events", {})).items():
            spec = dict(spec)
            verb = spec.pop("verb", name)
            timestamp = spec.pop("timestamp", "timestamp")
            properties = {
                prop: _field(prop, prop_spec, f"property of event '{name}'")
                for prop, prop_spec in dict(spec.pop("properties", {})).items()
            }
            if spec:
                raise SchemaError(
                    f"unknown key(s) {sorted(spec)} in [events.{name}]; expected verb, timestamp, properties"
                )
            events[name] = EventType(name, verb, properties, timestamp)
        definitions = {}
        for name, text in dict(data.get("definitions", {})).items():
            if not isinstance(text, str):
                raise SchemaError(f"definition '{name}' must be rule text (a string), not {type(text).__name__}")
            definitions[name] = text
        return cls(attributes, events, definitions, id_column)

    def to_dict(self) -> dict[str, Any]:
        """The dict (and TOML) form; ``Schema.from_dict(s.to_dict()) == s``."""

        def spec(f: Field) -> Any:
            if f.values is not None:
                return {"type": "category", "values": list(f.values)}
            return f.type.value

        return {
            "contacts": {"id": self.id_column, "attributes": {n: spec(f) for n, f in self.attributes.items()}},
            "events": {
                name: {
                    "verb": e.verb,
                    "timestamp": e.timestamp,
                    "properties": {n: spec(f) for n, f in e.properties.items()},
                }
                for name, e in self.events.items()
            },
            "definitions": dict(self.definitions),
        }

    def with_definitions(self, **definitions: str) -> Schema:
        return Schema(self.attributes, self.events, {**self.definitions, **definitions}, self.id_column)


def _field(name: str, spec: Any, what: str) -> Field:
    values = None
    if isinstance(spec, Mapping):
        spec = dict(spec)
        type_name = spec.pop("type", None)
        values = spec.pop("values", None)
        if spec:
            raise SchemaError(f"{what} '{name}': unknown key(s) {sorted(spec)}; expected type, values")
    else:
        type_name = spec
    if not isinstance(type_name, str) or type_name.lower() not in TYPE_ALIASES:
        allowed = ", ".join(sorted(TYPE_ALIASES))
        raise SchemaError(f"{what} '{name}': unknown type {type_name!r}; expected one of {allowed}")
    type_ = TYPE_ALIASES[type_name.lower()]
    assert type_ in STORABLE
    if values is not None:
        if type_ is not Type.STRING:
            raise SchemaError(f"{what} '{name}': 'values' is only for category (string) fields, not {type_}")
        if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
            raise SchemaError(f"{what} '{name}': 'values' must be a list of strings")
        if len(set(values)) != len(values):
            raise SchemaError(f"{what} '{name}': 'values' lists a value twice")
        values = tuple(values)
    return Field(name, type_, values)


def _check_names(schema: Schema) -> None:
    """Every name usable alone in a rule is an identifier, not a keyword, and means exactly one thing."""
    owners: dict[str, str] = {}

    def claim(name: str, what: str) -> None:
        if not IDENTIFIER.match(name):
            raise SchemaError(f"{what} name {name!r} is not usable in rules: use letters, digits and _")
        if name.lower() in KEYWORDS:
            raise SchemaError(f"{what} name {name!r} is a keyword of the rule language; rename it")
        if name in owners:
            raise SchemaError(f"'{name}' is both {owners[name]} and {what}; a name must mean one thing")
        owners[name] = what

    for name in schema.attributes:
        claim(name, f"attribute '{name}'")
    for event in schema.events.values():
        claim(event.verb, f"the verb of event type '{event.name}'")
        for prop in event.properties:
            if not IDENTIFIER.match(prop) or prop.lower() in KEYWORDS:
                raise SchemaError(f"property {prop!r} of event '{event.name}' is not usable in rules")
    for name in schema.definitions:
        claim(name, f"definition '{name}'")
