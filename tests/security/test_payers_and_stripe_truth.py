"""Who holds a checkout, what Stripe is told, and what Stripe's events may change.

- Two patients in one call (a patient and a carer): the first to start paying keeps the payment; the other can't
  take over its client_secret or re-address its receipt.
- Stripe hears a neutral description and never the patient's email, unless the clinic opts in to its words.
- A signed event whose payload says more than Stripe does (a refund larger than the payment, an account that
  isn't what Stripe says) changes nothing: what is applied is re-read from Stripe.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from addon.appkeys import DB
from addon.models import Clinic
from tests.support.payflow import PayStack, paid_intent, receipts_queued, request_row


async def test_the_first_patient_to_pay_keeps_the_payment(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    patient = await stack.patient()
    carer = await stack.patient(sub="carer-1", name="Carer")
    pr = await stack.request_payment(doctor)

    status, first = await stack.checkout(pr["id"], patient, "patient@example.com")
    assert status == 200, first
    status, body = await stack.checkout(pr["id"], carer, "carer@example.com")
    assert status == 409 and body["error"]["code"] == "paid_by_someone_else", body
    assert "client_secret" not in str(body)
    assert body["error"]["message"].startswith("Someone else in the call has started paying this.")
    # The receipt still goes where the first patient said; they can come back to the same payment.
    assert (await request_row(stack, pr["id"])).patient_email == "patient@example.com"
    assert await stack.checkout(pr["id"], patient, "patient@example.com") == (200, first)

    intent_id = first["client_secret"].split("_secret_")[0]
    assert (await stack.confirm_intent(intent_id))["status"] == "succeeded"
    assert (await stack.report(pr["id"], patient))[1]["status"] == "paid"
    assert (await stack.checkout(pr["id"], carer, "carer@example.com"))[1]["error"]["code"] == "already_paid"
    assert await receipts_queued(stack, pr["id"]) == 1
    assert (await request_row(stack, pr["id"])).patient_email == "patient@example.com"


async def test_two_patients_racing_to_checkout_get_one_payment_between_them(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    patient = await stack.patient()
    carer = await stack.patient(sub="carer-1", name="Carer")
    pr = await stack.request_payment(doctor)
    answers = await asyncio.gather(
        *(stack.checkout(pr["id"], who, f"{i}@example.com") for i, who in enumerate([patient, carer] * 3))
    )
    ok = [body for status, body in answers if status == 200]
    refused = [body for status, body in answers if status == 409]
    assert len(ok) + len(refused) == 6 and ok and refused, answers
    assert {body["error"]["code"] for body in refused} == {"paid_by_someone_else"}
    assert len({body["client_secret"] for body in ok}) == 1
    intents = await stack.stripe("GET", "/v1/payment_intents?limit=100")
    assert len([i for i in intents["data"] if i["status"] != "canceled"]) == 1


async def test_stripe_hears_neither_the_clinicians_words_nor_the_patients_email(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    patient = await stack.patient()
    pr = await stack.request_payment(doctor, description="Mental health plan review")
    _, session = await stack.checkout(pr["id"], patient, "first@example.com")
    await stack.checkout(pr["id"], patient, "second@example.com")
    stored = await stack.stripe("GET", f"/v1/payment_intents/{session['client_secret'].split('_secret_')[0]}")
    assert stored["description"] == "Telehealth consultation"  # the clinic has no name here
    assert stored["receipt_email"] is None
    assert set(stored["metadata"]) == {"payment_request", "call", "clinic", "clinician"}
    assert "Mental health" not in str(stored) and "@example.com" not in str(stored)
    # Callpay itself sends the receipt to the address given last.
    assert (await request_row(stack, pr["id"])).patient_email == "second@example.com"


async def test_a_clinic_may_choose_to_show_its_words_in_stripe(connected: PayStack) -> None:
    stack = connected
    admin = await stack.session(role="team_admin", sub="admin-1", call=None)
    status, config = await stack.api("GET", "/api/v1/clinic", admin)
    assert status == 200 and config["settings"]["share_description_with_stripe"] is False
    status, body = await stack.api(
        "PATCH", "/api/v1/clinic/settings", admin, json={"share_description_with_stripe": "yes"}
    )
    assert status == 400 and body["error"]["field"] == "share_description_with_stripe"
    status, config = await stack.api(
        "PATCH", "/api/v1/clinic/settings", admin, json={"share_description_with_stripe": True}
    )
    assert status == 200 and config["settings"]["share_description_with_stripe"] is True

    doctor = await stack.socket(await stack.clinician())
    pr = await stack.request_payment(doctor, description="Follow-up")
    _, session = await stack.checkout(pr["id"], await stack.patient())
    stored = await stack.stripe("GET", f"/v1/payment_intents/{session['client_secret'].split('_secret_')[0]}")
    assert stored["description"] == "Telehealth consultation · Follow-up"
    assert stored["receipt_email"] is None


def _event(type: str, account: str | None, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "evt_forged_" + uuid.uuid4().hex[:16],
        "object": "event",
        "type": type,
        "created": 2_000_000_000,
        "account": account,
        "livemode": False,
        "api_version": "2025-03-31.basil",
        "data": {"object": obj},
    }


async def test_a_refund_event_saying_more_than_stripe_changes_nothing(connected: PayStack) -> None:
    stack = connected
    _doctor, _patient, patient_session, pr, intent = await paid_intent(stack)
    assert (await stack.report(pr["id"], patient_session))[1]["status"] == "paid"
    await stack.webhooks_settled()
    forged = _event(
        "charge.refunded",
        stack.account,
        {
            "id": intent.get("latest_charge") or "ch_forged",
            "object": "charge",
            "payment_intent": intent["id"],
            "amount": 8000,
            "amount_refunded": 800_000,
            "refunded": True,
            "currency": "aud",
        },
    )
    assert await stack.deliver(forged) == 200
    row = await request_row(stack, pr["id"])
    assert (row.status, row.amount_refunded) == ("paid", 0)
    assert await receipts_queued(stack, pr["id"], kind="refund") == 0

    # A real partial refund is recorded as Stripe has it, whatever a later forged payload claims.
    await stack.stripe("POST", "/v1/refunds", {"payment_intent": intent["id"], "amount": "3000"})
    await stack.webhooks_settled()
    assert await stack.deliver({**forged, "id": "evt_forged_" + uuid.uuid4().hex[:16]}) == 200
    row = await request_row(stack, pr["id"])
    assert (row.status, row.amount_refunded) == ("partially_refunded", 3000)


async def test_an_account_event_saying_more_than_stripe_changes_nothing(connected: PayStack) -> None:
    stack = connected
    assert stack.account is not None
    await stack.webhooks_settled()
    async with stack.app[DB]() as db:
        from sqlalchemy import select

        before = await db.scalar(select(Clinic).where(Clinic.stripe_account_id == stack.account))
        assert before is not None and before.stripe_charges_enabled
        name = before.stripe_account_name
    forged = _event(
        "account.updated",
        stack.account,
        {
            "id": stack.account,
            "object": "account",
            "business_profile": {"name": "Someone Else Pty Ltd"},
            "charges_enabled": False,
            "payouts_enabled": False,
            "details_submitted": False,
            "country": "US",
            "default_currency": "usd",
            "requirements": {"currently_due": ["external_account"], "past_due": ["external_account"]},
        },
    )
    published = len(stack.published.events)
    assert await stack.deliver(forged) == 200
    async with stack.app[DB]() as db:
        after = await db.scalar(select(Clinic).where(Clinic.stripe_account_id == stack.account))
        assert after is not None
        assert after.stripe_charges_enabled and after.stripe_account_name == name and after.stripe_country == "AU"
    assert stack.published.of("clinic_status")[published:] == [] or all(
        e.data["payments_available"] for e in stack.published.events[published:] if e.event == "clinic_status"
    )
    # Payments go on as before.
    doctor = await stack.socket(await stack.clinician())
    pr = await stack.request_payment(doctor)
    assert (await stack.checkout(pr["id"], await stack.patient()))[0] == 200


async def test_after_access_is_revoked_a_refund_event_never_counts_more_than_was_paid(connected: PayStack) -> None:
    """Stripe can't be asked any more (the clinic removed its account): the payload stands in, capped."""
    stack = connected
    _doctor, _patient, patient_session, pr, intent = await paid_intent(stack)
    assert (await stack.report(pr["id"], patient_session))[1]["status"] == "paid"
    await stack.webhooks_settled()
    admin = await stack.session(role="team_admin", sub="admin-1", call=None)
    status, body = await stack.api("POST", "/api/v1/clinic/stripe/disconnect", admin)
    assert status == 200, body
    await stack.webhooks_settled()
    forged = _event(
        "charge.refunded",
        stack.account,
        {"id": "ch_forged", "object": "charge", "payment_intent": intent["id"], "amount_refunded": 800_000,
         "refunded": True, "currency": "aud"},
    )  # fmt: skip
    assert await stack.deliver(forged) == 200
    row = await request_row(stack, pr["id"])
    assert row.amount_refunded <= row.amount == 8000
