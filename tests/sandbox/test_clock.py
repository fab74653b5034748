"""The sandbox's clock and refund controls: expire a card hold, settle refunds, without sleeping."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
import stripe

from sandbox.stripe import RunningSandbox

from .conftest import ClientFactory, Control, new_platform_key

CARD_ONLY = {"enabled": True, "allow_redirects": "never"}


async def paid(
    client: stripe.StripeClient, payment_method: str = "pm_card_visa", **params: Any
) -> stripe.PaymentIntent:
    request: Any = {
        "amount": 8000,
        "currency": "aud",
        "automatic_payment_methods": CARD_ONLY,
        "confirm": True,
        "payment_method": payment_method,
        **params,
    }
    return await client.v1.payment_intents.create_async(request)


async def types_of(client: stripe.StripeClient) -> list[str]:
    return [event.type for event in (await client.v1.events.list_async({"limit": 100})).data]


async def test_a_hold_left_past_capture_before_expires(make_client: ClientFactory, control: Control) -> None:
    client = make_client(new_platform_key())
    held = await paid(client, capture_method="manual")
    kept = await paid(client, capture_method="manual")
    await control("POST", "/_sandbox/clock/advance", {"days": 6, "hours": 23})
    assert (await client.v1.payment_intents.retrieve_async(held.id)).status == "requires_capture"
    assert (await client.v1.payment_intents.capture_async(kept.id)).status == "succeeded"
    await control("POST", "/_sandbox/clock/advance", {"hours": 2})

    expired = await client.v1.payment_intents.retrieve_async(held.id)
    assert expired.status == "canceled" and expired.cancellation_reason == "automatic"
    assert isinstance(expired.latest_charge, str)
    charge = await client.v1.charges.retrieve_async(expired.latest_charge)
    assert charge.captured is False and charge.refunded is True and charge.amount_refunded == 8000
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.payment_intents.capture_async(held.id)
    assert raised.value.code == "payment_intent_unexpected_state"
    assert "canceled" in str(raised.value.user_message)
    assert (await client.v1.payment_intents.retrieve_async(kept.id)).status == "succeeded"  # captured in time
    types = await types_of(client)
    assert types.count("charge.expired") == 1 and "payment_intent.canceled" in types
    # Objects made after the jump carry the sandbox's time, not the wall clock's.
    later = await paid(client)
    assert later.created >= held.created + 7 * 86400


async def test_refunds_settle_when_the_clock_passes_them(make_client: ClientFactory, control: Control) -> None:
    client = make_client(new_platform_key())
    pending = await client.v1.refunds.create_async({"payment_intent": (await paid(client, "pm_card_pendingRefund")).id})
    failing = await client.v1.refunds.create_async({"payment_intent": (await paid(client, "pm_card_refundFail")).id})
    assert (pending.status, failing.status) == ("pending", "succeeded")
    assert pending.to_dict()["pending_reason"] == "processing"
    await control("POST", "/_sandbox/clock/advance", {"seconds": 5})
    assert (await client.v1.refunds.retrieve_async(pending.id)).status == "succeeded"
    failed = await client.v1.refunds.retrieve_async(failing.id)
    assert failed.status == "failed" and failed.failure_reason == "expired_or_canceled_card"
    assert (await types_of(client)).count("refund.failed") == 1


async def test_any_refund_can_be_made_to_fail(make_client: ClientFactory, control: Control) -> None:
    client = make_client(new_platform_key())
    intent = await paid(client)
    refund = await client.v1.refunds.create_async({"payment_intent": intent.id, "amount": 2500})
    failed = await control("POST", f"/_sandbox/refunds/{refund.id}/fail", {"failure_reason": "lost_or_stolen_card"})
    assert failed["status"] == "failed" and failed["failure_reason"] == "lost_or_stolen_card"
    assert isinstance(intent.latest_charge, str)
    assert (await client.v1.charges.retrieve_async(intent.latest_charge)).amount_refunded == 0
    # The amount can be refunded again, and a failed refund can't fail twice.
    again = await client.v1.refunds.create_async({"payment_intent": intent.id})
    assert again.amount == 8000
    types = await types_of(client)
    assert {"refund.failed", "refund.updated", "charge.refund.updated"} <= set(types)


async def test_refund_controls_are_checked(
    make_client: ClientFactory, sandbox: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    client = make_client(new_platform_key())
    refund = await client.v1.refunds.create_async({"payment_intent": (await paid(client)).id})
    cases = [
        (f"/_sandbox/refunds/{refund.id}/succeed", {}, 409),  # already succeeded
        (f"/_sandbox/refunds/{refund.id}/fail", {"failure_reason": "bored"}, 400),
        ("/_sandbox/refunds/re_nope/fail", {}, 404),
    ]
    for path, body, status in cases:
        async with http.post(sandbox.url + path, json=body) as answer:
            assert answer.status == status, path
