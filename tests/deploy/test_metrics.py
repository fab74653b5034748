"""``GET /metrics`` as Prometheus scrapes it: off without a token, refused with a wrong one, and each figure moved
by the work it measures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

from addon.app import create_app
from sandbox.stripe.runner import RunningSandbox
from tests.conftest import make_settings
from tests.support.payflow import build_stack, paid_intent
from tests.support.prometheus import value

TOKEN = "metrics-token-for-tests"




async def test_metrics_are_off_without_a_token_and_refused_with_a_wrong_one(
    aiohttp_client: Callable[..., Any], database_url: str
) -> None:
    off = await aiohttp_client(create_app(make_settings(database_url)))
    assert (await off.get("/metrics")).status == 404
    await off.close()
    on = await aiohttp_client(create_app(make_settings(database_url, metrics_token=TOKEN)))
    wrong = await on.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    assert (await wrong.json())["error"]["code"] == "unauthorized"
    assert (await on.get("/metrics")).status == 401
    right = await on.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status == 200
    assert right.headers["Content-Type"].startswith("text/plain")
    text = await right.text()
    assert value(text, "callpay_outbox_depth") == 0.0
    assert value(text, "callpay_connected_sockets") == 0.0
    # The failed scrapes themselves were timed, by route pattern.
    assert value(text, "callpay_http_request_seconds_count", route="/metrics", status="401") == 2.0


async def test_a_payment_moves_every_figure(
    sandbox: RunningSandbox, database_url: str, aiohttp_client: Callable[..., Any], http: aiohttp.ClientSession
) -> None:
    stack = await build_stack(sandbox, database_url, aiohttp_client, http, metrics_token=TOKEN)
    try:
        await stack.connect_clinic()
        doctor, _, _, _, intent = await paid_intent(stack)
        assert await stack.deliver(await stack.event(intent["id"], "payment_intent.succeeded")) == 200
        await doctor.wait_count("payment_received", 1)
        scrape = await stack.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert scrape.status == 200
        text = await scrape.text()
    finally:
        for user in stack.sockets:
            await user.close()
    assert value(text, "callpay_socket_action_seconds_count", action="request_payment", outcome="ok") == 1.0
    assert value(text, "callpay_payments_total", outcome="requested") == 1.0
    assert value(text, "callpay_payments_total", outcome="paid") == 1.0
    assert value(text, "callpay_webhook_lag_seconds_count") >= 1.0
    assert value(text, "callpay_connected_sockets") == 2.0
    # No SMTP in this stack: the paid request's receipt waits in the outbox.
    assert value(text, "callpay_outbox_depth") == 1.0
    assert value(text, "callpay_outbox_oldest_seconds") >= 0.0
    assert value(text, "callpay_http_request_seconds_count", route="/stripe/webhook", method="POST", status="200") >= 1
