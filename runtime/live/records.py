"""What the segment registry (live/registry.py) keeps and gives back: a segment's definition, a change delivered to
consumers, a point of a segment's size history, alert thresholds, a segment's split."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .splits import Split


@dataclass(frozen=True)
class Definition:
    """A registered segment as it is now (``version`` counts its edits from 1)."""

    name: str
    rule: str
    description: str
    params: Mapping[str, object]
    version: int
    created_at: str
    updated_at: str
    refreshed_seq: int | None = None
    refreshed_at: str | None = None
    refresh_seconds: float | None = None
    last_error: str | None = None
    exclude_control: bool = False  # members never include the registry's global control group


@dataclass(frozen=True)
class Change:
    """A contact that entered or left a segment at refresh ``seq`` (idempotency key: ``(seq, segment, id)``).

    ``cause`` is ``new`` (the segment's first refresh), ``edit`` (its rule changed since the previous refresh),
    ``data`` (the store changed: new contacts or events; time may have passed too) or ``time`` (same store, a later
    ``now``: windows slid, ages turned)."""

    seq: int
    segment: str
    id: object
    change: str  # "entered" or "left"
    now: str
    cause: str

    def to_dict(self) -> dict:
        return {"seq": self.seq, "segment": self.segment, "id": self.id, "change": self.change, "now": self.now,
                "cause": self.cause}


@dataclass(frozen=True)
class SizePoint:
    """One refresh of one segment: its size after it, how many entered and left, why, how long it took, and the
    alerts that fired."""

    seq: int
    now: str
    version: int
    size: int
    entered: int
    left: int
    cause: str
    seconds: float
    alerts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Alert:
    """Thresholds on a segment's size, checked at every refresh: below ``below``, above ``above``, or a change of
    more than ``change`` (a fraction: 0.2 = 20%) against the size after the previous refresh."""

    below: int | None = None
    above: int | None = None
    change: float | None = None

    def check(self, before: int | None, size: int) -> list[str]:
        fired = []
        if self.below is not None and size < self.below:
            fired.append(f"size {size} is below {self.below}")
        if self.above is not None and size > self.above:
            fired.append(f"size {size} is above {self.above}")
        if self.change is not None and before is not None and before != size:
            moved = abs(size - before) / before if before else float("inf")
            if moved > self.change:
                fired.append(f"size changed from {before} to {size} ({(size - before) / before:+.0%})" if before
                             else f"size changed from 0 to {size}")
        return fired


@dataclass(frozen=True)
class SplitOf:
    """A segment's split as stored: the groups and salt (live/splits.py) and a version that changes whenever the
    split or the segment's rule does (its groups' changes then have cause ``edit``)."""

    split: Split
    version: int
