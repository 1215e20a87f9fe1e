"""Time as an injectable dependency, so tests can freeze and move it.

All timestamps are timezone-aware UTC datetimes or integer milliseconds since the epoch.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Return the current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to (tests, simulations)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when.astimezone(UTC)


def to_ms(when: datetime) -> int:
    """Return ``when`` as integer UTC milliseconds since the epoch."""
    if when.tzinfo is None:
        raise ValueError("naive datetime: attach tzinfo=UTC before converting")
    return int(when.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    """Return the UTC datetime for integer milliseconds since the epoch."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
