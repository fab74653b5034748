"""A pay-later link's token opens its page and checkout on its own: an error on a link's route logs and reports
the route, never the token."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

import pytest
import sentry_sdk
from aiohttp import web

from addon import logs, middleware
from addon.observability import before_send, redact_link_tokens
from tests.security.test_flow_leaks import RecordingTransport

TOKEN = secrets.token_urlsafe(24)  # made at run time, so the source lines Sentry quotes never hold it


async def failing(_request: web.Request) -> web.Response:
    raise RuntimeError("the database went away")


async def test_an_error_on_a_link_route_keeps_the_token_out_of_logs_and_sentry(
    aiohttp_client: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    transport = RecordingTransport()
    sentry_sdk.init(dsn="http://publickey@127.0.0.1:9/1", transport=transport, before_send=before_send)  # type: ignore[arg-type]
    try:
        app = web.Application(middlewares=[middleware.errors])
        app.router.add_post("/api/v1/pay/{token}/checkout", failing)
        client = await aiohttp_client(app)
        # Logging as production sets it up (aiohttp's access log left to our middleware), everything at DEBUG.
        logs.configure(logging.DEBUG)
        logging.getLogger().addHandler(caplog.handler)

        answer = await client.post(f"/api/v1/pay/{TOKEN}/checkout", json={})

        assert answer.status == 500
        assert (await answer.json())["error"]["code"] == "internal_error"
        logged = [record for record in caplog.records if record.getMessage() == "unhandled error"]
        assert logged and logged[0].__dict__["path"] == "/api/v1/pay/[Filtered]/checkout"
        assert TOKEN not in caplog.text
        sentry_sdk.flush()
        events = transport.events()
        assert events, "the error was reported"
        leaked = [part for part in repr(events).split(", ") if TOKEN in part]
        assert not leaked, leaked
    finally:
        sentry_sdk.init()
        logging.getLogger().removeHandler(caplog.handler)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/pay/abcDEF123-_xyz", "/pay/[Filtered]"),
        ("https://callpay.example/pay/abcDEF123-_xyz?x=1", "https://callpay.example/pay/[Filtered]?x=1"),
        ("GET /api/v1/pay/abcDEF123-_xyz/receipt.pd", "GET /api/v1/pay/[Filtered]/receipt.pd"),
        ("/api/v1/payment-requests/pr_1/checkout", "/api/v1/payment-requests/pr_1/checkout"),
    ],
)
def test_link_tokens_are_redacted_wherever_they_appear(text: str, expected: str) -> None:
    assert redact_link_tokens(text) == expected
