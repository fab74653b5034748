"""One frozen settings object, read from ``CALLPAY_*`` in one place.

Tests and the demo pass a mapping instead of patching ``os.environ``. A missing or malformed required setting
raises :class:`SettingsError` naming every offending key, one line each, and secrets never show in ``repr``.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

from addon import ratelimit

PREFIX = "CALLPAY_"
STRIPE_API_BASE = "https://api.stripe.com"
STRIPE_CONNECT_BASE = "https://connect.stripe.com"
STRIPE_JS_URL = "https://js.stripe.com/v3/"
STRIPE_DASHBOARD_BASE = "https://dashboard.stripe.com"
# How a clinic may get a Stripe account linked: Connect OAuth to its own account, or one the platform creates and
# Stripe's hosted onboarding sets up (Account Links).
ONBOARDING_WAYS = ("oauth", "hosted")
MIN_LAUNCH_SECRET_BYTES = 32


class Secret:
    """A string that masks itself wherever it might be printed."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class SettingsError(Exception):
    """Start-up configuration is wrong; ``problems`` holds one line per setting."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def default_database_url(base: Path | None = None) -> str:
    folder = (base or Path.cwd()) / "var"
    return f"sqlite+aiosqlite:///{folder / 'callpay.sqlite3'}"


@dataclass(frozen=True)
class Settings:
    launch_secret: Secret
    stripe_secret_key: Secret
    stripe_publishable_key: str
    stripe_connect_client_id: str
    stripe_webhook_secret: Secret
    public_url: str
    database_url: str = field(default_factory=default_database_url)
    redis_url: str | None = None
    stripe_api_base: str = STRIPE_API_BASE
    stripe_connect_base: str = STRIPE_CONNECT_BASE
    stripe_js_url: str = STRIPE_JS_URL
    stripe_dashboard_base: str = STRIPE_DASHBOARD_BASE
    stripe_onboarding: tuple[str, ...] = ONBOARDING_WAYS
    smtp_url: str | None = None
    mail_from: str = "Callpay <receipts@callpay.invalid>"
    sentry_dsn: Secret | None = None
    # Extra Stripe webhook secrets that are also accepted (e.g. a platform and a Connect endpoint).
    stripe_extra_webhook_secrets: tuple[Secret, ...] = ()
    # Whether this process runs the background jobs (outbox, Stripe inbox, sweepers); off for web workers when a
    # `callpay worker` process runs them.
    background: bool = True
    # Bearer token for GET /metrics (Prometheus); unset, the endpoint is off.
    metrics_token: Secret | None = None
    # CALLPAY_RATE_LIMITS: the budgets of addon/ratelimit.py's rules, as (name, budget) pairs; "off" turns them off.
    rate_limits: tuple[tuple[str, str], ...] = ()
    rate_limits_enabled: bool = True
    # CALLPAY_TRUSTED_PROXIES: addresses (or networks) of the load balancers in front, whose X-Forwarded-For is
    # believed when finding a client's address for rate limits. Unset: the connecting address is the client's.
    trusted_proxies: tuple[str, ...] = ()
    # How long a process holds an email it is sending before another may take it up: what a receipt waits after
    # its sender died mid-send. Each SMTP send is given at most half of it, so a live send never outlasts its lease.
    outbox_lease_seconds: float = 120.0
    # How long one attempt of a Stripe API call may take, connection to last byte, before the SDK gives it up and
    # retries it under the same idempotency key (it tries NETWORK_RETRIES more times; see addon/gateway.py).
    stripe_timeout_seconds: float = 20.0
    # How often each web worker checks that the sessions behind its open sockets are still live, and disconnects
    # those whose session expired or was revoked (a revoke through Callpay disconnects at once; this catches the
    # rest: absolute expiry, idle expiry, a revoke made straight in the database).
    session_sweep_seconds: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        problems: list[str] = []

        def get(name: str, *, required: bool = False) -> str | None:
            value = env.get(PREFIX + name, "").strip()
            if not value:
                if required:
                    problems.append(f"{PREFIX}{name} is missing: set it in the environment.")
                return None
            return value

        launch_secret = get("LAUNCH_SECRET", required=True)
        if launch_secret is not None and len(launch_secret.encode()) < MIN_LAUNCH_SECRET_BYTES:
            problems.append(f"{PREFIX}LAUNCH_SECRET is too short: it must be at least {MIN_LAUNCH_SECRET_BYTES} bytes.")
        secret_key = get("STRIPE_SECRET_KEY", required=True)
        if secret_key is not None and not secret_key.startswith(("sk_", "rk_")):
            problems.append(f"{PREFIX}STRIPE_SECRET_KEY is malformed: it must start with sk_ or rk_.")
        publishable_key = get("STRIPE_PUBLISHABLE_KEY", required=True)
        if publishable_key is not None and not publishable_key.startswith("pk_"):
            problems.append(f"{PREFIX}STRIPE_PUBLISHABLE_KEY is malformed: it must start with pk_.")
        client_id = get("STRIPE_CONNECT_CLIENT_ID", required=True)
        if client_id is not None and not client_id.startswith("ca_"):
            problems.append(f"{PREFIX}STRIPE_CONNECT_CLIENT_ID is malformed: it must start with ca_.")
        webhook_secret = get("STRIPE_WEBHOOK_SECRET", required=True)
        public_url = get("PUBLIC_URL", required=True)
        for name in ("PUBLIC_URL", "STRIPE_API_BASE", "STRIPE_CONNECT_BASE", "STRIPE_JS_URL", "STRIPE_DASHBOARD_BASE"):
            _check_http_url(name, env.get(PREFIX + name, "").strip(), problems)
        database_url = get("DATABASE_URL") or default_database_url()
        if not database_url.startswith(("sqlite", "postgresql")):
            problems.append(f"{PREFIX}DATABASE_URL is malformed: use sqlite+aiosqlite:/// or postgresql+asyncpg://.")
        smtp_url = get("SMTP_URL")
        if smtp_url is not None:
            parts = urlsplit(smtp_url)
            if parts.scheme not in ("smtp", "smtps") or not parts.hostname or parts.port is None:
                problems.append(f"{PREFIX}SMTP_URL is malformed: use smtp://[user:password@]host:port.")
        onboarding = _onboarding_ways(get("STRIPE_ONBOARDING"), problems)
        limits_on, budgets, limit_problems = ratelimit.parse_setting(get("RATE_LIMITS"))
        problems.extend(limit_problems)
        proxies = _networks(get("TRUSTED_PROXIES"), problems)
        background = _switch("BACKGROUND", get("BACKGROUND"), problems)
        outbox_lease = _seconds("OUTBOX_LEASE_SECONDS", get("OUTBOX_LEASE_SECONDS"), 120.0, problems, least=2.0)
        stripe_timeout = _seconds(
            "STRIPE_TIMEOUT_SECONDS", get("STRIPE_TIMEOUT_SECONDS"), cls.stripe_timeout_seconds, problems, least=0.1
        )
        sweep = _seconds("SESSION_SWEEP_SECONDS", get("SESSION_SWEEP_SECONDS"), 30.0, problems, least=0.1)
        if problems:
            raise SettingsError(problems)
        assert launch_secret and secret_key and publishable_key and client_id and webhook_secret and public_url
        sentry = get("SENTRY_DSN")
        extra = tuple(Secret(s) for s in (get("STRIPE_EXTRA_WEBHOOK_SECRETS") or "").split(",") if s.strip())
        return cls(
            launch_secret=Secret(launch_secret),
            stripe_secret_key=Secret(secret_key),
            stripe_publishable_key=publishable_key,
            stripe_connect_client_id=client_id,
            stripe_webhook_secret=Secret(webhook_secret),
            public_url=public_url.rstrip("/"),
            database_url=_async_driver(database_url),
            redis_url=get("REDIS_URL"),
            stripe_api_base=(get("STRIPE_API_BASE") or STRIPE_API_BASE).rstrip("/"),
            stripe_connect_base=(get("STRIPE_CONNECT_BASE") or STRIPE_CONNECT_BASE).rstrip("/"),
            stripe_js_url=get("STRIPE_JS_URL") or STRIPE_JS_URL,
            stripe_dashboard_base=(get("STRIPE_DASHBOARD_BASE") or STRIPE_DASHBOARD_BASE).rstrip("/"),
            stripe_onboarding=onboarding,
            smtp_url=smtp_url,
            mail_from=get("MAIL_FROM") or cls.mail_from,
            sentry_dsn=Secret(sentry) if sentry else None,
            stripe_extra_webhook_secrets=extra,
            background=background,
            metrics_token=Secret(metrics) if (metrics := get("METRICS_TOKEN")) else None,
            rate_limits=tuple(sorted(budgets.items())),
            rate_limits_enabled=limits_on,
            trusted_proxies=proxies,
            outbox_lease_seconds=outbox_lease,
            stripe_timeout_seconds=stripe_timeout,
            session_sweep_seconds=sweep,
        )

    @property
    def webhook_secrets(self) -> tuple[str, ...]:
        return (self.stripe_webhook_secret.reveal(), *(s.reveal() for s in self.stripe_extra_webhook_secrets))

    def public_summary(self) -> dict[str, str]:
        """What may be logged at start-up: every setting, secrets masked."""
        return {f.name: str(getattr(self, f.name)) for f in fields(self)}


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of an address, as browsers compare origins (CSP sources, the Origin header)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _check_http_url(name: str, value: str, problems: list[str]) -> None:
    if value and urlsplit(value).scheme not in ("http", "https"):
        problems.append(f"{PREFIX}{name} is malformed: it must be an http:// or https:// address.")


def _onboarding_ways(value: str | None, problems: list[str]) -> tuple[str, ...]:
    if value is None:
        return ONBOARDING_WAYS
    ways = tuple(dict.fromkeys(way.strip().lower() for way in value.split(",") if way.strip()))
    if not ways or any(way not in ONBOARDING_WAYS for way in ways):
        problems.append(f"{PREFIX}STRIPE_ONBOARDING is malformed: use oauth, hosted, or both separated by a comma.")
        return ONBOARDING_WAYS
    return ways


def _networks(value: str | None, problems: list[str]) -> tuple[str, ...]:
    found: list[str] = []
    for part in (value or "").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            found.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            problems.append(f"{PREFIX}TRUSTED_PROXIES holds '{part}', which is not an address or network.")
    return tuple(found)


def _switch(name: str, value: str | None, problems: list[str]) -> bool:
    """An on/off setting; unset is on."""
    if value is None or value.lower() in ("on", "true", "1", "yes"):
        return True
    if value.lower() in ("off", "false", "0", "no"):
        return False
    problems.append(f"{PREFIX}{name} is malformed: use on or off.")
    return True


def _seconds(name: str, value: str | None, default: float, problems: list[str], *, least: float) -> float:
    """A duration in seconds; unset is ``default``."""
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not seconds >= least or seconds == float("inf"):
        problems.append(f"{PREFIX}{name} is malformed: use a number of seconds, at least {least:g}.")
        return default
    return seconds


def _async_driver(url: str) -> str:
    """Accept the plain URLs people paste, and pick the async driver for them."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    return url
