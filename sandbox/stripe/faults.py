"""Injected faults for resilience tests: 500s, 429s, dropped connections and latency on chosen routes."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any, Literal

# "drop" closes the connection before the request is handled; "drop_after" handles it, then closes the
# connection instead of answering (the case idempotency keys exist for).
FaultKind = Literal["500", "429", "drop", "drop_after", "latency"]
KINDS: tuple[FaultKind, ...] = ("500", "429", "drop", "drop_after", "latency")


@dataclass
class Fault:
    route_prefix: str
    kind: FaultKind
    method: str | None = None
    rate: float = 1.0
    latency_ms: int = 0
    count: int | None = None  # how many more times it may fire; None: until cleared

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class FaultInjector:
    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self._random = random.Random()

    def clear(self) -> None:
        self.faults.clear()

    def pick(self, method: str, path: str) -> Fault | None:
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
            return fault
        return None
