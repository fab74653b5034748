"""A card on file end to end against the sandbox: saved at join with consent, charged a no-show fee off-session
(once, however often asked), falling back to a pay-later link when the bank wants the patient or declines, removed
by the patient; and the clinic's settings for it."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from addon.appkeys import CLOCK, DB, GATEWAY
from addon.models import AuditEvent, OffSessionCharge, OutboxEmail, PaymentRequest, SavedCard
from addon.services import link_emails, receipts, saved_cards
from tests.saved_cards.conftest import POLICY, save_card
from tests.support.payflow import PayStack, receipts_queued, request_row

PATIENT = {"name": "Pat Lee", "extra": {"email": "pat@example.com"}}


async def audit_actions(stack: PayStack) -> list[str]:
    async with stack.app[DB]() as db:
        return list((await db.scalars(select(AuditEvent.action).order_by(AuditEvent.id))).all())


async def charge(stack: PayStack, staff: dict[str, Any], card_id: str, kind: str = "no_show", **body: Any):  # type: ignore[no-untyped-def]
    return await stack.api(
        "POST", f"/api/v1/saved-cards/{card_id}/fees", staff, json={"kind": kind, "client_ref": "c-1", **body}
    )


async def intents_at_stripe(stack: PayStack, customer: str) -> list[dict[str, Any]]:
    body = await stack.stripe("GET", f"/v1/payment_intents?customer={customer}&limit=100")
    return list(body["data"])


async def card_row(stack: PayStack, card_id: str) -> SavedCard:
    async with stack.app[DB]() as db:
        return await db.get_one(SavedCard, card_id)


async def test_save_at_join_then_no_show_fee_then_a_receipt_citing_the_policy(clinic: PayStack) -> None:
    patient = await clinic.patient(**PATIENT)
    status, offer = await clinic.api("GET", "/api/v1/saved-card", patient)
    assert status == 200
    assert offer["enabled"] and offer["ask"] and offer["policy"] == POLICY and offer["card"] is None
    assert offer["clinic_name"] == "Harbour Physio" and offer["email"] == "pat@example.com"

    card = await save_card(clinic, patient)
    assert card["card"] == "Visa ending in 4242" and card["consent_text"] == POLICY and card["call"] == "call-1"
    assert card["email"] == "pat@example.com" and card["consent_at"] and card["saved_at"]
    row = await card_row(clinic, card["id"])
    assert row.stripe_customer_id and row.stripe_payment_method_id and row.stripe_setup_intent_id
    # Asked no more once saved; the widget shows the card instead.
    status, offer = await clinic.api("GET", "/api/v1/saved-card", patient)
    assert not offer["ask"] and offer["card"]["id"] == card["id"]
    actions = await audit_actions(clinic)
    assert actions.count("saved_card.consented") == 1 and actions.count("saved_card.saved") == 1
    async with clinic.app[DB]() as db:
        consent = await db.scalar(select(AuditEvent).where(AuditEvent.action == "saved_card.consented"))
    assert consent is not None and consent.data["policy"] == POLICY and consent.data["call"] == "call-1"
    assert consent.actor_role == "patient"

    admin = await clinic.session(role="team_admin", sub="admin-1", name="Alex Admin", call=None)
    status, page = await clinic.api("GET", "/api/v1/saved-cards", admin)
    assert status == 200 and page["may_charge"] and [c["id"] for c in page["data"]] == [card["id"]]
    assert page["data"][0]["patient"] == {"id": "patient-1", "name": "Pat Lee"}
    assert [(f["kind"], f["amount_display"]) for f in page["fees"]] == [
        ("no_show", "A$50.00"),
        ("late_cancellation", "A$30.00"),
    ]

    status, fee = await charge(clinic, admin, card["id"])
    assert status == 201, fee
    assert fee["outcome"] == "paid" and fee["payment_link"] is None
    assert fee["message"] == "No-show fee of A$50.00 charged to Visa ending in 4242."
    pr = fee["payment_request"]
    assert pr["status"] == "paid" and pr["amount"] == 5000 and pr["description"] == "No-show fee"
    assert pr["call"] == "call-1" and pr["card_display"] == "Visa ending in 4242" and pr["receipt_number"]
    # Asked again (a retry, a second click): the same request, the same one charge.
    status, again = await charge(clinic, admin, card["id"], client_ref="c-2")
    assert status == 200 and again["payment_request"]["id"] == pr["id"]
    assert again["message"].startswith("Already charged")
    assert row.stripe_customer_id is not None
    assert len(await intents_at_stripe(clinic, row.stripe_customer_id)) == 1
    await clinic.webhooks_settled()
    assert (await request_row(clinic, pr["id"])).status == "paid"
    assert await receipts_queued(clinic, pr["id"]) == 1

    # The receipt's email cites the policy the patient agreed to, and the day they agreed.
    async with clinic.app[DB]() as db:
        receipt = await receipts.load_receipt(db, pr["id"])
    assert receipt is not None and receipt.policy == POLICY and receipt.policy_agreed_on
    email = receipts.build_receipt_email(receipt, to_address="pat@example.com", mail_from="receipts@callpay.test")
    text = email.get_body(("plain",))
    html = email.get_body(("html",))
    assert text is not None and html is not None
    assert f"under the policy you agreed to on {receipt.policy_agreed_on}" in text.get_content()
    assert POLICY in text.get_content() and "No-show fee" in text.get_content()
    assert "24 hours&#39; notice" in html.get_content() or "24 hours' notice" in html.get_content()
    # Its history says how it was paid, in the staff's words.
    status, detail = await clinic.api("GET", f"/api/v1/payment-requests/{pr['id']}", admin)
    said = [entry["what"] for entry in detail["timeline"]]
    assert "Alex Admin asked for it to be charged to the patient's saved card" in said, said
    assert "The patient started paying" not in said
    assert any(what.startswith("Paid with Visa ending in 4242") for what in said), said
    # It lists and exports like any other payment.
    status, listing = await clinic.api("GET", "/api/v1/payments", admin)
    assert status == 200 and pr["id"] in [item["id"] for item in listing["data"]]


async def test_not_now_still_joins_and_is_not_asked_again_in_that_call(clinic: PayStack) -> None:
    patient = await clinic.patient(**PATIENT)
    status, offer = await clinic.api("POST", "/api/v1/saved-card/decline", patient)
    assert status == 200 and offer["enabled"] and not offer["ask"] and offer["card"] is None
    # Twice is the same "Not now".
    status, offer = await clinic.api("POST", "/api/v1/saved-card/decline", patient)
    assert status == 200 and not offer["ask"]
    status, offer = await clinic.api("GET", "/api/v1/saved-card", patient)
    assert not offer["ask"]
    # Nothing was made at Stripe.
    assert (await clinic.stripe("GET", "/v1/customers?limit=10"))["data"] == []
    # The call goes on: the patient pays a request as ever.
    doctor = await clinic.socket(await clinic.clinician())
    pr = await clinic.request_payment(doctor)
    intent, _ = await clinic.pay(pr["id"], patient)
    assert intent["status"] == "succeeded"
    # Their next call asks again.
    later = await clinic.patient(call="call-2", **PATIENT)
    status, offer = await clinic.api("GET", "/api/v1/saved-card", later)
    assert offer["ask"]
    assert (await audit_actions(clinic)).count("saved_card.declined") == 2


async def test_a_fee_the_bank_wants_the_patient_for_is_sent_as_a_link(clinic: PayStack) -> None:
    patient = await clinic.patient(**PATIENT)
    # 4000 0027 6000 3184: authenticated when saved, and wants its holder for every payment, off-session too.
    card = await save_card(clinic, patient, "pm_card_authenticationRequired")
    assert card["card"] == "Visa ending in 3184"
    admin = await clinic.session(role="team_admin", sub="admin-1", call=None)
    status, fee = await charge(clinic, admin, card["id"])
    assert status == 201, fee
    assert fee["outcome"] == "needs_patient"
    assert fee["message"] == (
        "The patient's bank wants them to confirm this payment, so nothing was charged. A pay-later link for the "
        "no-show fee of A$50.00 was emailed to pat@example.com."
    )
    link = fee["payment_link"]
    pr = fee["payment_request"]
    assert link["origin"] == "saved_card" and link["amount"] == 5000 and link["payment_request"] == pr["id"]
    assert pr["status"] == "failed" and "bank asked to confirm" in pr["failure_message"]
    async with clinic.app[DB]() as db:
        emails = (await db.scalars(select(OutboxEmail).where(OutboxEmail.kind == "payment_link"))).all()
        charge_row = await db.scalar(select(OffSessionCharge))
    assert [(e.to_address, e.dedupe_key) for e in emails] == [
        ("pat@example.com", f"link:{link['id']}:saved-card-authentication")
    ]
    assert charge_row is not None and charge_row.status == "needs_patient"
    assert charge_row.failure_code == "authentication_required" and charge_row.stripe_payment_intent_id
    message = await link_emails.link_message(clinic.app[DB], emails[0].dedupe_key, "pat@example.com", "a@b.test")
    body = message.get_body(("plain",))
    assert body is not None and "your bank wants you to confirm this payment yourself" in body.get_content()
    # Asked again: the same link, no second email, no second attempt at Stripe.
    status, again = await charge(clinic, admin, card["id"])
    assert status == 200 and again["payment_link"]["id"] == link["id"]
    async with clinic.app[DB]() as db:
        count = await db.scalar(select(func.count()).select_from(OutboxEmail).where(OutboxEmail.kind == "payment_link"))
    assert count == 1
    # The patient pays the link: the fee is paid, with its receipt.
    token = link["url"].rsplit("/", 1)[1]
    status, session = await clinic.api("POST", f"/api/v1/pay/{token}/checkout", None, json={"email": "pat@example.com"})
    assert status == 200, session
    intent = await clinic.confirm_intent(session["client_secret"].split("_secret_")[0], "pm_card_visa")
    assert intent["status"] == "succeeded"
    status, paid = await clinic.api("POST", f"/api/v1/pay/{token}/confirmation", None)
    assert status == 200 and paid["id"] == pr["id"] and paid["status"] == "paid"
    await clinic.webhooks_settled()
    assert await receipts_queued(clinic, pr["id"]) == 1


async def test_a_declined_saved_card_sends_a_link(clinic: PayStack) -> None:
    patient = await clinic.patient(**PATIENT)
    # 4000 0000 0000 9995: saves fine (the bank checks the card, not its balance), declined when charged.
    card = await save_card(clinic, patient, "pm_card_chargeDeclinedInsufficientFunds")
    admin = await clinic.session(role="team_admin", sub="admin-1", call=None)
    status, fee = await charge(clinic, admin, card["id"], kind="late_cancellation")
    assert status == 201 and fee["outcome"] == "needs_patient"
    assert fee["message"].startswith("The card was declined, so nothing was charged.")
    assert fee["payment_request"]["amount"] == 3000 and fee["payment_request"]["description"] == "Late-cancellation fee"
    async with clinic.app[DB]() as db:
        keys = (await db.scalars(select(OutboxEmail.dedupe_key).where(OutboxEmail.kind == "payment_link"))).all()
        charge_row = await db.scalar(select(OffSessionCharge))
    assert keys == [f"link:{fee['payment_link']['id']}:saved-card-declined"]
    assert charge_row is not None and charge_row.failure_code == "insufficient_funds"
    await clinic.webhooks_settled()
    assert (await request_row(clinic, fee["payment_request"]["id"])).status == "failed"


async def test_the_patient_removes_their_card(clinic: PayStack) -> None:
    patient = await clinic.patient(**PATIENT)
    card = await save_card(clinic, patient)
    row = await card_row(clinic, card["id"])
    status, removed = await clinic.api("POST", f"/api/v1/saved-cards/{card['id']}/remove", patient)
    assert status == 200 and removed["status"] == "removed" and removed["removed_at"]
    # Detached at Stripe: the customer has no card left to charge.
    listed = await clinic.stripe("GET", f"/v1/customers/{row.stripe_customer_id}/payment_methods")
    assert listed["data"] == []
    # Twice is harmless.
    status, again = await clinic.api("POST", f"/api/v1/saved-cards/{card['id']}/remove", patient)
    assert status == 200 and again["status"] == "removed"
    await clinic.webhooks_settled()
    assert (await audit_actions(clinic)).count("saved_card.removed") == 1
    admin = await clinic.session(role="team_admin", sub="admin-1", call=None)
    status, page = await clinic.api("GET", "/api/v1/saved-cards", admin)
    assert page["data"] == []
    status, page = await clinic.api("GET", "/api/v1/saved-cards?status=removed", admin)
    assert [c["id"] for c in page["data"]] == [card["id"]]
    status, body = await charge(clinic, admin, card["id"])
    assert status == 409 and body["error"]["code"] == "card_removed"
    # Another patient can't remove someone's card (nor see that it exists).
    other = await clinic.patient(sub="patient-2", call="call-1")
    status, body = await clinic.api("POST", f"/api/v1/saved-cards/{card['id']}/remove", other)
    assert status == 404
    # The patient may save a card again, even in this call.
    status, offer = await clinic.api("GET", "/api/v1/saved-card", patient)
    assert offer["ask"]


async def test_a_double_click_charges_once(clinic: PayStack) -> None:
    patient = await clinic.patient(**PATIENT)
    card = await save_card(clinic, patient)
    admin = await clinic.session(role="team_admin", sub="admin-1", call=None)
    other_admin = await clinic.session(role="team_admin", sub="admin-2", call=None)
    answers = await asyncio.gather(
        charge(clinic, admin, card["id"]),
        charge(clinic, admin, card["id"]),
        charge(clinic, other_admin, card["id"], client_ref="other"),
    )
    assert sorted(status for status, _ in answers) == [200, 200, 201]
    assert len({body["payment_request"]["id"] for _, body in answers}) == 1
    row = await card_row(clinic, card["id"])
    assert row.stripe_customer_id is not None
    assert len(await intents_at_stripe(clinic, row.stripe_customer_id)) == 1
    async with clinic.app[DB]() as db:
        fees = await db.scalar(
            select(func.count()).select_from(PaymentRequest).where(PaymentRequest.description == "No-show fee")
        )
    assert fees == 1
    await clinic.webhooks_settled()
    assert await receipts_queued(clinic, answers[0][1]["payment_request"]["id"]) == 1


async def test_the_setup_intent_event_alone_saves_the_card(clinic: PayStack) -> None:
    """The browser may never report (a closed tab): Stripe's setup_intent.succeeded saves the card."""
    patient = await clinic.patient(**PATIENT)
    status, offer = await clinic.api("GET", "/api/v1/saved-card", patient)
    status, setup = await clinic.api(
        "POST", "/api/v1/saved-card/setup", patient, json={"email": "pat@example.com", "agree": True, "policy": POLICY}
    )
    assert status == 200
    # Pressed twice: the same SetupIntent.
    status, twice = await clinic.api(
        "POST", "/api/v1/saved-card/setup", patient, json={"email": "pat@example.com", "agree": True, "policy": POLICY}
    )
    assert status == 200 and twice["client_secret"] == setup["client_secret"]
    setup_id = setup["client_secret"].split("_secret_")[0]
    await clinic.stripe("POST", f"/v1/setup_intents/{setup_id}/confirm", {"payment_method": "pm_card_mastercard"})
    await clinic.webhooks_settled()
    status, offer = await clinic.api("GET", "/api/v1/saved-card", patient)
    assert offer["card"]["status"] == "active" and offer["card"]["card"] == "Mastercard ending in 4444"
    assert (await audit_actions(clinic)).count("saved_card.saved") == 1


