"""The one clock that time-bound logic (pay-later links' expiry and reminders) reads.

Services take a :class:`Clock` instead of calling ``datetime.now``, and the app keeps one on ``CLOCK``; tests put a
:class:`ManualClock` there and move time forward instead of sleeping.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that stands still until told to move."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, by: timedelta) -> datetime:
        self._now += by
        return self._now

    def set(self, to: datetime) -> None:
        self._now = to


SYSTEM = SystemClock()


class OffsetClock:
    """The system's time plus an offset that only grows: a demo moves it forward (to an instalment's date, say)
    while everything else keeps ticking as usual."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance_to(self, when: datetime) -> timedelta:
        """Move forward so that it reads ``when`` now (never back); returns how far it moved."""
        step = max(when - self.now(), timedelta(0))
        self.offset += step
        return step
