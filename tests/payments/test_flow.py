"""The in-call payment flow through real sockets, the real API and the Stripe sandbox."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select, update

from addon.appkeys import DB, GATEWAY
from addon.errors import Conflict
from addon.models import AuditEvent, Clinic, PaymentRequest
from addon.services import checkout
from tests.support.payflow import PayStack, receipts_queued, request_row


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
    flags = ("payable", "cancelable", "refundable", "receipt_available")
    assert [pr[f] for f in flags] == [True, True, False, False]
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
    assert [body[f] for f in flags] == [False, False, True, True]
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
    assert stored["receipt_email"] is None  # Callpay sends the receipt; Stripe never holds the address
    # Stripe is told only that it was a consultation, never the clinician's words, and holds no names.
    assert stored["description"].startswith("Telehealth consultation")
    assert "Follow-up" not in stored["description"]
    assert "clinician_name" not in stored["metadata"]


async def test_checkout_twice_returns_the_same_intent_and_updates_the_email(connected: PayStack) -> None:
    """The receipt goes to the address given last; Stripe is never told either."""
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
    assert stored["receipt_email"] is None
    assert (await request_row(stack, pr["id"])).patient_email == "two@example.com"


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
    assert (await request_row(stack, pr["id"])).status == "paid"


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


async def audit_of(stack: PayStack, pr_id: str, action: str) -> list[AuditEvent]:
    async with stack.app[DB]() as db:
        query = select(AuditEvent).where(AuditEvent.subject_id == pr_id, AuditEvent.action == action)
        return list((await db.scalars(query)).all())


async def test_intents_offer_only_payment_methods_that_finish_in_the_call(connected: PayStack) -> None:
    """A redirecting method would come back to the widget's address without its launch: a 401 page mid-call."""
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    pr = await stack.request_payment(doctor)
    status, session = await stack.checkout(pr["id"], await stack.patient())
    assert status == 200, session
    stored = await stack.stripe("GET", f"/v1/payment_intents/{session['client_secret'].split('_secret_')[0]}")
    assert stored["automatic_payment_methods"] == {"enabled": True, "allow_redirects": "never"}


async def test_a_checkout_retried_after_the_clinic_fee_changed(connected: PayStack) -> None:
    """Stripe made the first intent but its answer was lost; the clinic's fee changes before the patient tries
    again. The same idempotency key with other parameters would be refused, so the key covers what is sent."""
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    patient = await stack.patient()
    pr = await stack.request_payment(doctor)
    faults = f"{stack.sandbox.url}/_sandbox/faults"
    fault = {"route_prefix": "/v1/payment_intents", "method": "POST", "kind": "drop_after"}
    async with stack.http.post(faults, json=fault) as answer:
        assert answer.status == 201
    status, body = await stack.checkout(pr["id"], patient)
    assert status == 502, body
    async with stack.http.delete(faults) as answer:
        assert answer.status == 200
    async with stack.app[DB].begin() as db:
        await db.execute(update(Clinic).values(application_fee_amount=300))

    status, body = await stack.checkout(pr["id"], patient)
    assert status == 200, body
    again = await stack.checkout(pr["id"], patient)
    assert again == (200, body)
    intent_id = body["client_secret"].split("_secret_")[0]
    assert (await request_row(stack, pr["id"])).stripe_payment_intent_id == intent_id
    assert (await stack.stripe("GET", f"/v1/payment_intents/{intent_id}"))["application_fee_amount"] == 300
    made = await stack.stripe("GET", "/v1/payment_intents?limit=100")
    assert len(made["data"]) == 2  # the lost one, never given to anyone, and the request's own


async def test_a_receipt_address_change_that_loses_to_the_payment_changes_nothing(connected: PayStack) -> None:
    """Race: checkout read the request unpaid, then the payment landed before it changed the receipt address.
    The address the receipt went to stays."""
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    patient_session = await stack.patient()
    pr = await stack.request_payment(doctor)
    _, session = await stack.checkout(pr["id"], patient_session, "first@example.com")
    async with stack.app[DB]() as db:
        stale = await db.get_one(PaymentRequest, pr["id"])  # what the slower checkout read
    intent_id = session["client_secret"].split("_secret_")[0]
    assert (await stack.confirm_intent(intent_id))["status"] == "succeeded"
    assert (await stack.report(pr["id"], patient_session))[1]["status"] == "paid"
    with pytest.raises(Conflict) as raised:
        await checkout._change_email(stack.app[DB], stack.app[GATEWAY], stale, "second@example.com")
    assert raised.value.code == "already_paid"
    assert (await request_row(stack, pr["id"])).patient_email == "first@example.com"
    assert (await stack.stripe("GET", f"/v1/payment_intents/{intent_id}"))["receipt_email"] is None


async def test_cancel_after_the_clinic_removed_its_stripe_account(connected: PayStack) -> None:
    """The intent is on an account Callpay no longer holds: nothing can be taken on it through us, so the request
    is canceled here, and the audit trail says why."""
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    pr = await stack.request_payment(doctor)
    status, _ = await stack.checkout(pr["id"], await stack.patient())
    assert status == 200
    admin = await stack.session(role="team_admin", sub="admin-1", call=None)
    status, body = await stack.api("POST", "/api/v1/clinic/stripe/disconnect", admin)
    assert status == 200, body
    ack = await doctor.call("cancel_payment_request", {"id": pr["id"]})
    assert ack["ok"] and ack["payment_request"]["status"] == "canceled", ack
    [logged] = await audit_of(stack, pr["id"], "payment_request.canceled")
    assert logged.data["canceled_at_stripe"] is False and logged.data["reason"] == "stripe_account_disconnected"


async def test_cancel_after_access_was_revoked_in_the_stripe_dashboard(connected: PayStack) -> None:
    """Removed on Stripe's side, and the webhook saying so hasn't arrived: Stripe's permission error is the news."""
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    pr = await stack.request_payment(doctor)
    status, _ = await stack.checkout(pr["id"], await stack.patient())
    assert status == 200
    async with stack.http.post(
        f"{stack.sandbox.url}/oauth/deauthorize",
        data={"client_id": stack.settings.stripe_connect_client_id, "stripe_user_id": stack.account},
        headers={"Authorization": f"Bearer {stack.platform_key}"},
    ) as answer:
        assert answer.status == 200, await answer.text()
    ack = await doctor.call("cancel_payment_request", {"id": pr["id"]})
    assert ack["ok"] and ack["payment_request"]["status"] == "canceled", ack
    [logged] = await audit_of(stack, pr["id"], "payment_request.canceled")
    assert logged.data["canceled_at_stripe"] is False and logged.data["reason"] == "stripe_access_revoked"
