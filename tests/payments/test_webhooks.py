"""Stripe's events and the patient's browser report racing each other: each payment is announced once."""

from __future__ import annotations

import asyncio
import copy
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from addon.appkeys import DB, OUTBOX
from addon.models import Clinic, PaymentRequest
from addon.services import transitions
from tests.support.payflow import PayStack, paid_intent, receipts_queued, request_row


def redelivered(event: dict[str, Any]) -> dict[str, Any]:
    """The same news under a new event id, as when Stripe sends two events about one change."""
    again = copy.deepcopy(event)
    again["id"] = "evt_" + uuid.uuid4().hex[:24]
    return again


async def test_webhook_first_then_the_browser_report(connected: PayStack) -> None:
    stack = connected
    doctor, _patient, patient_session, pr, intent = await paid_intent(stack)
    assert await stack.deliver(await stack.event(intent["id"], "payment_intent.succeeded")) == 200
    received = await doctor.wait_count("payment_received", 1)
    # The webhook's charge is only an id; the card details come from the intent retrieved with it expanded.
    assert received[0]["card_brand"] == "visa" and received[0]["card_last4"] == "4242"
    status, body = await stack.report(pr["id"], patient_session)
    assert status == 200 and body["status"] == "paid" and body["receipt_number"] == "000001"
    await asyncio.sleep(0.2)
    assert len(doctor.of("payment_received")) == 1
    assert len(stack.published.of("payment_received")) == 1
    assert await receipts_queued(stack, pr["id"]) == 1


async def test_the_browser_report_first_then_the_webhook(connected: PayStack) -> None:
    stack = connected
    doctor, _patient, patient_session, pr, intent = await paid_intent(stack)
    _status, body = await stack.report(pr["id"], patient_session)
    assert body["status"] == "paid"
    await doctor.wait_count("payment_received", 1)
    event = await stack.event(intent["id"], "payment_intent.succeeded")
    assert await stack.deliver(event) == 200
    assert await stack.deliver(redelivered(event)) == 200
    await asyncio.sleep(0.2)
    assert len(doctor.of("payment_received")) == 1
    assert len(stack.published.of("payment_received")) == 1
    assert await receipts_queued(stack, pr["id"]) == 1


async def test_a_webhook_delivered_ten_times_at_once_pops_up_once(connected: PayStack) -> None:
    stack = connected
    doctor, patient, _, pr, intent = await paid_intent(stack)
    event = await stack.event(intent["id"], "payment_intent.succeeded")
    # Five copies of the same event, and five of the same news under other ids, all at once.
    batch = [event] * 5 + [redelivered(event) for _ in range(5)]
    statuses = await asyncio.gather(*(stack.deliver(e) for e in batch))
    assert statuses == [200] * 10
    await doctor.wait_count("payment_received", 1)
    await asyncio.sleep(0.3)
    assert len(doctor.of("payment_received")) == 1
    assert len(stack.published.of("payment_received")) == 1
    assert patient.of("payment_received") == []
    assert await receipts_queued(stack, pr["id"]) == 1
    row = await request_row(stack, pr["id"])
    assert row.status == "paid" and row.receipt_number == "000001" and row.received_announced_at is not None


async def test_failed_after_succeeded_changes_nothing(connected: PayStack) -> None:
    stack = connected
    _doctor, _, _, pr, intent = await paid_intent(stack)
    succeeded = await stack.event(intent["id"], "payment_intent.succeeded")
    failed = copy.deepcopy(succeeded)
    failed["id"] = "evt_" + uuid.uuid4().hex[:24]
    failed["type"] = "payment_intent.payment_failed"
    failed["data"]["object"].update(
        status="requires_payment_method",
        last_payment_error={"code": "card_declined", "message": "Your card was declined."},
    )
    canceled = redelivered(failed)
    canceled["type"] = "payment_intent.canceled"
    canceled["data"]["object"]["status"] = "canceled"
    assert await stack.deliver(succeeded) == 200
    before = len(stack.published.events)
    assert await stack.deliver(failed) == 200
    assert await stack.deliver(canceled) == 200
    assert len(stack.published.events) == before
    row = await request_row(stack, pr["id"])
    assert row.status == "paid" and row.failure_message is None