async def test_consent_must_be_to_the_policy_as_it_is(clinic: PayStack) -> None:
    patient = await clinic.patient(**PATIENT)
    status, body = await clinic.api(
        "POST", "/api/v1/saved-card/setup", patient, json={"email": "pat@example.com", "agree": True, "policy": "old"}
    )
    assert status == 409 and body["error"]["code"] == "policy_changed"
    status, body = await clinic.api(
        "POST", "/api/v1/saved-card/setup", patient, json={"email": "pat@example.com", "agree": False, "policy": POLICY}
    )
    assert status == 400 and body["error"]["field"] == "agree"
    status, body = await clinic.api(
        "POST", "/api/v1/saved-card/setup", patient, json={"email": "not-an-email", "agree": True, "policy": POLICY}
    )
    assert status == 400 and body["error"]["field"] == "email"
    status, body = await clinic.api("POST", "/api/v1/saved-card/setup", patient, json={"agree": True})
    assert status == 400 and body["error"]["field"] in ("email", "policy")
    doctor = await clinic.clinician()
    status, body = await clinic.api("GET", "/api/v1/saved-card", doctor)
    assert status == 403
    assert (await clinic.stripe("GET", "/v1/customers?limit=10"))["data"] == []


async def test_the_charge_api_for_other_parts_of_callpay(clinic: PayStack) -> None:
    """charge_saved_card / charge_request, as instalment plans call them."""
    app = clinic.app
    common: dict[str, Any] = {"clock": app[CLOCK], "base_url": clinic.url}
    doctor = await clinic.socket(await clinic.clinician())
    pr = await clinic.request_payment(doctor, amount="120.00", description="Instalment 2 of 3")
    row = await request_row(clinic, pr["id"])
    # Nobody in the call has a saved card: nothing charged, nothing written.
    outcome = await saved_cards.charge_request(
        app[DB], app[GATEWAY], request_id=pr["id"], purpose="instalment", idempotency_key="i-2", **common
    )
    assert isinstance(outcome, saved_cards.NoSavedCard) and outcome.events == []
    patient = await clinic.patient(**PATIENT)
    await save_card(clinic, patient)
    outcome = await saved_cards.charge_request(
        app[DB], app[GATEWAY], request_id=pr["id"], purpose="instalment", idempotency_key="i-2", **common
    )
    assert isinstance(outcome, saved_cards.Paid) and outcome.first
    assert outcome.payment_request.id == pr["id"] and outcome.payment_request.status == "paid"
    assert {e.event for e in outcome.events} >= {"payment_request", "payment_received"}
    again = await saved_cards.charge_request(
        app[DB], app[GATEWAY], request_id=pr["id"], purpose="instalment", idempotency_key="i-2", **common
    )
    assert isinstance(again, saved_cards.Paid) and not again.first and again.events == []
    made = await saved_cards.charge_saved_card(
        app[DB], app[GATEWAY], clinic_id=row.clinic_id, call_id=row.call_id, clinician_id=row.clinician_id,
        amount=4000, currency="aud", description="Instalment 3 of 3", purpose="instalment", idempotency_key="i-3",
        **common,
    )  # fmt: skip
    assert isinstance(made, saved_cards.Paid) and made.payment_request.amount == 4000
    assert made.payment_request.payer is not None and made.payment_request.payer.id == "patient-1"
