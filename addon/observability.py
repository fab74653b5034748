"""Sentry, set up so that no patient data, name, token or secret ever leaves the process.

Personal data collection (the successor of ``send_default_pii``) and local variables are off, and every event
passes through :func:`scrub` before sending, which also catches personal data that our own code put into messages
or breadcrumbs by mistake.
"""

from __future__ import annotations

import re
from typing import Any

import sentry_sdk
from sentry_sdk.integrations.aiohttp import AioHttpIntegration
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.integrations.sqlalchemy import SqlalchemyIntegration

from addon.settings import Settings

FILTERED = "[Filtered]"
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
SECRETS = re.compile(
    r"(?:(?:sk|pk|rk)_(?:test|live)_[A-Za-z0-9]+|whsec_[A-Za-z0-9]+|pi_[A-Za-z0-9]+_secret_[A-Za-z0-9]+"
    r"|Bearer\s+[A-Za-z0-9._~+/=-]+|eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)"
)
# A pay-later link's address carries its token, which alone opens the link's page and checkout: a path or URL in
# a log line or an event keeps the route and loses the token.
LINK_TOKEN = re.compile(r"(/pay/)[^/?#\s\"']+")
SENSITIVE_KEYS = re.compile(
    r"(email|name|token|secret|password|authorization|cookie|launch|client_secret|card|cvc|csrf|key|session)",
    re.IGNORECASE,
)


def scrub(value: Any) -> Any:
    """Recursively replace sensitive keys' values and redact emails and secrets in strings."""
    if isinstance(value, dict):
        return {k: FILTERED if _sensitive_key(k) else scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return redact_link_tokens(SECRETS.sub(FILTERED, EMAIL.sub(FILTERED, value)))
    return value


def redact_link_tokens(text: str) -> str:
    """``/pay/<token>/checkout`` → ``/pay/[Filtered]/checkout``, in a path, a URL or any text."""
    return LINK_TOKEN.sub(rf"\g<1>{FILTERED}", text)


def _sensitive_key(key: object) -> bool:
    # Sentry's own structural keys that happen to contain "name" must survive, or events become unreadable.
    if key in ("type", "module", "function", "filename", "abs_path", "logger", "level", "platform", "sdk"):
        return False
    if key in ("name", "version", "packages", "integrations"):
        return False
    return isinstance(key, str) and bool(SENSITIVE_KEYS.search(key))


def before_send(event: dict[str, Any], _hint: dict[str, Any]) -> dict[str, Any]:
    scrubbed: dict[str, Any] = {}
    for key, value in event.items():
        if key == "user":
            scrubbed[key] = {"id": value.get("id")} if isinstance(value, dict) and value.get("id") else {}
        elif key == "request" and isinstance(value, dict):
            request = {k: v for k, v in value.items() if k not in ("cookies", "data")}
            request["query_string"] = FILTERED if request.get("query_string") else ""
            scrubbed[key] = scrub(request)
        elif key in ("sdk", "platform", "level", "event_id", "timestamp", "release", "environment", "modules"):
            scrubbed[key] = value
        else:
            scrubbed[key] = scrub(value)
    return scrubbed


def before_breadcrumb(crumb: dict[str, Any], _hint: dict[str, Any]) -> dict[str, Any]:
    scrubbed: dict[str, Any] = scrub(crumb)
    return scrubbed


def init_sentry(settings: Settings, *, release: str) -> bool:
    if settings.sentry_dsn is None:
        return False
    sentry_sdk.init(
        dsn=settings.sentry_dsn.reveal(),
        release=f"callpay@{release}",
        # data_collection supersedes send_default_pii in this SDK: nothing personal is collected, no request
        # bodies, cookies, query strings or local variables; headers only where not on the denylist.
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_headers": {"request": {"mode": "denylist", "terms": ["authorization", "cookie", "stripe-signature"]}},
            "http_bodies": [],
            "url_query_params": {"mode": "off"},
            "database_query_data": False,
            "stack_frame_variables": False,
        },
        max_request_body_size="never",
        before_send=before_send,  # type: ignore[arg-type]
        before_breadcrumb=before_breadcrumb,
        integrations=[
            AioHttpIntegration(),
            SqlalchemyIntegration(),
            LoggingIntegration(event_level=None),
        ],
        traces_sample_rate=0.0,
    )
    return True
