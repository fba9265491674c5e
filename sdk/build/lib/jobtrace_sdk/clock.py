"""Clocks: the wall clock for real jobs, a simulated one for replays (the demo produces weeks in seconds).

Every span and record time the SDK writes comes from `Clock.now_ns()`, so a simulated clock yields spans
with explicit start and end times and records with matching timestamps, without sleeping.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int: ...


class WallClock:
    def now_ns(self) -> int:
        return time.time_ns()


class SimClock:
    """A clock that only moves when told to: `advance(seconds)` or `set(datetime)`."""

    def __init__(self, start: datetime | int) -> None:
        self._ns = start if isinstance(start, int) else to_ns(start)

    def now_ns(self) -> int:
        return self._ns

    def advance(self, seconds: float) -> int:
        if seconds < 0:
            raise ValueError("a simulated clock does not go backwards")
        self._ns += int(seconds * 1_000_000_000)
        return self._ns

    def set(self, when: datetime | int) -> None:
        self._ns = when if isinstance(when, int) else to_ns(when)

    def now(self) -> datetime:
        return from_ns(self._ns)


def to_ns(when: datetime) -> int:
    if when.tzinfo is None:
        raise ValueError("naive datetimes are not accepted; give a timezone")
    return int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000


def from_ns(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC).replace(microsecond=(ns % 1_000_000_000) // 1000)


def rfc3339(ns: int) -> str:
    """RFC 3339 with microseconds and a Z, as the record API takes it."""
    return from_ns(ns).isoformat().replace("+00:00", "Z")