async def test_events_for_unknown_intents_are_accepted_and_ignored(connected: PayStack) -> None:
    stack = connected
    _, _, _, _, intent = await paid_intent(stack)
    await stack.webhooks_settled()  # the real intent's own events, delivered by the sandbox, are done first
    event = redelivered(await stack.event(intent["id"], "payment_intent.succeeded"))
    event["data"]["object"]["id"] = "pi_not_ours"
    before = len(stack.published.events)
    assert await stack.deliver(event) == 200
    refund = {
        "id": "evt_x",
        "type": "charge.refunded",
        "object": "event",
        "created": 1,
        "account": stack.account,
        "data": {
            "object": {
                "id": "ch_x",
                "object": "charge",
                "payment_intent": "pi_not_ours",
                "amount_refunded": 100,
                "refunded": False,
            }
        },
    }
    assert await stack.deliver(refund) == 200
    assert len(stack.published.events) == before


async def test_refunds_reported_by_stripe(connected: PayStack) -> None:
    stack = connected
    _doctor, patient, patient_session, pr, intent = await paid_intent(stack)
    await stack.report(pr["id"], patient_session)
    await stack.stripe("POST", "/v1/refunds", {"payment_intent": intent["id"], "amount": "3000"})
    partial = await stack.event(intent["id"], "charge.refunded")
    await stack.stripe("POST", "/v1/refunds", {"payment_intent": intent["id"]})
    events = [e for e in await stack.events_for(intent["id"]) if e["type"] == "charge.refunded"]
    full = events[-1]
    assert await stack.deliver(full) == 200
    assert await stack.deliver(partial) == 200  # older news, arriving late: ignored
    row = await request_row(stack, pr["id"])
    assert row.status == "refunded" and row.amount_refunded == 8000
    await patient.wait_for(lambda u: any(p["status"] == "refunded" for p in u.of("payment_request")))


