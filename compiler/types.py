"""The closed set of value types a rule can produce or a store can hold.

Every IR node carries one of these. Storage of each type in a contact store (``runtime/store/columns.py``):

=========  =====================================================  ==============================
type       meaning                                                numpy storage
=========  =====================================================  ==============================
BOOL       true / false                                           ``bool``
INT        64-bit integer                                         ``int64``
FLOAT      64-bit float                                           ``float64``
STRING     text; dictionary-encoded in a store                    ``int8/16/32`` codes into a dictionary
DATE       calendar day (UTC)                                     ``int32`` days since 1970-01-01
TIMESTAMP  instant (UTC)                                          ``int64`` microseconds since epoch
TAGS       set of strings (attributes only)                       CSR: ``int64`` offsets + ``int32`` codes
DURATION   span of time such as ``90d`` or ``1mo`` (rule values)  never stored
=========  =====================================================  ==============================

Nulls are represented by a separate validity mask, never by sentinel values.
"""

from __future__ import annotations

import datetime as dt
import enum


class Type(enum.Enum):
    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    STRING = "string"
    DATE = "date"
    TIMESTAMP = "timestamp"
    TAGS = "tags"
    DURATION = "duration"

    def __str__(self) -> str:
        return self.value

    @property
    def is_numeric(self) -> bool:
        return self in (Type.INT, Type.FLOAT)

    @property
    def is_temporal(self) -> bool:
        return self in (Type.DATE, Type.TIMESTAMP)


US_PER_SECOND = 1_000_000  # TIMESTAMP values are int64 microseconds since 1970-01-01T00:00:00Z
US_PER_DAY = 86_400 * US_PER_SECOND


def in_utc(moment: dt.datetime) -> dt.datetime:
    """``moment`` as an aware UTC datetime, a naive one taken as UTC: every TIMESTAMP value, literal, parameter and
    ``now``. Raises ValueError when it leaves years 1 to 9999 once in UTC (``0001-01-01T00:00:00+14:00``)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError(f"{moment.isoformat()} is outside years 1 to 9999 in UTC") from None


def iso_z(moment: dt.datetime, timespec: str = "auto") -> str:
    """``moment`` in UTC as ISO 8601 with a "Z" (``2026-10-01T12:00:00Z``; microseconds only when it has some,
    unless ``timespec`` says otherwise): how segmint writes every timestamp, in rules, documents and reports.
    isoformat, not strftime: %Y gives "5" for the year 5 on some platforms, which does not parse back."""
    return in_utc(moment).isoformat(timespec=timespec).replace("+00:00", "Z")

# Types a schema may declare for attributes and event properties ("category" is a string with a closed value set).

STORABLE = (Type.BOOL, Type.INT, Type.FLOAT, Type.STRING, Type.DATE, Type.TIMESTAMP, Type.TAGS)

# Aliases accepted in schema files, for people who think in SQL or Arrow names.
TYPE_ALIASES = {
    "bool": Type.BOOL,
    "boolean": Type.BOOL,
    "int": Type.INT,
    "integer": Type.INT,
    "int64": Type.INT,
    "float": Type.FLOAT,
    "double": Type.FLOAT,
    "float64": Type.FLOAT,
    "string": Type.STRING,
    "str": Type.STRING,
    "category": Type.STRING,
    "categorical": Type.STRING,
    "date": Type.DATE,
    "timestamp": Type.TIMESTAMP,
    "datetime": Type.TIMESTAMP,
    "tags": Type.TAGS,
}


def comparable(left: Type, right: Type) -> bool:
    """Whether ``left OP right`` is meaningful for the ordering and equality operators.

    Numbers compare with numbers, dates and timestamps with each other (a date meeting a timestamp means its
    whole day, UTC: the ``whole_days`` pass), strings with strings, booleans with booleans.
    """
    if left.is_numeric and right.is_numeric:
        return True
    if left.is_temporal and right.is_temporal:
        return True
    return left == right and left in (Type.STRING, Type.BOOL)


def arithmetic_result(op: str, left: Type, right: Type) -> Type | None:
    """The type of ``left op right`` for ``+ - * /``, or None when the operands do not support it."""
    if not (left.is_numeric and right.is_numeric):
        return None
    if op == "/" or Type.FLOAT in (left, right):
        return Type.FLOAT
    return Type.INT
