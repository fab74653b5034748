"""Contract tests for what happens to money after a payment: refunds that settle later or fail, holds captured in
full or in part or released, and the events for each. They run against Stripe test mode too (see
test_contract.py); what needs the sandbox's clock (a hold expiring) is in test_clock.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
import stripe

pytestmark = pytest.mark.asyncio

CARD_ONLY = {"enabled": True, "allow_redirects": "never"}
T = TypeVar("T")


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


async def eventually(read: Callable[[], Awaitable[T]], done: Callable[[T], bool], seconds: float = 60) -> T:
    """Stripe settles some refunds "some time later": poll until it has (the sandbox takes about two seconds)."""
    deadline = time.monotonic() + seconds
    while True:
        value = await read()
        if done(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.25)


async def event_types(client: stripe.StripeClient, object_id: str) -> list[str]:
    events = await client.v1.events.list_async({"limit": 100})
    found = []
    for event in events.data:
        data = event.data.object.to_dict()
        if object_id in (data.get("id"), data.get("payment_intent")):
            found.append(event.type)
    return found


# --- Refunds ----------------------------------------------------------------------------------------------------


async def test_a_refund_books_its_balance_transaction_and_filters_find_it(client: stripe.StripeClient) -> None:
    intent = await paid(client)
    other = await paid(client)
    refund = await client.v1.refunds.create_async({"payment_intent": intent.id, "amount": 3000})
    await client.v1.refunds.create_async({"payment_intent": other.id, "amount": 1000})
    assert refund.status == "succeeded"
    fetched = await client.v1.refunds.retrieve_async(refund.id, {"expand": ["balance_transaction"]})
    txn = fetched.balance_transaction
    assert isinstance(txn, stripe.BalanceTransaction)
    assert txn.amount == -3000 and txn.type == "refund" and txn.net == -3000 - txn.fee
    listed = await client.v1.refunds.list_async({"payment_intent": intent.id})
    assert [item.id for item in listed.data] == [refund.id]
    recent = await client.v1.refunds.list_async({"created": {"gte": refund.created}, "limit": 100})
    assert refund.id in [item.id for item in recent.data]
    assert (await client.v1.refunds.list_async({"created": {"gt": refund.created + 3600}})).data == []
    types = await event_types(client, refund.id)
    assert "refund.created" in types
    assert "charge.refunded" in await event_types(client, intent.id)


async def test_a_pending_refund_then_succeeds(client: stripe.StripeClient) -> None:
    intent = await paid(client, "pm_card_pendingRefund")
    refund = await client.v1.refunds.create_async({"payment_intent": intent.id})
    assert refund.status == "pending"
    settled = await eventually(
        lambda: client.v1.refunds.retrieve_async(refund.id), lambda found: found.status != "pending"
    )
    assert settled.status == "succeeded"
    assert "refund.updated" in await event_types(client, refund.id)


async def test_a_refund_that_fails_later_says_why_and_gives_the_amount_back(client: stripe.StripeClient) -> None:
    intent = await paid(client, "pm_card_refundFail")
    refund = await client.v1.refunds.create_async({"payment_intent": intent.id, "amount": 2000})
    assert refund.status in ("succeeded", "pending")
    failed = await eventually(
        lambda: client.v1.refunds.retrieve_async(refund.id), lambda found: found.status == "failed"
    )
    assert failed.status == "failed" and failed.failure_reason is not None
    assert failed.failure_balance_transaction is not None
    assert isinstance(intent.latest_charge, str)
    charge = await client.v1.charges.retrieve_async(intent.latest_charge)
    assert charge.amount_refunded == 0 and charge.refunded is False
    types = await event_types(client, refund.id)
    assert "refund.failed" in types and "refund.updated" in types


# --- Holds: manual capture --------------------------------------------------------------------------------------


async def test_a_hold_then_a_partial_capture_releases_the_rest(client: stripe.StripeClient) -> None:
    held = await paid(client, capture_method="manual")
    assert held.status == "requires_capture" and held.amount_capturable == 8000 and held.amount_received == 0
    fetched = await client.v1.payment_intents.retrieve_async(held.id, {"expand": ["latest_charge"]})
    charge = fetched.latest_charge
    assert isinstance(charge, stripe.Charge) and charge.captured is False and charge.balance_transaction is None
    card = charge.payment_method_details.card if charge.payment_method_details else None
    assert card is not None and card.capture_before is not None
    assert 6 * 86400 < card.capture_before - charge.created <= 8 * 86400  # online card holds last about 7 days
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.payment_intents.capture_async(held.id, {"amount_to_capture": 9000})
    assert raised.value.param == "amount_to_capture"

    captured = await client.v1.payment_intents.capture_async(held.id, {"amount_to_capture": 5000})
    assert captured.status == "succeeded" and captured.amount_received == 5000 and captured.amount_capturable == 0
    after = await client.v1.charges.retrieve_async(charge.id, {"expand": ["balance_transaction"]})
    assert after.captured is True and after.amount_captured == 5000 and after.amount_refunded == 3000
    assert after.refunded is False
    assert isinstance(after.balance_transaction, stripe.BalanceTransaction)
    assert after.balance_transaction.amount == 5000
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.payment_intents.capture_async(held.id)
    assert raised.value.code == "payment_intent_unexpected_state"
    # What is left to refund is what was captured.
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.refunds.create_async({"payment_intent": held.id, "amount": 6000})
    refund = await client.v1.refunds.create_async({"payment_intent": held.id})
    assert refund.amount == 5000
    types = await event_types(client, held.id)
    assert {"payment_intent.amount_capturable_updated", "charge.captured", "payment_intent.succeeded"} <= set(types)


async def test_a_released_hold_is_canceled_and_refunded(client: stripe.StripeClient) -> None:
    held = await paid(client, capture_method="manual")
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.refunds.create_async({"payment_intent": held.id})  # nothing captured to refund
    released = await client.v1.payment_intents.cancel_async(held.id, {"cancellation_reason": "requested_by_customer"})
    assert released.status == "canceled" and released.amount_capturable == 0
    assert released.cancellation_reason == "requested_by_customer"
    assert isinstance(held.latest_charge, str)
    charge = await client.v1.charges.retrieve_async(held.latest_charge)
    assert charge.captured is False and charge.refunded is True and charge.amount_refunded == 8000
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.payment_intents.capture_async(held.id)
    assert raised.value.code == "payment_intent_unexpected_state"
    assert "payment_intent.canceled" in await event_types(client, held.id)


async def test_capture_with_a_final_fee_on_a_connected_account(
    client: stripe.StripeClient, connected_account: str
) -> None:
    options: Any = {"stripe_account": connected_account}
    held = await client.v1.payment_intents.create_async(
        {
            "amount": 8000,
            "currency": "aud",
            "automatic_payment_methods": CARD_ONLY,
            "confirm": True,
            "payment_method": "pm_card_visa",
            "capture_method": "manual",
            "application_fee_amount": 400,
        },
        options,
    )
    captured = await client.v1.payment_intents.capture_async(
        held.id, {"amount_to_capture": 6000, "application_fee_amount": 300, "expand": ["latest_charge"]}, options
    )
    charge = captured.latest_charge
    assert isinstance(charge, stripe.Charge) and isinstance(charge.application_fee, str)
    fee = await client.v1.application_fees.retrieve_async(charge.application_fee)
    assert fee.amount == 300 and fee.charge == charge.id
