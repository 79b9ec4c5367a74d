"""What a store holds and what rules may name: attributes, event types with their verbs and properties, definitions.

A schema comes from a TOML file, a dict of the same shape, or (``runtime/store/infer.py``) from data::

    [contacts]
    id = "contact_id"                    # the column of external ids (int or string)
    timezone = "tz"                      # optional: the attribute holding each contact's IANA zone (Europe/Kyiv)
    default_timezone = "Europe/Kyiv"     # optional: the zone of contacts without one (else UTC)

    [contacts.attributes]
    gender = { type = "category", values = ["f", "m", "x"] }   # a string with a closed set of values
    city = "string"
    birth_date = "date"
    tags = "tags"

    [events.email_open]
    verb = "opened"                      # the word rules use; defaults to the event type's name
    optional = true                      # the data may have no events of this type (else a missing file is an error)
    [events.email_open.properties]
    device = { type = "category", values = ["ios", "android", "desktop"] }

    [definitions]
    ios_open = "opened device=ios"

Every name a rule can use alone (attribute, verb, definition) must be unique across all three kinds, must look like
an identifier and must not be a keyword of the language; the schema refuses otherwise, naming both uses. Event type
names are identifiers too, of at most 200 bytes and distinct ignoring case: they name files (``events/<type>.parquet``).
Anything of the wrong shape (a verb that is not a string, attributes given as a list) is a ``SchemaError`` naming it.
"""

from __future__ import annotations

import tomllib
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..dsl.errors import SchemaError
from ..dsl.lexicon import KEYWORDS, NAME
from .types import STORABLE, TYPE_ALIASES, Type

# An event type's file is events/<type>.parquet: the name and the suffix must fit a file name (255 bytes).
EVENT_NAME_BYTES = 200


@dataclass(frozen=True, slots=True)
class Field:
    """An attribute of contacts or a property of events. ``values`` closes a string field to a set of categories."""

    name: str
    type: Type
    values: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class EventType:
    name: str
    verb: str
    properties: Mapping[str, Field]
    timestamp: str = "timestamp"  # the timestamp column's name in files
    optional: bool = False  # the type may have no events at all (no file, no table); else that is a DataError


