"""Stripe failing as Stripe fails, one fault at a time, at the gateway: every kind the sandbox injects is retried
by the SDK under the same idempotency key, so one create makes one PaymentIntent; when every attempt fails the
gateway raises StripeUnavailable (never the transport's own exception), worded for the patient as a try-again.

The sandbox's faults (``POST /_sandbox/faults``): see sandbox/stripe/faults.py.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from addon.errors import PaymentProviderError
from addon.gateway import NETWORK_RETRIES, PaymentIntentInfo, StripeGateway, StripeRefused, StripeUnavailable
from addon.services.stripe_errors import UNREACHABLE, for_people
from addon.settings import SettingsError
from tests.conftest import make_settings
from tests.support.payflow import PayStack

TIMEOUT = 1.0  # seconds per attempt (a loaded CI answers well within it); the stall below (4 s) outlasts it
STALL_MS = 4000
KINDS = ("500", "503", "429", "lock_timeout", "drop", "drop_after", "drop_body", "stall")
# The kinds whose first attempt reached Stripe's endpoint: the object exists though its answer was lost.
HANDLED = ("drop_after", "drop_body", "stall")


async def add_fault(stack: PayStack, **body: Any) -> dict[str, Any]:
    async with stack.http.post(f"{stack.sandbox.url}/_sandbox/faults", json=body) as answer:
        assert answer.status == 201, await answer.text()
        made: dict[str, Any] = await answer.json()
        return made


async def clear_faults(stack: PayStack) -> dict[str, int]:
    """Clear every fault; returns how many requests each kind hit."""
    async with stack.http.delete(f"{stack.sandbox.url}/_sandbox/faults") as answer:
        assert answer.status == 200
        injected: dict[str, int] = (await answer.json())["injected"]
        return injected


async def intents_for(stack: PayStack, payment_request: str) -> list[dict[str, Any]]:
    """Every PaymentIntent on the clinic's account whose metadata names ``payment_request``, counted at the
    sandbox (faults must be cleared first: this reads through the same API)."""
    found: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = await stack.stripe(
            "GET", "/v1/payment_intents?limit=100" + (f"&starting_after={after}" if after else "")
        )
        found.extend(i for i in page["data"] if i["metadata"].get("payment_request") == payment_request)
        if not page["has_more"]:
            return found
        after = page["data"][-1]["id"]


@pytest.fixture
async def gateway(connected: PayStack) -> AsyncIterator[StripeGateway]:
    opened = StripeGateway(replace(connected.settings, stripe_timeout_seconds=TIMEOUT))
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def create(gateway: StripeGateway, stack: PayStack, scope: str) -> PaymentIntentInfo:
    assert stack.account is not None
    return await gateway.create_payment_intent(
        account_id=stack.account,
        amount=8000,
        currency="aud",
        description="Telehealth consultation",
        receipt_email=None,
        metadata={"payment_request": scope},
        idempotency_scope=f"test:{scope}",
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_one_fault_is_retried_into_one_intent(connected: PayStack, gateway: StripeGateway, kind: str) -> None:
    await add_fault(
        connected, route_prefix="/v1/payment_intents", method="POST", kind=kind, count=1, latency_ms=STALL_MS
    )
    started = time.monotonic()
    intent = await create(gateway, connected, f"one-{kind}")
    assert intent.status == "requires_payment_method" and intent.client_secret
    if kind == "stall":
        assert time.monotonic() - started < STALL_MS / 1000  # given up at the timeout, not waited out
    assert await clear_faults(connected) == {kind: 1}
    assert [i["id"] for i in await intents_for(connected, f"one-{kind}")] == [intent.id]


@pytest.mark.parametrize("kind", KINDS)
async def test_every_attempt_failing_is_unavailable_and_the_next_try_replays(
    connected: PayStack, gateway: StripeGateway, kind: str
) -> None:
    """All three attempts fail: a StripeUnavailable the patient reads as a try-again (502, plain words). Their
    retry a moment later goes under the same key: the intent a handled attempt made is the one they get."""
    attempts = NETWORK_RETRIES + 1
    await add_fault(
        connected, route_prefix="/v1/payment_intents", method="POST", kind=kind, count=attempts, latency_ms=STALL_MS
    )
    with pytest.raises(StripeUnavailable) as raised:
        await create(gateway, connected, f"all-{kind}")
    worded = for_people(raised.value)
    assert isinstance(worded, PaymentProviderError)
    assert (worded.status, worded.code, worded.message) == (502, "payment_provider_error", UNREACHABLE)
    assert await clear_faults(connected) == {kind: attempts}
    made = await intents_for(connected, f"all-{kind}")
    assert len(made) == (1 if kind in HANDLED else 0)

    intent = await create(gateway, connected, f"all-{kind}")
    assert [i["id"] for i in await intents_for(connected, f"all-{kind}")] == [intent.id]
    if made:
        assert intent.id == made[0]["id"]


async def test_a_refusal_is_stripes_answer_and_not_retried(connected: PayStack, gateway: StripeGateway) -> None:
    """A 400 without ``Stripe-Should-Retry`` is Stripe's answer, not a fault: one attempt. (A zero-latency fault
    only counts the requests that reach the sandbox.)"""
    assert connected.account is not None
    await add_fault(connected, route_prefix="/v1/payment_intents", kind="latency", count=5)
    with pytest.raises(StripeRefused) as raised:
        await gateway.retrieve_payment_intent(account_id=connected.account, intent_id="pi_missing")
    assert raised.value.code == "resource_missing"
    assert await clear_faults(connected) == {"latency": 1}


def test_the_timeout_is_a_setting() -> None:
    assert make_settings("sqlite+aiosqlite:///x.sqlite3").stripe_timeout_seconds == 20.0
    assert make_settings("sqlite+aiosqlite:///x.sqlite3", stripe_timeout_seconds="7.5").stripe_timeout_seconds == 7.5
    for bad in ("soon", "0", "-1", "inf"):
        with pytest.raises(SettingsError) as raised:
            make_settings("sqlite+aiosqlite:///x.sqlite3", stripe_timeout_seconds=bad)
        assert raised.value.problems == [
            "CALLPAY_STRIPE_TIMEOUT_SECONDS is malformed: use a number of seconds, at least 0.1."
        ]
