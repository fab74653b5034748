"""Hold now, charge at the end: authorise, then capture in full or less, release, the call's end, the sweeper."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from addon.appkeys import DB, GATEWAY
from addon.clock import ManualClock
from addon.models import Clinic, OutboxEmail, PaymentRequest
from addon.services import holds
from tests.holds.conftest import Hold, authorised_hold, end_call
from tests.support.payflow import PayStack, receipts_queued, request_row


async def _payments_received(hold: Hold, count: int = 1) -> list[dict[str, object]]:
    return await hold.doctor.wait_count("payment_received", count)


async def test_an_authorised_hold_shows_to_both_sides_and_moves_no_money(connected: PayStack) -> None:
    hold = await authorised_hold(connected)
    pr = hold.request
    assert pr["amount_authorized"] == 8000 and pr["capturable"] is True
    assert pr["payable"] is False and pr["receipt_available"] is False and pr["paid_at"] is None
    assert pr["capture_before"] is not None
    for side in (hold.doctor, hold.patient):
        await side.wait_for(lambda u: any(p["status"] == "authorized" for p in u.of("payment_request")))
    intent = await connected.stripe("GET", f"/v1/payment_intents/{hold.intent['id']}")
    assert intent["capture_method"] == "manual" and intent["amount_capturable"] == 8000
    assert intent["amount_received"] == 0
    assert await receipts_queued(connected, pr["id"]) == 0
    assert hold.doctor.of("payment_received") == []


async def test_charge_now_in_full_sends_one_receipt_and_one_pop_up(connected: PayStack) -> None:
    hold = await authorised_hold(connected)
    ack = await hold.doctor.call("capture_payment_request", {"id": hold.request["id"]})
    assert ack["ok"], ack
    assert ack["payment_request"]["status"] == "paid" and ack["payment_request"]["amount"] == 8000
    [received] = await _payments_received(hold)
    assert received["id"] == hold.request["id"] and received["amount_display"] == "A$80.00"
    # Again (a double click): the same answer, nothing more charged or sent.
    again = await hold.doctor.call("capture_payment_request", {"id": hold.request["id"]})
    assert again["ok"] and again["payment_request"]["status"] == "paid"
    await connected.webhooks_settled()
    intent = await connected.stripe("GET", f"/v1/payment_intents/{hold.intent['id']}")
    assert intent["status"] == "succeeded" and intent["amount_received"] == 8000
    row = await request_row(connected, hold.request["id"])
    assert row.status == "paid" and row.amount == 8000 and row.receipt_number is not None
    assert await receipts_queued(connected, row.id) == 1
    assert len(hold.doctor.of("payment_received")) == 1


async def test_charge_less_than_held_charges_the_final_amount_and_never_more(connected: PayStack) -> None:
    hold = await authorised_hold(connected)
    too_much = await hold.doctor.call("capture_payment_request", {"id": hold.request["id"], "amount": "90.00"})
    assert not too_much["ok"]
    assert too_much["error"]["code"] == "capture_too_large" and too_much["error"]["field"] == "amount"
    assert "A$80.00" in too_much["error"]["message"]
    ack = await hold.doctor.call("capture_payment_request", {"id": hold.request["id"], "amount": "55.50"})
    assert ack["ok"], ack
    pr = ack["payment_request"]
    assert pr["status"] == "paid" and pr["amount"] == 5550 and pr["amount_authorized"] == 8000
    assert pr["amount_display"] == "A$55.50"
    await connected.webhooks_settled()
    intent = await connected.stripe("GET", f"/v1/payment_intents/{hold.intent['id']}")
    assert intent["amount_received"] == 5550
    row = await request_row(connected, pr["id"])
    # The released rest is not a refund of the payment: nothing of the 55.50 was given back.
    assert row.status == "paid" and row.amount == 5550 and row.amount_refunded == 0
    async with connected.app[DB]() as db:
        email = await db.scalar(select(OutboxEmail).where(OutboxEmail.payment_request_id == pr["id"]))
    assert email is not None and email.kind == "receipt"
    assert await receipts_queued(connected, pr["id"]) == 1


async def test_release_hold_charges_nothing_and_tells_the_patient(connected: PayStack) -> None:
    hold = await authorised_hold(connected)
    ack = await hold.doctor.call("release_payment_request", {"id": hold.request["id"]})
    assert ack["ok"], ack
    assert ack["payment_request"]["status"] == "canceled" and ack["payment_request"]["capturable"] is False
    await hold.patient.wait_for(
        lambda u: any(p["id"] == hold.request["id"] and p["status"] == "canceled" for p in u.of("payment_request"))
    )
    await connected.webhooks_settled()
    intent = await connected.stripe("GET", f"/v1/payment_intents/{hold.intent['id']}")
    assert intent["status"] == "canceled" and intent["amount_received"] == 0
    row = await request_row(connected, hold.request["id"])
    assert row.status == "canceled" and row.receipt_number is None
    assert await receipts_queued(connected, row.id) == 0
    # A released hold can't be charged afterwards.
    late = await hold.doctor.call("capture_payment_request", {"id": hold.request["id"]})
    assert not late["ok"] and late["error"]["code"] == "not_held"


async def test_patients_can_not_charge_or_release(connected: PayStack) -> None:
    hold = await authorised_hold(connected)
    for event in ("capture_payment_request", "release_payment_request"):
        ack = await hold.patient.call(event, {"id": hold.request["id"]})
        assert not ack["ok"] and ack["error"]["code"] == "role_not_allowed", ack
    assert (await request_row(connected, hold.request["id"])).status == "authorized"


async def test_the_call_ending_charges_the_hold(connected: PayStack) -> None:
    hold = await authorised_hold(connected)
    status, body = await end_call(connected)
    assert status == 200, body
    [pr] = [p for p in body["payment_requests"] if p["id"] == hold.request["id"]]
    assert pr["status"] == "paid" and pr["amount"] == 8000
    [received] = await _payments_received(hold)
    assert received["id"] == pr["id"]
    await connected.webhooks_settled()
    assert await receipts_queued(connected, pr["id"]) == 1
    # Ending it again charges nothing more.
    status, again = await end_call(connected)
    assert status == 200 and [p["status"] for p in again["payment_requests"]] == ["paid"]
    assert await receipts_queued(connected, pr["id"]) == 1


async def test_the_call_ending_charges_the_final_amount_the_clinician_set(connected: PayStack) -> None:
    await authorised_hold(connected)
    async with connected.app[DB].begin() as db:
        await db.execute(update(PaymentRequest).values(final_amount=6000))
    status, body = await end_call(connected)
    assert status == 200, body
    assert [(p["status"], p["amount"]) for p in body["payment_requests"]] == [("paid", 6000)]


async def _swept_at(stack: PayStack, when: datetime) -> holds.Swept:
    return await holds.sweep(stack.app[DB], stack.app[GATEWAY], clock=ManualClock(when))


async def test_a_hold_near_capture_before_is_swept_once_per_the_clinic_setting(connected: PayStack) -> None:
    hold = await authorised_hold(connected)
    row = await request_row(connected, hold.request["id"])
    assert row.capture_before is not None
    # A day early: nothing to do yet.
    early = await _swept_at(connected, row.capture_before - timedelta(days=1))
    assert early.captured == [] and early.released == []
    # Within the margin: captured, once, even with two sweepers at once.
    near = row.capture_before - timedelta(hours=2)
    first, second = await asyncio.gather(_swept_at(connected, near), _swept_at(connected, near))
    assert sorted(first.captured + second.captured) == [row.id]
    await connected.webhooks_settled()
    after = await request_row(connected, row.id)
    assert after.status == "paid" and after.amount == 8000
    assert await receipts_queued(connected, row.id) == 1


async def test_a_clinic_that_releases_expiring_holds(connected: PayStack) -> None:
    hold = await authorised_hold(connected)
    async with connected.app[DB].begin() as db:
        await db.execute(update(Clinic).values(hold_expiry_action="release"))
    row = await request_row(connected, hold.request["id"])
    assert row.capture_before is not None
    swept = await _swept_at(connected, row.capture_before - timedelta(hours=1))
    assert swept.released == [row.id] and swept.captured == []
    assert (await request_row(connected, row.id)).status == "canceled"
    intent = await connected.stripe("GET", f"/v1/payment_intents/{hold.intent['id']}")
    assert intent["status"] == "canceled"


async def test_a_hold_stripe_let_lapse_is_canceled_and_can_not_be_charged(connected: PayStack) -> None:
    hold = await authorised_hold(connected)
    async with connected.http.post(f"{connected.sandbox.url}/_sandbox/clock/advance", json={"days": 8}) as answer:
        assert answer.status == 200, await answer.text()
    ack = await hold.doctor.call("capture_payment_request", {"id": hold.request["id"]})
    # Either the canceled webhook got there first (not_held) or Stripe refused the capture (hold_expired).
    assert not ack["ok"] and ack["error"]["code"] in ("hold_expired", "not_held"), ack
    await connected.webhooks_settled()
    row = await request_row(connected, hold.request["id"])
    assert row.status == "canceled" and row.receipt_number is None


async def test_amount_capturable_updated_is_reread_from_stripe(connected: PayStack) -> None:
    """The webhook alone (the browser never reported) records the hold, from Stripe, not from the payload."""
    doctor = await connected.socket(await connected.clinician())
    patient = await connected.patient()
    pr = await connected.request_payment(doctor, capture="hold")
    intent, _ = await connected.pay(pr["id"], patient)
    event = await connected.event(intent["id"], "payment_intent.amount_capturable_updated")
    # A payload that lies about the amount changes nothing: Stripe is asked.
    event["data"]["object"]["amount_capturable"] = 1
    assert await connected.deliver(event) == 200
    row = await request_row(connected, pr["id"])
    assert row.status == "authorized" and row.amount_authorized == 8000
    async with connected.app[DB]() as db:
        count = await db.scalar(
            select(func.count()).select_from(PaymentRequest).where(PaymentRequest.status == "authorized")
        )
    assert count == 1
    assert datetime.now(UTC) < (row.capture_before or datetime.now(UTC)) + timedelta(days=1)
