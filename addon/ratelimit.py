"""Rate limits on what costs Callpay (or Stripe) something, or could be guessed at: launches, checkouts, the
clinician's socket actions, pay-later pages, downloads.

Built on the ``limits`` library's moving windows. Each rule has a name and a budget (``RULES`` below, each settable
with ``CALLPAY_RATE_LIMITS``) and is counted per "who": an address, a signed-in user, a session, a link's token.
Storage is this process's memory with one worker; with ``CALLPAY_REDIS_URL`` set it is Redis, so several workers
share one count (keys are prefixed per database, as the Socket.IO channel is, so separate deployments or test
runs sharing a Redis never count against each other). Should Redis fail, the check lets the request through and
logs it: a rate limit must never be the reason a patient can't pay.

The budgets are generous for real use (a busy call, a clinic behind one address, the test suite) and tight enough
that a script can't run up Stripe calls or guess at tokens.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from addon.errors import RateLimited

log = logging.getLogger("callpay.ratelimit")
TOO_MANY = "Too many tries in a short time. Wait {wait} and try again."

# name -> (default budget, what it counts, per whom). The README's settings table lists the same.
RULES: dict[str, tuple[str, str]] = {
    "launch-ip": ("300/minute", "launch exchanges (opening any Callpay page, POST /api/v1/sessions), per address"),
    "bad-launch-ip": ("60/minute", "bad, expired or replayed launches, per address (then every launch waits)"),
    "checkout-user": ("30/minute", "checkouts (each may call Stripe), per signed-in patient"),
    "checkout-ip": ("120/minute", "checkouts, per address"),
    "paying-user": ("60/minute", "a patient's page saying they are paying now (or stopped), per signed-in patient"),
    "socket-action": ("120/minute", "the clinician's socket actions (request_payment, cancel…), per session"),
    "socket-connect-ip": ("300/minute", "Socket.IO connections, per address"),
    "pay-view-ip": ("60/minute", "pay-later link pages and their API view, per address"),
    "pay-view-token": ("30/minute", "pay-later link pages and their API view, per link"),
    "pay-checkout-ip": ("20/minute", "pay-later checkouts and confirmations, per address"),
    "pay-checkout-token": ("10/minute", "pay-later checkouts and confirmations, per link"),
    "download-user": ("120/minute", "receipt PDFs and JSON, link QR codes, per signed-in user"),
    "download-ip": ("60/minute", "receipt PDFs of paid links, per address"),
    "export-user": ("30/minute", "CSV exports of the payment centre, per signed-in user"),
}
OFF = "off"


def defaults() -> dict[str, str]:
    return {name: budget for name, (budget, _) in RULES.items()}


def parse_setting(value: str | None) -> tuple[bool, dict[str, str], list[str]]:
    """``CALLPAY_RATE_LIMITS``: unset for the defaults, ``off`` for none, or ``name=budget`` pairs separated by
    commas (``checkout-user=60/minute, launch-ip=1000/hour``) overriding some. Returns (enabled, budgets,
    problems); each problem is one line naming what is wrong."""
    budgets = defaults()
    if value is None or not value.strip():
        return True, budgets, []
    if value.strip().lower() == OFF:
        return False, budgets, []
    problems: list[str] = []
    for entry in value.split(","):
        name, sep, budget = (part.strip() for part in entry.partition("="))
        if not entry.strip():
            continue
        if not sep or name not in RULES:
            known = ", ".join(RULES)
            problems.append(f"CALLPAY_RATE_LIMITS names '{name}', which is not a rate limit (known: {known}).")
            continue
        try:
            parse(budget)
        except ValueError:
            problems.append(f"CALLPAY_RATE_LIMITS gives '{budget}' for {name}: write it as 30/minute or 1000/hour.")
            continue
        budgets[name] = budget
    return True, budgets, problems


def _wait_words(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def redis_prefix(database_url: str) -> str:
    return "callpay-limits:" + hashlib.sha256(database_url.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Rule:
    name: str
    who: str


class RateLimits:
    def __init__(
        self,
        budgets: Mapping[str, str] | None = None,
        *,
        enabled: bool = True,
        redis_url: str | None = None,
        key_prefix: str = "callpay-limits",
    ) -> None:
        self.enabled = enabled
        self._budgets: dict[str, RateLimitItem] = {
            name: parse(budget) for name, budget in {**defaults(), **(budgets or {})}.items()
        }
        self.storage: Storage
        if redis_url:
            uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
            self.storage = RedisStorage(uri, implementation="redispy", key_prefix=key_prefix)
        else:
            self.storage = MemoryStorage()
        self._limiter = MovingWindowRateLimiter(self.storage)

    def budget(self, name: str) -> RateLimitItem:
        return self._budgets[name]

    async def check(self, *rules: tuple[str, str]) -> None:
        """Count one try against every rule (name, who); the first one over its budget raises
        :class:`RateLimited` with the wait in words and in ``Retry-After``."""
        if not self.enabled:
            return
        for name, who in rules:
            item = self._budgets[name]
            try:
                allowed = await self._limiter.hit(item, name, who)
            except Exception:
                log.warning("rate limit storage unavailable: let through", extra={"rule": name}, exc_info=True)
                return
            if not allowed:
                raise await self._refusal(item, name, who)

    async def refuse_if_spent(self, *rules: tuple[str, str]) -> None:
        """Raise :class:`RateLimited` if any rule's budget is spent, without counting this try (the try is
        counted later with :meth:`count`, e.g. only when a launch turns out bad)."""
        if not self.enabled:
            return
        for name, who in rules:
            item = self._budgets[name]
            try:
                allowed = await self._limiter.test(item, name, who)
            except Exception:
                log.warning("rate limit storage unavailable: let through", extra={"rule": name}, exc_info=True)
                return
            if not allowed:
                raise await self._refusal(item, name, who)

    async def count(self, *rules: tuple[str, str]) -> None:
        """Count one try against each rule without refusing this one."""
        if not self.enabled:
            return
        for name, who in rules:
            try:
                await self._limiter.hit(self._budgets[name], name, who)
            except Exception:
                log.warning("rate limit storage unavailable", extra={"rule": name}, exc_info=True)
                return

    async def _refusal(self, item: RateLimitItem, name: str, who: str) -> RateLimited:
        try:
            stats = await self._limiter.get_window_stats(item, name, who)
            wait = max(1, math.ceil(stats.reset_time - time.time()))
        except Exception:
            wait = item.get_expiry()
        log.info("rate limited", extra={"rule": name})
        return RateLimited(TOO_MANY.format(wait=_wait_words(wait)), retry_after=wait)

    async def close(self) -> None:
        if isinstance(self.storage, RedisStorage):
            bridge = self.storage.bridge
            client = getattr(bridge, "storage", None)
            if client is not None:
                await client.aclose()
