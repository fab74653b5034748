"""Tunables of one sandbox app; tests shorten the delays."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Delivery:
    """How webhooks arrive. All zero: exactly once, in order, at once. Stripe promises neither order nor
    uniqueness, so the product's own tests turn this on (see tests/conftest.py)."""

    duplicate_rate: float = 0.0  # the chance that an event is delivered once more, a little later
    reorder_window: float = 0.0  # each delivery waits a random 0..window seconds, so events within it arrive shuffled
    delay: float = 0.0  # every delivery waits this long first, as Stripe's arrive some time after the request
    seed: int | None = None  # makes the dice repeatable

    @property
    def realistic(self) -> bool:
        return self.duplicate_rate > 0 or self.reorder_window > 0 or self.delay > 0


# What "realistic" means when asked for without figures (``--realistic-delivery``, the product's tests).
REALISTIC = Delivery(duplicate_rate=0.3, reorder_window=0.05, delay=0.01)


@dataclass
class SandboxConfig:
    public_url: str | None = None  # the address browsers use; else taken from each request's Host
    webhook_retry_base: float = 0.5  # first retry delay in seconds, doubled per attempt
    webhook_retry_cap: float = 30.0
    webhook_max_attempts: int = 6
    webhook_timeout: float = 10.0
    processing_delay: float = 0.0  # > 0: card confirmations pass through "processing" for this many seconds
    oauth_code_ttl: float = 300.0
    delivery: Delivery = field(default_factory=Delivery)
    refund_settle_delay: float = 2.0  # how long the test cards' pending or failing refunds take to settle
    authorization_validity: float = 7 * 24 * 3600.0  # an uncaptured card hold lasts this long (capture_before)
