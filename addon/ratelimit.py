"""Rate limits on what anyone on the internet can reach (a pay-later link's page and its checkout).

Built on the ``limits`` library's moving windows. Each rule is (name, limit such as "30/minute", who): one budget
per address and one per token, so neither many tokens from one address nor many addresses on one token get
through. Storage is this process's memory: with several workers each holds its own budget, which multiplies the
limits by the number of workers but never lets one worker be flooded; a Redis storage slots in here if needed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from addon.errors import RateLimited

TOO_MANY = "Too many tries in a short time. Wait {wait} and try again."


def _wait_words(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


class RateLimits:
    def __init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._items: dict[str, RateLimitItem] = {}

    def _item(self, limit: str) -> RateLimitItem:
        if limit not in self._items:
            self._items[limit] = parse(limit)
        return self._items[limit]

    async def check(self, rules: Sequence[tuple[str, str, str]]) -> None:
        """Count one try against every rule; the first one over its limit raises :class:`RateLimited`."""
        for name, limit, who in rules:
            item = self._item(limit)
            if not await self._limiter.hit(item, name, who):
                stats = await self._limiter.get_window_stats(item, name, who)
                wait = max(1, math.ceil(stats.reset_time - time.time()))
                raise RateLimited(TOO_MANY.format(wait=_wait_words(wait)), retry_after=wait)