async def test_a_pause_inside_the_paid_transition_does_not_let_a_second_one_in(
    connected: PayStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Race test: the first reporter stops just after its conditional UPDATE, before committing; the second must
    find nothing to do once it can see the row, and never announce or number the payment again."""
    stack = connected
    doctor, _, patient_session, pr, intent = await paid_intent(stack)
    paused = asyncio.Event()
    release = asyncio.Event()
    calls = 0
    original = transitions.receipts.enqueue_receipt

    async def slow_enqueue(db: Any, request: PaymentRequest) -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            paused.set()
            await release.wait()
        return await original(db, request)

    monkeypatch.setattr(transitions.receipts, "enqueue_receipt", slow_enqueue)
    event = await stack.event(intent["id"], "payment_intent.succeeded")
    first = asyncio.create_task(stack.deliver(event))
    await asyncio.wait_for(paused.wait(), 5)
    second = asyncio.create_task(stack.report(pr["id"], patient_session))
    third = asyncio.create_task(stack.deliver(redelivered(event)))
    await asyncio.sleep(0.3)  # let them reach the database and wait on the first one's lock
    release.set()
    assert await first == 200
    status, body = await second
    assert status == 200 and body["status"] == "paid"
    assert await third == 200
    await doctor.wait_count("payment_received", 1)
    await asyncio.sleep(0.2)
    assert calls == 1
    assert len(stack.published.of("payment_received")) == 1
    assert await receipts_queued(stack, pr["id"]) == 1
    async with stack.app[DB]() as db:
        clinic = (await db.scalars(select(Clinic))).one()
        assert clinic.receipt_counter == 1


async def test_the_sandbox_delivering_by_itself(connected: PayStack) -> None:
    """No test hand on the webhook: the sandbox signs and sends, and the pop-up comes from that alone."""
    stack = connected
    await stack.enable_webhooks()
    doctor = await stack.socket(await stack.clinician())
    patient_session = await stack.patient()
    pr = await stack.request_payment(doctor)
    intent, _ = await stack.pay(pr["id"], patient_session)
    assert intent["status"] == "succeeded"
    received = await doctor.wait_count("payment_received", 1)
    assert received[0]["id"] == pr["id"]
    assert (await request_row(stack, pr["id"])).status == "paid"


class WakeCounter:
    def __init__(self) -> None:
        self.wakes = 0

    def wake(self) -> None:
        self.wakes += 1


async def test_the_receipt_outbox_is_woken_once_per_payment(connected: PayStack) -> None:
    stack = connected
    outbox = WakeCounter()
    stack.app._state[OUTBOX] = outbox  # type: ignore[attr-defined]  # a stand-in worker, swapped in after start-up
    _, _, patient_session, pr, intent = await paid_intent(stack)
    await stack.report(pr["id"], patient_session)
    await stack.deliver(await stack.event(intent["id"], "payment_intent.succeeded"))
    await stack.report(pr["id"], patient_session)
    assert outbox.wakes == 1


@pytest.mark.parametrize(
    ("refund", "status", "refunded"), [("3000", "partially_refunded", 3000), (None, "refunded", 8000)]
)
async def test_a_refund_reported_before_the_payment_is_not_lost(
    connected: PayStack, refund: str | None, status: str, refunded: int
) -> None:
    """The clinic refunds in its Stripe dashboard at once, and Stripe's charge.refunded overtakes the succeeded
    event. The refund event is recorded as processed, so it must leave the request paid *and* refunded."""
    stack = connected
    doctor, _, _, pr, intent = await paid_intent(stack)
    params = {"payment_intent": intent["id"], **({"amount": refund} if refund else {})}
    await stack.stripe("POST", "/v1/refunds", params)
    assert await stack.deliver(await stack.event(intent["id"], "charge.refunded")) == 200
    row = await request_row(stack, pr["id"])
    assert (row.status, row.amount_refunded, row.receipt_number) == (status, refunded, "000001")
    received = await doctor.wait_count("payment_received", 1)
    assert received[0]["status"] == status and received[0]["amount_refunded"] == refunded
    # The succeeded event arriving last changes nothing: the payment was already recorded, with its refund.
    assert await stack.deliver(await stack.event(intent["id"], "payment_intent.succeeded")) == 200
    await asyncio.sleep(0.2)
    row = await request_row(stack, pr["id"])
    assert (row.status, row.amount_refunded) == (status, refunded)
    assert len(stack.published.of("payment_received")) == 1
    assert await receipts_queued(stack, pr["id"]) == 1


async def test_a_succeeded_event_after_a_dashboard_refund_lands_refunded(connected: PayStack) -> None:
    """Whichever event comes first, the paid transition takes the refunded total from the intent's latest charge."""
    stack = connected
    _, _, _, pr, intent = await paid_intent(stack)
    await stack.stripe("POST", "/v1/refunds", {"payment_intent": intent["id"], "amount": "2500"})
    assert await stack.deliver(await stack.event(intent["id"], "payment_intent.succeeded")) == 200
    row = await request_row(stack, pr["id"])
    assert (row.status, row.amount_refunded) == ("partially_refunded", 2500)


async def test_a_late_decline_does_not_undo_the_attempt_now_processing(connected: PayStack) -> None:
    """The first card is declined, the second is processing; the decline's event, delivered late, carries the
    intent as it was then. What is applied is the intent as Stripe has it now."""
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    patient_session = await stack.patient()
    pr = await stack.request_payment(doctor)
    status, session = await stack.checkout(pr["id"], patient_session)
    assert status == 200, session
    intent_id = session["client_secret"].split("_secret_")[0]
    await stack.confirm_intent(intent_id, "pm_card_chargeDeclined")
    declined = await stack.event(intent_id, "payment_intent.payment_failed")
    async with stack.http.post(f"{stack.sandbox.url}/_sandbox/processing", json={"delay_ms": 60_000}) as answer:
        assert answer.status == 200
    assert (await stack.confirm_intent(intent_id, "pm_card_visa"))["status"] == "processing"
    assert await stack.deliver(await stack.event(intent_id, "payment_intent.processing")) == 200
    assert (await request_row(stack, pr["id"])).status == "processing"
    before = len(stack.published.events)
    assert await stack.deliver(declined) == 200
    row = await request_row(stack, pr["id"])
    assert row.status == "processing" and row.failure_message is None
    assert len(stack.published.events) == before
