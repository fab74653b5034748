"""Tunables of one sandbox app; tests shorten the delays."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SandboxConfig:
    public_url: str | None = None  # the address browsers use; else taken from each request's Host
    webhook_retry_base: float = 0.5  # first retry delay in seconds, doubled per attempt
    webhook_retry_cap: float = 30.0
    webhook_max_attempts: int = 6
    webhook_timeout: float = 10.0
    processing_delay: float = 0.0  # > 0: card confirmations pass through "processing" for this many seconds
    oauth_code_ttl: float = 300.0
