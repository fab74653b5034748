"""Webhook delivery: every event goes to the endpoints that want it, signed, in the background, retried with
exponential backoff until a 2xx or the attempts run out.

With realistic delivery on (:class:`~.config.Delivery`), deliveries wait a little and a random while first, so the
events of one action arrive in any order, and some events arrive twice: what Stripe's at-least-once, unordered
delivery allows and a webhook handler has to survive.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp

from .config import Delivery, SandboxConfig
from .signing import signature_header
from .state import Account, SandboxState, WebhookEndpoint
from .tasks import BackgroundTasks

JSON = dict[str, Any]


@dataclass(frozen=True)
class Attempt:
    event: str
    type: str
    endpoint: str
    url: str
    attempt: int
    status: int | None  # the receiver's HTTP status; None if it could not be reached or failure was forced
    ok: bool
    error: str | None
    at: float
    duplicate: bool = False  # a second delivery of an event already delivered (realistic delivery)

    def as_json(self) -> JSON:
        return asdict(self)


class WebhookDispatcher:
    def __init__(self, state: SandboxState, config: SandboxConfig) -> None:
        self.state = state
        self.config = config
        self.tasks = BackgroundTasks()
        self.attempts: list[Attempt] = []
        self.forced_failures = 0  # the next N attempts fail without reaching the receiver
        self.fail_until = 0.0  # ... and every attempt before this time.monotonic()
        self._session: aiohttp.ClientSession | None = None
        self._dice = random.Random(config.delivery.seed)

    def set_delivery(self, delivery: Delivery) -> None:
        self.config.delivery = delivery
        self._dice = random.Random(delivery.seed)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.config.webhook_timeout))
        self.state.listeners.append(self.on_event)

    async def close(self) -> None:
        if self.on_event in self.state.listeners:
            self.state.listeners.remove(self.on_event)
        await self.tasks.close()
        if self._session is not None:
            await self._session.close()

    async def reset(self) -> None:
        await self.tasks.close()
        self.attempts.clear()
        self.forced_failures = 0
        self.fail_until = 0.0

    def on_event(self, account: Account, event: JSON, platform_ids: list[str] | None) -> None:
        targets = [endpoint for endpoint in account.webhook_endpoints.values() if not endpoint.connect]
        for platform_id in platform_ids or []:
            platform = self.state.accounts.get(platform_id)
            if platform is not None:
                targets += [endpoint for endpoint in platform.webhook_endpoints.values() if endpoint.connect]
        targets = [endpoint for endpoint in targets if _wants(endpoint, event["type"])]
        event["pending_webhooks"] = len(targets)
        for endpoint in targets:
            self.tasks.spawn(self._deliver(event, endpoint))

    def _wait(self) -> float:
        """How long a delivery waits before its first attempt: nothing, unless delivery is realistic."""
        delivery = self.config.delivery
        return delivery.delay + self._dice.random() * delivery.reorder_window

    async def _deliver(self, event: JSON, endpoint: WebhookEndpoint, *, duplicate: bool = False) -> None:
        body = dict(event, api_version=endpoint.object["api_version"] or event["api_version"])
        payload = json.dumps(body, indent=2).encode()
        wait = self._wait()
        if wait > 0:
            await asyncio.sleep(wait)
        for attempt in range(1, self.config.webhook_max_attempts + 1):
            if await self._attempt(event, endpoint, payload, attempt, duplicate):
                if not duplicate:
                    event["pending_webhooks"] = max(0, event["pending_webhooks"] - 1)
                    if self._dice.random() < self.config.delivery.duplicate_rate:
                        self.tasks.spawn(self._deliver(event, endpoint, duplicate=True))
                return
            if attempt < self.config.webhook_max_attempts:
                delay = self.config.webhook_retry_base * 2 ** (attempt - 1)
                await asyncio.sleep(min(delay, self.config.webhook_retry_cap))

    async def _attempt(
        self, event: JSON, endpoint: WebhookEndpoint, payload: bytes, attempt: int, duplicate: bool
    ) -> bool:
        url = endpoint.object["url"]

        def record(status: int | None, ok: bool, error: str | None) -> bool:
            self.attempts.append(
                Attempt(
                    event["id"],
                    event["type"],
                    endpoint.object["id"],
                    url,
                    attempt,
                    status,
                    ok,
                    error,
                    time.time(),
                    duplicate,
                )
            )
            return ok

        if self.forced_failures > 0 or time.monotonic() < self.fail_until:
            self.forced_failures = max(0, self.forced_failures - 1)
            return record(None, False, "failure forced by /_sandbox/webhooks/fail")
        assert self._session is not None
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            # Signed at the wall clock's time, not the sandbox's: the receiver checks it against its own clock.
            "Stripe-Signature": signature_header(endpoint.secret, payload, int(time.time())),
        }
        try:
            async with self._session.post(url, data=payload, headers=headers) as response:
                await response.read()
                return record(response.status, 200 <= response.status < 300, None)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return record(None, False, type(exc).__name__)


def _wants(endpoint: WebhookEndpoint, event_type: str) -> bool:
    enabled = endpoint.object["enabled_events"]
    return endpoint.object["status"] == "enabled" and ("*" in enabled or event_type in enabled)
