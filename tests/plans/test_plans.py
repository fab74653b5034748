"""Instalment plans end to end: offered on a request, the first paid now, the rest charged on their dates to the
saved card (or sent as pay-later links), the scheduler safe across restarts, cancelling, and the amounts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from addon.appkeys import DB
from addon.clock import ManualClock
from addon.models import Instalment, OffSessionCharge, OutboxEmail, PaymentLink, PaymentRequest, utcnow
from addon.services import plans, receipts
from tests.plans.conftest import PATIENT, WEEK, offer, patient_with_card, requested, sweep
from tests.support.payflow import PayStack, request_row


def test_amounts_add_up_with_the_remainder_on_the_first() -> None:
    assert plans.split(10000, 3) == [3334, 3333, 3333]
    assert plans.split(100001, 12)[0] == 8333 + 5 and sum(plans.split(100001, 12)) == 100001
    for total in (20001, 99999, 123457):
        for count in range(2, 13):
            parts = plans.split(total, count)
            assert sum(parts) == total and len(parts) == count and max(parts) - min(parts) < count


def test_monthly_dates_keep_the_day_or_the_month_end() -> None:
    from datetime import UTC, datetime

    start = datetime(2027, 1, 31, 9, 30, tzinfo=UTC)
    assert [d.date().isoformat() for d in plans.due_dates(start, "monthly", 4)] == [
        "2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30",
    ]  # fmt: skip
    assert plans.due_dates(start, "fortnightly", 2)[1] - start == timedelta(days=14)


async def _instalments(stack: PayStack, plan_id: str) -> list[Instalment]:
    async with stack.app[DB]() as db:
        rows = await db.scalars(select(Instalment).where(Instalment.plan_id == plan_id).order_by(Instalment.number))
        return list(rows)


async def _charges(stack: PayStack) -> int:
    async with stack.app[DB]() as db:
        return int(await db.scalar(select(func.count()).select_from(OffSessionCharge)) or 0)


async def _intents(stack: PayStack) -> list[dict[str, Any]]:
    return list((await stack.stripe("GET", "/v1/payment_intents?limit=100"))["data"])


async def test_a_plan_of_three_on_a_saved_card(clinic: PayStack, clock: ManualClock) -> None:
    patient = await patient_with_card(clinic)
    doctor = await clinic.socket(await clinic.clinician())
    pr = await requested(clinic, doctor, "300.01")
    status, plan = await offer(clinic, await clinic.clinician(), pr["id"])
    assert status == 201, plan
    assert [i["amount"] for i in plan["instalments"]] == [10001, 10000, 10000]
    assert [i["status"] for i in plan["instalments"]] == ["unpaid", "scheduled", "scheduled"]
    assert plan["outstanding_display"] == "A$300.01" and plan["next_amount_display"] == "A$100.00"
    assert (await request_row(clinic, pr["id"])).status == "canceled"
    # Screens say it was split, not called off: the request names the plan that replaced it.
    assert (await request_row(clinic, pr["id"])).replaced_by_plan_id == plan["id"]
    first = plan["instalments"][0]["payment_request"]
    assert (await request_row(clinic, first)).description == "Treatment course — instalment 1 of 3"
    assert (await request_row(clinic, first)).replaced_by_plan_id is None
    # The patient pays the first now, in the call.
    intent, _ = await clinic.pay(first, patient)
    assert intent["status"] == "succeeded"
    await clinic.webhooks_settled()
    assert (await request_row(clinic, first)).status == "paid"
    # Nothing is charged before its date.
    clock.advance(WEEK - timedelta(minutes=1))
    await sweep(clinic)
    assert await _charges(clinic) == 0
    clock.advance(timedelta(minutes=2))
    swept = await sweep(clinic)
    assert swept.charged == 1
    second = (await _instalments(clinic, plan["id"]))[1]
    assert second.status == "sent" and second.outcome == "paid" and not second.late
    assert second.payment_request_id is not None
    row = await request_row(clinic, second.payment_request_id)
    assert row.status == "paid" and row.amount == 10000 and row.receipt_number is not None
    assert row.description == "Treatment course — instalment 2 of 3"
    # It names the patient as the first did: the name learned at that checkout, so the receipt can be claimed.
    assert row.patient_name is not None
    assert row.patient_name == (await request_row(clinic, first)).patient_name
    # Its own receipt says which instalment it is, what of the plan is outstanding, and the next date.
    async with clinic.app[DB]() as db:
        receipt = await receipts.load_receipt(db, row.id)
    assert receipt is not None and receipt.outstanding_display == "A$100.00"
    assert receipt.plan_note is not None and receipt.plan_note.startswith("Instalment 2 of 3 of a plan for A$300.01.")
    assert "Next: A$100.00 on" in receipt.plan_note and "late" not in receipt.plan_note
    email = receipts.build_receipt_email(receipt, to_address="pat@example.com", mail_from="clinic@example.com")
    plain = email.get_body(("plain",))
    assert plain is not None and "Outstanding:    A$100.00" in plain.get_content()
    clock.advance(WEEK)
    await sweep(clinic)
    status, body = await clinic.api("GET", f"/api/v1/plans/{plan['id']}", await clinic.clinician())
    assert status == 200
    assert [i["status"] for i in body["instalments"]] == ["paid", "paid", "paid"]
    assert body["status"] == "completed" and body["outstanding"] == 0 and body["paid"] == 30001
    assert body["next_due_at"] is None


async def test_the_second_charge_declined_sends_a_link_that_is_then_paid(clinic: PayStack, clock: ManualClock) -> None:
    patient = await patient_with_card(clinic, "pm_card_chargeDeclinedInsufficientFunds")
    doctor = await clinic.socket(await clinic.clinician())
    pr = await requested(clinic, doctor)
    status, plan = await offer(clinic, await clinic.clinician(), pr["id"])
    assert status == 201, plan
    await clinic.pay(plan["instalments"][0]["payment_request"], patient, "pm_card_visa")
    clock.advance(WEEK)
    swept = await sweep(clinic)
    assert swept.linked == 1 and swept.charged == 0
    second = (await _instalments(clinic, plan["id"]))[1]
    assert second.outcome == "link" and second.payment_link_id is not None
    async with clinic.app[DB]() as db:
        link = await db.get_one(PaymentLink, second.payment_link_id)
        emails = (await db.scalars(select(OutboxEmail.dedupe_key).where(OutboxEmail.kind == "payment_link"))).all()
    assert link.amount == 10000 and link.email == "pat@example.com"
    assert any(key.startswith(f"link:{link.id}:saved-card-declined") for key in emails)
    status, view = await clinic.api("GET", f"/api/v1/plans/{plan['id']}", await clinic.clinician())
    assert view["instalments"][1]["status"] == "unpaid"
    # The patient pays it with the link, with another card.
    status, session = await clinic.api(
        "POST", f"/api/v1/pay/{link.token}/checkout", None, json={"email": "pat@example.com"}
    )
    assert status == 200, session
    await clinic.confirm_intent(session["client_secret"].split("_secret_")[0], "pm_card_visa")
    await clinic.webhooks_settled()
    status, view = await clinic.api("GET", f"/api/v1/plans/{plan['id']}", await clinic.clinician())
    assert [i["status"] for i in view["instalments"]][:2] == ["paid", "paid"]
    assert view["paid"] == 20000 and view["outstanding"] == 10000
    # A second sweep on the same day charges nothing more.
    await sweep(clinic)
    assert await _charges(clinic) == 1


async def test_no_saved_card_sends_each_instalment_as_a_link(clinic: PayStack, clock: ManualClock) -> None:
    patient = await clinic.patient(**PATIENT)
    doctor = await clinic.socket(await clinic.clinician())
    await clinic.socket(patient)
    pr = await requested(clinic, doctor)
    _, plan = await offer(clinic, await clinic.clinician(), pr["id"], count=2, interval="fortnightly")
    await clinic.pay(plan["instalments"][0]["payment_request"], patient)
    clock.advance(timedelta(days=14, minutes=1))
    swept = await sweep(clinic)
    assert swept.linked == 1
    second = (await _instalments(clinic, plan["id"]))[1]
    async with clinic.app[DB]() as db:
        link = await db.get_one(PaymentLink, second.payment_link_id)
    assert link.origin == "instalment" and link.amount == 15000 and link.email == "pat@example.com"
    assert await _charges(clinic) == 0


async def test_a_restart_across_a_due_date_charges_once_late_and_says_so(clinic: PayStack, clock: ManualClock) -> None:
    patient = await patient_with_card(clinic)
    doctor = await clinic.socket(await clinic.clinician())
    pr = await requested(clinic, doctor)
    _, plan = await offer(clinic, await clinic.clinician(), pr["id"])
    await clinic.pay(plan["instalments"][0]["payment_request"], patient)
    # No sweeper ran on the day (the worker was down); it comes back three days later, and a second worker with it.
    clock.advance(WEEK + timedelta(days=3))
    before = len(await _intents(clinic))
    await sweep(clinic)
    await sweep(clinic)
    second = (await _instalments(clinic, plan["id"]))[1]
    assert second.late and second.outcome == "paid" and second.attempts == 1
    assert len(await _intents(clinic)) == before + 1
    row = await request_row(clinic, second.payment_request_id or "")
    assert row.status == "paid"
    assert "charged late" in row.description and "instalment 2 of 3" in row.description
    async with clinic.app[DB]() as db:
        receipt = await receipts.load_receipt(db, row.id)
    assert receipt is not None and receipt.plan_note is not None and "was charged late" in receipt.plan_note
    status, body = await clinic.api("GET", f"/api/v1/plans/{plan['id']}", await clinic.clinician())
    assert status == 200 and body["instalments"][1]["late"] is True
    # The third is not late: it is charged on its own date.
    assert body["instalments"][2]["status"] == "scheduled"


async def test_a_worker_that_died_mid_charge_is_taken_over_without_a_second_charge(
    clinic: PayStack, clock: ManualClock
) -> None:
    patient = await patient_with_card(clinic)
    doctor = await clinic.socket(await clinic.clinician())
    pr = await requested(clinic, doctor)
    _, plan = await offer(clinic, await clinic.clinician(), pr["id"])
    await clinic.pay(plan["instalments"][0]["payment_request"], patient)
    clock.advance(WEEK)
    second = (await _instalments(clinic, plan["id"]))[1]
    # A worker claims the instalment, charges it at Stripe, and dies before recording that it did.
    async with clinic.app[DB].begin() as db:
        claim = await plans._claim(db, second.id, clock.now())
    assert claim is not None
    from addon.appkeys import CLOCK, GATEWAY
    from addon.services import saved_cards

    charged = await saved_cards.charge_request(
        clinic.app[DB], clinic.app[GATEWAY], clock=clinic.app[CLOCK], base_url=clinic.url,
        request_id=claim.request_id, purpose="instalment", idempotency_key=f"instalment:{second.id}",
    )  # fmt: skip
    assert isinstance(charged, saved_cards.Paid)
    intents = len(await _intents(clinic))
    # While its lease holds, no one else takes it.
    assert (await sweep(clinic)).charged == 0
    clock.advance(plans.LEASE + timedelta(seconds=1))
    await sweep(clinic)
    after = (await _instalments(clinic, plan["id"]))[1]
    assert after.status == "sent" and after.outcome == "paid" and after.attempts == 2
    assert after.payment_request_id == claim.request_id
    assert len(await _intents(clinic)) == intents
    async with clinic.app[DB]() as db:
        made = await db.scalar(
            select(func.count()).select_from(PaymentRequest).where(PaymentRequest.description.like("%2 of 3%"))
        )
    assert made == 1


async def test_cancel_stops_what_is_scheduled(clinic: PayStack, clock: ManualClock) -> None:
    await patient_with_card(clinic)
    doctor = await clinic.socket(await clinic.clinician())
    pr = await requested(clinic, doctor)
    admin = await clinic.session(role="team_admin", sub="admin-1", name="Alex Admin", call=None)
    _, plan = await offer(clinic, admin, pr["id"], count=4, interval="monthly")
    status, body = await clinic.api("POST", f"/api/v1/plans/{plan['id']}/cancel", admin)
    assert status == 200, body
    assert body["status"] == "canceled" and not body["cancelable"]
    assert [i["status"] for i in body["instalments"]] == ["unpaid", "canceled", "canceled", "canceled"]
    # Only the first instalment, already sent to the patient, can still be paid: the cancelled ones are not owed.
    first = body["instalments"][0]
    assert body["paid"] == 0 and body["outstanding"] == first["amount"] < body["amount"]
    assert body["outstanding_display"] == first["amount_display"]
    clock.advance(timedelta(days=200))
    await sweep(clinic)
    assert await _charges(clinic) == 0
    status, again = await clinic.api("POST", f"/api/v1/plans/{plan['id']}/cancel", admin)
    assert status == 200 and again["status"] == "canceled"
    status, listed = await clinic.api("GET", "/api/v1/plans?status=canceled", admin)
    assert [p["id"] for p in listed["data"]] == [plan["id"]]


async def test_reminder_before_each_date(clinic: PayStack, clock: ManualClock) -> None:
    patient = await patient_with_card(clinic)
    doctor = await clinic.socket(await clinic.clinician())
    pr = await requested(clinic, doctor)
    _, plan = await offer(clinic, await clinic.clinician(), pr["id"], count=2)
    await clinic.pay(plan["instalments"][0]["payment_request"], patient)
    clock.advance(WEEK - plans.REMIND_BEFORE - timedelta(minutes=5))
    assert (await sweep(clinic)).reminded == 0
    clock.advance(timedelta(minutes=10))
    assert (await sweep(clinic)).reminded == 1
    assert (await sweep(clinic)).reminded == 0
    async with clinic.app[DB]() as db:
        rows = (await db.scalars(select(OutboxEmail).where(OutboxEmail.kind == "instalment_reminder"))).all()
    assert len(rows) == 1 and rows[0].to_address == "pat@example.com"
    from addon.services import plan_emails

    message = await plan_emails.reminder_message(clinic.app[DB], rows[0].dedupe_key, "pat@example.com", "a@b.c")
    text = message.get_body(("plain",))
    assert text is not None
    words = text.get_content()
    assert "instalment 2 of 2" in words and "A$150.00" in words and "saved card (Visa ending in 4242)" in words
    # The schedule went once, when the plan was made.
    async with clinic.app[DB]() as db:
        sent = (await db.scalars(select(OutboxEmail).where(OutboxEmail.kind == "instalment_schedule"))).all()
    assert len(sent) == 1 and sent[0].to_address == "pat@example.com"
    schedule = await plan_emails.schedule_message(clinic.app[DB], sent[0].dedupe_key, "pat@example.com", "a@b.c")
    body = schedule.get_body(("plain",))
    assert body is not None
    words = body.get_content()
    assert "split A$300.00 for Treatment course into 2 instalments" in words
    assert "1 of 2: A$150.00, now" in words and "2 of 2: A$150.00, " in words
    assert "charged on their dates to your saved card (Visa ending in 4242)" in words


async def test_a_checkout_left_open_is_cancelled_at_stripe_before_the_split(clinic: PayStack) -> None:
    patient = await clinic.patient(**PATIENT)
    doctor = await clinic.socket(await clinic.clinician())
    pr = await requested(clinic, doctor)
    status, session = await clinic.checkout(pr["id"], patient)
    assert status == 200, session
    intent_id = session["client_secret"].split("_secret_")[0]
    # While the patient is at the card form, the request isn't split under them.
    status, body = await offer(clinic, await clinic.clinician(), pr["id"])
    assert status == 409 and body["error"]["code"] == "not_splittable"
    assert "paying this request right now" in body["error"]["message"]
    # They walk away (the checkout's claim lapses): the split cancels the intent first.
    async with clinic.app[DB].begin() as db:
        await db.execute(
            update(PaymentRequest).where(PaymentRequest.id == pr["id"]).values(paying_until=utcnow() - timedelta(1))
        )
    status, plan = await offer(clinic, await clinic.clinician(), pr["id"])
    assert status == 201, plan
    assert (await clinic.stripe("GET", f"/v1/payment_intents/{intent_id}"))["status"] == "canceled"
    assert (await request_row(clinic, pr["id"])).status == "canceled"
    # The old checkout can't be completed now.
    confirmed = await clinic.confirm_intent(intent_id)
    assert confirmed.get("error"), confirmed
