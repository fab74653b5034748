"""Injected faults for resilience tests, shaped as Stripe fails.

- ``500`` and ``503``: Stripe's ``api_error``, with ``Stripe-Should-Retry: true`` (the request failed before the
  endpoint began, so nothing was saved under its idempotency key and a retry runs it afresh);
- ``429``: ``rate_limit``; ``lock_timeout``: 429 ``lock_timeout``, another request holding the object (both with
  ``Stripe-Should-Retry: true``);
- ``drop``: the connection closed before the request is handled; ``drop_after``: handled (an idempotent result
  stored), then the connection closed instead of answering; ``drop_body``: handled, the headers and half the body
  sent, then the connection closed;
- ``stall``: handled, the headers and half the body sent, the rest ``latency_ms`` later (default a minute: longer
  than any client's timeout);
- ``latency``: answered ``latency_ms`` late.

A fault may carry several ``kinds``: each time it fires, one of them is picked at random.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

FaultKind = Literal["500", "503", "429", "lock_timeout", "drop", "drop_after", "drop_body", "stall", "latency"]
KINDS: tuple[FaultKind, ...] = (
    "500",
    "503",
    "429",
    "lock_timeout",
    "drop",
    "drop_after",
    "drop_body",
    "stall",
    "latency",
)
STALL_MS = 60_000


@dataclass
class Fault:
    route_prefix: str
    kind: FaultKind
    method: str | None = None
    rate: float = 1.0
    latency_ms: int = 0
    count: int | None = None  # how many more times it may fire; None: until cleared
    kinds: tuple[FaultKind, ...] = ()  # when several: one picked at random per firing (``kind`` is the first)

    def as_json(self) -> dict[str, Any]:
        return {
            "route_prefix": self.route_prefix,
            "kind": self.kind,
            "kinds": list(self.kinds or (self.kind,)),
            "method": self.method,
            "rate": self.rate,
            "latency_ms": self.latency_ms,
            "count": self.count,
        }


@dataclass(frozen=True)
class Firing:
    """One fault applied to one request: which kind, and how long it waits (latency or stall)."""

    kind: FaultKind
    delay_ms: int


class FaultInjector:
    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.injected: Counter[str] = Counter()  # kind -> how many requests it hit since the last clear
        self._random = random.Random()

    def clear(self) -> None:
        self.faults.clear()
        self.injected.clear()

    def seed(self, seed: int) -> None:
        self._random.seed(seed)

    def pick(self, method: str, path: str) -> Firing | None:
        """The fault to apply to this request, if one matches and its dice say so (using up one of its count)."""
        for fault in self.faults:
            if not path.startswith(fault.route_prefix):
                continue
            if fault.method is not None and fault.method.upper() != method.upper():
                continue
            if self._random.random() >= fault.rate:
                continue
            if fault.count is not None:
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
            kind = self._random.choice(fault.kinds) if fault.kinds else fault.kind
            self.injected[kind] += 1
            delay = fault.latency_ms or (STALL_MS if kind == "stall" else 0)
            return Firing(kind, delay)
        return None