@dataclass(frozen=True)
class Schema:
    attributes: Mapping[str, Field]
    events: Mapping[str, EventType]
    definitions: Mapping[str, str] = field(default_factory=dict)
    id_column: str = "contact_id"
    # -- time zones (docs/language.md, "Time zones"): the attribute holding each contact's IANA zone, and the zone of
    # contacts without one (None: UTC)
    timezone: str | None = None
    default_timezone: str | None = None
    # Per-schema memo for later stages (the bound definitions); not part of the schema's value.
    cache: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_names(self)
        _check_zones(self)

    # -- look-ups ------------------------------------------------------------------------------------------
    @property
    def verbs(self) -> dict[str, EventType]:
        return {event.verb: event for event in self.events.values()}

    @property
    def zoned(self) -> bool:
        """Whether contacts may be in a time zone other than UTC (then dates are local days: compiler/passes.py)."""
        return self.timezone is not None or self.default_timezone not in (None, "UTC")

    # -- construction --------------------------------------------------------------------------------------
    @classmethod
    def from_toml(cls, path: str | Path) -> Schema:
        path = Path(path)
        try:
            with path.open("rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError:
            raise SchemaError(f"schema file not found: {path}") from None
        except OSError as error:
            raise SchemaError(f"cannot read the schema file {path}: {error.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise SchemaError(f"{path}: not valid TOML: {error}") from None
        try:
            return cls.from_dict(data)
        except SchemaError as error:
            raise SchemaError(f"{path}: {error}") from None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schema:
        data = _mapping(data, "the schema")
        unknown = set(data) - {"contacts", "events", "definitions"}
        if unknown:
            raise SchemaError(f"unknown section(s) {sorted(map(str, unknown))}; expected contacts, events, definitions")
        contacts = dict(_mapping(data.get("contacts", {}), "[contacts]"))
        id_column = _text(contacts.pop("id", "contact_id"), "'id' in [contacts]")
        timezone, default_timezone = _zones(contacts)
        attributes = {
            name: _field(name, spec, "attribute")
            for name, spec in _mapping(contacts.pop("attributes", {}), "[contacts.attributes]").items()
        }
        if contacts:
            raise SchemaError(
                f"unknown key(s) {sorted(map(str, contacts))} in [contacts]; expected id, attributes, timezone, "
                "default_timezone"
            )
        events = {}
        for name, spec in _mapping(data.get("events", {}), "[events]").items():
            where = f"[events.{name}]"
            spec = dict(_mapping(spec, where))
            verb = _text(spec.pop("verb", name), f"'verb' in {where}")
            timestamp = _text(spec.pop("timestamp", "timestamp"), f"'timestamp' in {where}")
            optional = spec.pop("optional", False)
            if not isinstance(optional, bool):
                raise SchemaError(f"'optional' in {where} must be true or false, not {optional!r}")
            properties = {
                prop: _field(prop, prop_spec, f"property of event '{name}'")
                for prop, prop_spec in _mapping(spec.pop("properties", {}), f"[events.{name}.properties]").items()
            }
            if spec:
                raise SchemaError(
                    f"unknown key(s) {sorted(map(str, spec))} in {where}; expected verb, timestamp, optional, "
                    "properties"
                )
            events[name] = EventType(name, verb, properties, timestamp, optional)
        definitions = {}
        for name, text in _mapping(data.get("definitions", {}), "[definitions]").items():
            if not isinstance(text, str):
                raise SchemaError(f"definition '{name}' must be rule text (a string), not {type(text).__name__}")
            definitions[name] = text
        return cls(attributes, events, definitions, id_column, timezone, default_timezone)

    def to_dict(self) -> dict[str, Any]:
        """The dict (and TOML) form; ``Schema.from_dict(s.to_dict()) == s``."""

        def spec(f: Field) -> Any:
            if f.values is not None:
                return {"type": "category", "values": list(f.values)}
            return f.type.value

        zones = {"timezone": self.timezone} if self.timezone else {}
        zones |= {"default_timezone": self.default_timezone} if self.default_timezone else {}
        return {
            "contacts": {
                "id": self.id_column, **zones, "attributes": {n: spec(f) for n, f in self.attributes.items()}
            },
            "events": {
                name: {
                    "verb": e.verb,
                    "timestamp": e.timestamp,
                    **({"optional": True} if e.optional else {}),
                    "properties": {n: spec(f) for n, f in e.properties.items()},
                }
                for name, e in self.events.items()
            },
            "definitions": dict(self.definitions),
        }

    def with_definitions(self, **definitions: str) -> Schema:
        return Schema(
            self.attributes, self.events, {**self.definitions, **definitions}, self.id_column, self.timezone,
            self.default_timezone,
        )


def _mapping(value: Any, where: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise SchemaError(f"{where} must be a table of names, not {_kind(value)}")
    return value


def _text(value: Any, where: str) -> str:
    """A name or value of the schema: text that data can hold (UTF-8: a lone surrogate is not text)."""
    if not isinstance(value, str):
        raise SchemaError(f"{where} must be a string, not {_kind(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise SchemaError(f"{where} is not valid text (it holds a lone surrogate): {value!r}") from None
    return value


def _kind(value: Any) -> str:
    return "null" if value is None else f"{type(value).__name__} {value!r}"[:60]


def _field(name: str, spec: Any, what: str) -> Field:
    values = None
    if isinstance(spec, Mapping):
        spec = dict(spec)
        type_name = spec.pop("type", None)
        values = spec.pop("values", None)
        if spec:
            raise SchemaError(f"{what} '{name}': unknown key(s) {sorted(map(str, spec))}; expected type, values")
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
        for value in values:
            _text(value, f"{what} '{name}': a value")
        if len(set(values)) != len(values):
            raise SchemaError(f"{what} '{name}': 'values' lists a value twice")
        values = tuple(values)
    return Field(name, type_, values)


def _check_names(schema: Schema) -> None:
    """Every name usable alone in a rule is an identifier, not a keyword, and means exactly one thing; event type
    names are identifiers too (they name files: ``events/<type>.parquet``), short enough for a file name, and
    distinct even ignoring case (file systems that ignore case would give two types one file)."""
    owners: dict[str, str] = {}

    def claim(name: Any, what: str) -> None:
        if not isinstance(name, str) or not NAME.match(name):
            raise SchemaError(f"{what} name {name!r} is not usable in rules: use letters, digits and _")
        if name.lower() in KEYWORDS:
            raise SchemaError(f"{what} name {name!r} is a keyword of the rule language; rename it")
        if name in owners:
            raise SchemaError(f"'{name}' is both {owners[name]} and {what}; a name must mean one thing")
        owners[name] = what

    for name in schema.attributes:
        claim(name, f"attribute '{name}'")
    folded: dict[str, str] = {}
    for name, event in schema.events.items():
        if not isinstance(name, str) or not NAME.match(name) or len(name.encode()) > EVENT_NAME_BYTES:
            raise SchemaError(
                f"event type name {name!r} is not usable: use letters, digits and _ (at most {EVENT_NAME_BYTES} "
                "bytes in UTF-8; it names the file events/<type>.parquet)"
            )
        if name.casefold() in folded:
            raise SchemaError(f"event types '{folded[name.casefold()]}' and '{name}' differ only in case; their "
                              "files would be one on some file systems")
        folded[name.casefold()] = name
        claim(event.verb, f"the verb of event type '{event.name}'")
        for prop in event.properties:
            if not isinstance(prop, str) or not NAME.match(prop) or prop.lower() in KEYWORDS:
                raise SchemaError(f"property {prop!r} of event '{event.name}' is not usable in rules")
    for name in schema.definitions:
        claim(name, f"definition '{name}'")


# -- time zones ----------------------------------------------------------------------------------------------------
def _zones(contacts: dict) -> tuple[str | None, str | None]:
    """``timezone`` (an attribute's name) and ``default_timezone`` (an IANA zone) of [contacts], both optional."""
    timezone = contacts.pop("timezone", None)
    default = contacts.pop("default_timezone", None)
    return (
        None if timezone is None else _text(timezone, "'timezone' in [contacts]"),
        None if default is None else _text(default, "'default_timezone' in [contacts]"),
    )


def _check_zones(schema: Schema) -> None:
    """The zone attribute is a string attribute of contacts; the default zone is one zoneinfo knows."""
    if schema.timezone is not None:
        spec = schema.attributes.get(schema.timezone)
        if spec is None:
            raise SchemaError(
                f"'timezone' in [contacts] names '{schema.timezone}', which is not an attribute; declare it, e.g. "
                f'{schema.timezone} = "string"'
            )
        if spec.type is not Type.STRING:
            raise SchemaError(
                f"'timezone' in [contacts] names '{schema.timezone}', a {spec.type} attribute; it must be a string "
                "holding IANA zone names such as Europe/Kyiv"
            )
    if schema.default_timezone is not None and not known_zone(schema.default_timezone):
        raise SchemaError(
            f"'default_timezone' in [contacts] is {schema.default_timezone!r}, not a time zone zoneinfo knows; use an "
            "IANA name such as Europe/Kyiv or UTC"
        )


def known_zone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone that zoneinfo (with the tzdata package) can load."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True
