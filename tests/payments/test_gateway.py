"""The gateway as Stripe sees it: the pinned API version on every request, and failures as types, not sentences.

A small recording proxy sits between the gateway and the sandbox, so what is asserted is what went over the wire.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace

import aiohttp
import pytest
from aiohttp import web

from addon.gateway import API_VERSION, NotCancelable, OAuthRefused, StripeGateway, StripeRefused
from addon.services.stripe_errors import for_people
from tests.conftest import free_port
from tests.support.payflow import PayStack


class Recorder:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.seen: list[tuple[str, str, str | None]] = []

    async def forward(self, request: web.Request) -> web.Response:
        self.seen.append((request.method, request.path, request.headers.get("Stripe-Version")))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with (
            aiohttp.ClientSession() as http,
            http.request(
                request.method, self.upstream + request.path_qs, headers=headers, data=await request.read()
            ) as answer,
        ):
            return web.Response(status=answer.status, body=await answer.read(), content_type=answer.content_type)


@pytest.fixture
async def recorded(connected: PayStack) -> AsyncIterator[tuple[StripeGateway, Recorder, str]]:
    """A gateway of the connected stack's platform, talking to the sandbox through the recorder."""
    recorder = Recorder(connected.sandbox.url)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", recorder.forward)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    gateway = StripeGateway(replace(connected.settings, stripe_api_base=base, stripe_connect_base=base))
    await gateway.open()
    assert connected.account is not None
    try:
        yield gateway, recorder, connected.account
    finally:
        await gateway.close()
        await runner.cleanup()


async def test_every_request_carries_the_pinned_api_version(recorded: tuple[StripeGateway, Recorder, str]) -> None:
    gateway, recorder, account = recorded
    intent = await gateway.create_payment_intent(
        account_id=account,
        amount=8000,
        currency="aud",
        description="Consultation",
        receipt_email="pat@example.com",
        metadata={"payment_request": "pr_1"},
        idempotency_scope="test:pr_1",
    )
    await gateway.update_receipt_email(account_id=account, intent_id=intent.id, receipt_email="new@example.com")
    assert (await gateway.retrieve_payment_intent(account_id=account, intent_id=intent.id)).status == (
        "requires_payment_method"
    )
    await gateway.cancel_payment_intent(account_id=account, intent_id=intent.id, idempotency_key="cancel:1")
    with pytest.raises(OAuthRefused):
        await gateway.exchange_oauth_code("ac_not_a_real_code")
    assert len(recorder.seen) == 5
    assert {version for _method, _path, version in recorder.seen} == {API_VERSION}


async def test_failures_are_types_and_the_services_word_them(recorded: tuple[StripeGateway, Recorder, str]) -> None:
    gateway, _, account = recorded
    intent = await gateway.create_payment_intent(
        account_id=account,
        amount=8000,
        currency="aud",
        description="Consultation",
        receipt_email=None,
        metadata={},
        idempotency_scope="test:pr_2",
    )
    await gateway.cancel_payment_intent(account_id=account, intent_id=intent.id, idempotency_key="cancel:2")
    with pytest.raises(NotCancelable) as not_cancelable:
        await gateway.cancel_payment_intent(account_id=account, intent_id=intent.id, idempotency_key="cancel:3")
    # The gateway's error says what happened and nothing for people; the words are the service's.
    assert str(not_cancelable.value) == "payment_intent_unexpected_state"
    assert for_people(not_cancelable.value).code == "not_cancelable"
    with pytest.raises(StripeRefused) as missing:
        await gateway.retrieve_payment_intent(account_id=account, intent_id="pi_missing")
    assert missing.value.code == "resource_missing"
    worded = for_people(missing.value)
    assert (worded.status == 502 and "pi_missing" not in worded.message) or worded.code == "resource_missing"


async def test_a_call_that_went_well_logs_no_routine_sdk_lines_but_a_retry_still_shows(
    recorded: tuple[StripeGateway, Recorder, str], caplog: pytest.LogCaptureFixture
) -> None:
    gateway, _recorder, account = recorded
    with caplog.at_level(logging.INFO, logger="stripe"):
        intent = await gateway.create_payment_intent(
            account_id=account,
            amount=8000,
            currency="aud",
            description="Consultation",
            receipt_email=None,
            metadata={"payment_request": "pr_2"},
            idempotency_scope="test:pr_2",
        )
        await gateway.retrieve_payment_intent(account_id=account, intent_id=intent.id)
    assert [r.getMessage() for r in caplog.records if r.name == "stripe"] == []
    # What the SDK says when it retries is not routine: it still reaches the log.
    said = "Initiating retry 1 for request get /v1/x"
    retry = logging.LogRecord("stripe", logging.INFO, __file__, 1, said, None, None)
    assert logging.getLogger("stripe").filter(retry)
