"""The in-call payment flow through real sockets, the real API and the Stripe sandbox."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from addon.appkeys import DB
from addon.models import OutboxEmail, PaymentRequest
from tests.support.payflow import PayStack


async def receipts_queued(stack: PayStack, pr_id: str) -> int:
    async with stack.app[DB]() as db:
        count = await db.scalar(
            select(func.count()).select_from(OutboxEmail).where(OutboxEmail.payment_request_id == pr_id)
        )
    return int(count or 0)


async def row(stack: PayStack, pr_id: str) -> PaymentRequest:
    async with stack.app[DB]() as db:
        return await db.get_one(PaymentRequest, pr_id)


async def test_request_pay_and_the_clinician_sees_it_land(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    patient_session = await stack.patient()
    patient = await stack.socket(patient_session)
    await doctor.wait_count("payment_requests", 1)
    await patient.wait_count("payment_requests", 1)
    assert doctor.of("payment_requests") == [[]]

    pr = await stack.request_payment(doctor, amount="80.00", description="  Follow-up\n consultation ")
    assert pr["amount"] == 8000 and pr["currency"] == "aud" and pr["status"] == "requested"
    assert pr["description"] == "Follow-up consultation"
    assert pr["amount_display"] == "A$80.00"
    assert pr["clinician"] == {"id": "dr-ada", "name": "Dr Ada Lovelace"}
    assert pr["call"] == "call-1" and pr["clinic"] == "clinic-1" and pr["id"].startswith("pr_")
    assert pr["created_at"].endswith("Z")
    await patient.wait_count("payment_request", 1)

    intent, session = await stack.pay(pr["id"], patient_session)
    assert intent["status"] == "succeeded"
    assert session["stripe_account"] == stack.account
    assert session["publishable_key"] == stack.settings.stripe_publishable_key
    assert session["amount"] == 8000 and session["currency"] == "aud"
    status, body = await stack.report(pr["id"], patient_session)
    assert status == 200, body
    assert body["status"] == "paid" and body["receipt_number"] == "000001"
    assert body["card_brand"] == "visa" and body["card_last4"] == "4242"
    assert body["paid_at"].endswith("Z")
    assert "email" not in str(body)

    received = await doctor.wait_count("payment_received", 1)
    assert received[0]["id"] == pr["id"] and received[0]["status"] == "paid"
    await patient.wait_for(lambda u: any(p["status"] == "paid" for p in u.of("payment_request")))
    # The webhook arrives later: nothing more happens.
    assert await stack.deliver(await stack.event(intent["id"], "payment_intent.succeeded")) == 200
    await asyncio.sleep(0.2)
    assert len(doctor.of("payment_received")) == 1
    assert patient.of("payment_received") == []
    assert await receipts_queued(stack, pr["id"]) == 1

    # The intent on the clinic's account carries what its dashboard needs.
    stored = await stack.stripe("GET", f"/v1/payment_intents/{intent['id']}")
    assert stored["metadata"]["payment_request"] == pr["id"]
    assert stored["metadata"]["call"] == "call-1" and stored["metadata"]["clinician"] == "dr-ada"
    assert stored["receipt_email"] == "pat@example.com"
    assert stored["description"] == "Follow-up consultation"


async def test_checkout_twice_returns_the_same_intent_and_updates_the_email(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    patient = await stack.patient()
    pr = await stack.request_payment(doctor)
    first = await stack.checkout(pr["id"], patient, "one@example.com")
    again = await stack.checkout(pr["id"], patient, "two@example.com")
    assert first[0] == again[0] == 200
    assert first[1]["client_secret"] == again[1]["client_secret"]
    intent_id = first[1]["client_secret"].split("_secret_")[0]
    stored = await stack.stripe("GET", f"/v1/payment_intents/{intent_id}")
    assert stored["receipt_email"] == "two@example.com"
    assert (await row(stack, pr["id"])).patient_email == "two@example.com"


async def test_concurrent_checkouts_make_one_intent(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    patient = await stack.patient()
    pr = await stack.request_payment(doctor)
    answers = await asyncio.gather(*(stack.checkout(pr["id"], patient, f"p{i % 2}@example.com") for i in range(6)))
    assert {status for status, _ in answers} == {200}
    assert len({body["client_secret"] for _, body in answers}) == 1
    intents = await stack.stripe("GET", "/v1/payment_intents?limit=100")
    live = [i for i in intents["data"] if i["status"] != "canceled"]
    assert len(live) == 1


async def test_decline_then_success(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    patient_session = await stack.patient()
    pr = await stack.request_payment(doctor)
    declined, _ = await stack.pay(pr["id"], patient_session, "pm_card_chargeDeclinedInsufficientFunds")
    assert declined.get("error") or declined.get("status") != "succeeded"
    status, body = await stack.report(pr["id"], patient_session)
    assert status == 200 and body["status"] == "failed"
    assert body["failure_message"].startswith("Payment failed — your card has insufficient funds.")
    assert body["failure_message"].endswith("Try another card.")
    assert body["receipt_number"] is None

    intent, _ = await stack.pay(pr["id"], patient_session, "pm_card_visa")
    assert intent["status"] == "succeeded"
    status, body = await stack.report(pr["id"], patient_session)
    assert body["status"] == "paid" and body["failure_message"] is None
    await doctor.wait_count("payment_received", 1)
    # The late payment_failed webhook for the first attempt can't undo the payment.
    assert await stack.deliver(await stack.event(intent["id"], "payment_intent.payment_failed")) == 200
    assert (await row(stack, pr["id"])).status == "paid"


async def test_three_d_secure(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    patient_session = await stack.patient()
    pr = await stack.request_payment(doctor)
    intent, session = await stack.pay(pr["id"], patient_session, "pm_card_authenticationRequired")
    assert intent["status"] == "requires_action"
    status, body = await stack.report(pr["id"], patient_session)
    assert status == 200 and body["status"] == "requested"  # still in the middle of paying

    finished = await stack.complete_3ds(intent["id"], session["client_secret"])
    assert finished["status"] == "succeeded"
    status, body = await stack.report(pr["id"], patient_session)
    assert body["status"] == "paid"
    assert len(await doctor.wait_count("payment_received", 1)) == 1


async def test_failed_three_d_secure_can_be_retried(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    patient_session = await stack.patient()
    pr = await stack.request_payment(doctor)
    intent, session = await stack.pay(pr["id"], patient_session, "pm_card_authenticationRequired")
    await stack.complete_3ds(intent["id"], session["client_secret"], fail=True)
    status, body = await stack.report(pr["id"], patient_session)
    assert status == 200 and body["status"] == "failed" and body["failure_message"]
    intent, _ = await stack.pay(pr["id"], patient_session, "pm_card_visa")
    _, body = await stack.report(pr["id"], patient_session)
    assert body["status"] == "paid"


async def test_cancel_an_unpaid_request(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    patient_session = await stack.patient()
    patient = await stack.socket(patient_session)
    pr = await stack.request_payment(doctor)
    _, session = await stack.checkout(pr["id"], patient_session)
    ack = await doctor.call("cancel_payment_request", {"id": pr["id"]})
    assert ack["ok"] and ack["payment_request"]["status"] == "canceled"
    intent_id = session["client_secret"].split("_secret_")[0]
    assert (await stack.stripe("GET", f"/v1/payment_intents/{intent_id}"))["status"] == "canceled"
    await patient.wait_for(lambda u: any(p["status"] == "canceled" for p in u.of("payment_request")))
    status, body = await stack.checkout(pr["id"], patient_session)
    assert status == 409 and body["error"]["code"] == "request_canceled"
    # Canceling again is harmless; a paid request can't be canceled.
    assert (await doctor.call("cancel_payment_request", {"id": pr["id"]}))["ok"]
    paid = await stack.request_payment(doctor, description="Another")
    await stack.pay(paid["id"], patient_session)
    await stack.report(paid["id"], patient_session)
    ack = await doctor.call("cancel_payment_request", {"id": paid["id"]})
    assert ack == {"ok": False, "error": {"code": "not_cancelable", "message": ack["error"]["message"]}}


async def test_the_same_client_ref_twice_creates_one_request(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    acks: list[Any] = await asyncio.gather(
        *(
            doctor.call("request_payment", {"amount": "45", "description": "Script", "client_ref": "ref-1"})
            for _ in range(5)
        )
    )
    assert all(a["ok"] for a in acks)
    assert len({a["payment_request"]["id"] for a in acks}) == 1
    assert len(stack.published.of("payment_request")) == 1
    different = await doctor.call("request_payment", {"amount": "46", "description": "Script", "client_ref": "ref-1"})
    assert different["ok"] is False and different["error"]["field"] == "client_ref"


async def test_request_validation_answers_with_the_field(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    cases = [
        ({"amount": "", "description": "x"}, "amount"),
        ({"amount": "12.345", "description": "x"}, "amount"),
        ({"amount": "-5", "description": "x"}, "amount"),
        ({"amount": "10", "description": "   "}, "description"),
        ({"amount": "10", "description": "x" * 501}, "description"),
        ({"amount": "10", "description": "x", "currency": "zzz"}, "currency"),
    ]
    for body, field in cases:
        ack = await doctor.call("request_payment", body)
        assert ack["ok"] is False and ack["error"]["field"] == field, (body, ack)
    ack = await doctor.call("request_payment", {"amount": "500", "description": "x", "currency": "JPY"})
    assert ack["ok"] and ack["payment_request"]["amount"] == 500 and ack["payment_request"]["currency"] == "jpy"
    assert (await doctor.call("request_payment", "nonsense"))["ok"] is False


async def test_patients_cannot_request_and_unconnected_clinics_cannot_take_payments(stack: PayStack) -> None:
    doctor = await stack.socket(await stack.clinician())
    ack = await doctor.call("request_payment", {"amount": "10", "description": "x"})
    assert ack["ok"] is False and ack["error"]["code"] == "no_stripe_account"
    status = await doctor.wait_count("clinic_status", 1)
    assert status[0]["payments_available"] is False
    await stack.connect_clinic()
    patient = await stack.socket(await stack.patient())
    ack = await patient.call("request_payment", {"amount": "10", "description": "x"})
    assert ack["ok"] is False and ack["error"]["code"] == "role_not_allowed"
    assert patient.of("clinic_status") == []
