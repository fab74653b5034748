"""The sandbox's one clock: what ``created``, ``capture_before`` and every timed change read, and what tests move
forward (``POST /_sandbox/clock/advance``) to expire a card hold or settle a refund without sleeping.

Each sandbox app has its own clock; the request being handled (and whatever it schedules) sees it through a
context variable, so objects built anywhere take their times from the right sandbox.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Handler

log = logging.getLogger(__name__)


@dataclass(order=True)
class _Timer:
    due: float
    order: int
    action: Callable[[], None] = field(compare=False)
    context: contextvars.Context = field(compare=False)


class Clock:
    """Wall time plus an offset that only grows; timers fire when the clock passes them, by waiting or advancing."""

    def __init__(self) -> None:
        self.offset = 0.0
        self._timers: list[_Timer] = []
        self._order = itertools.count()
        self._wakeup: asyncio.TimerHandle | None = None

    def time(self) -> float:
        return time.time() + self.offset

    def now(self) -> int:
        return int(self.time())

    def at(self, due: float, action: Callable[[], None]) -> None:
        """Run ``action`` once the clock reads ``due`` (at once if it already does), in the caller's context."""
        heapq.heappush(self._timers, _Timer(due, next(self._order), action, contextvars.copy_context()))
        self._schedule()

    def after(self, seconds: float, action: Callable[[], None]) -> None:
        self.at(self.time() + seconds, action)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the sandbox's clock only moves forward")
        self.offset += seconds
        self._fire_due()

    def reset(self) -> None:
        self.offset = 0.0
        self._timers.clear()
        self._cancel_wakeup()

    @property
    def pending(self) -> int:
        return len(self._timers)

    def _fire_due(self) -> None:
        self._cancel_wakeup()
        while self._timers and self._timers[0].due <= self.time():
            timer = heapq.heappop(self._timers)
            try:
                timer.context.run(timer.action)
            except Exception:
                log.exception("sandbox timer failed")
        self._schedule()

    def _schedule(self) -> None:
        self._cancel_wakeup()
        if not self._timers:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a unit test building objects): timers fire on the next advance
        delay = max(0.0, self._timers[0].due - self.time())
        self._wakeup = loop.call_later(delay, self._fire_due)

    def _cancel_wakeup(self) -> None:
        if self._wakeup is not None:
            self._wakeup.cancel()
            self._wakeup = None


_REAL = Clock()
_CURRENT: contextvars.ContextVar[Clock] = contextvars.ContextVar("sandbox_clock", default=_REAL)


def current() -> Clock:
    return _CURRENT.get()


def use(clock: Clock) -> None:
    """Make ``clock`` the one this context (a request, and what it schedules) reads."""
    _CURRENT.set(clock)


CLOCK = web.AppKey("sandbox_clock", Clock)


@web.middleware
async def clock_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    use(request.app[CLOCK])
    return await handler(request)
