"""POST /api/v1/payment-requests/{id}/refunds against the Stripe sandbox: partial then full, too much, the same
ask twice, who may refund, the race between two admins, and Stripe's own refund events."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from addon.appkeys import DB
from addon.models import OutboxEmail, PaymentRequest, Refund
from addon.services import refunds as refunds_service
from tests.centre.conftest import PayStack, admin, pay_in_call, refund
from tests.support.payflow import receipts_queued, request_row


async def stripe_refunds(stack: PayStack, intent_id: str) -> list[dict[str, Any]]:
    body = await stack.stripe("GET", f"/v1/refunds?payment_intent={intent_id}&limit=100")
    return list(body["data"])


async def test_a_partial_refund_then_the_rest(connected: PayStack) -> None:
    stack = connected
    paid = await pay_in_call(stack)
    boss = await admin(stack)
    status, body = await refund(stack, boss, paid.request["id"], amount=3000, reason="Charged for 30 min, was 20")
    assert status == 201, body
    assert body["refund"]["amount"] == 3000 and body["refund"]["status"] == "succeeded"
    assert body["refund"]["reason"] == "Charged for 30 min, was 20"
    assert body["refund"]["amount_display"] == "A$30.00"
    pr = body["payment_request"]
    assert (pr["status"], pr["amount_refunded"], pr["amount_refundable"]) == ("partially_refunded", 3000, 5000)
    assert pr["refundable"] is True and len(pr["refunds"]) == 1
    assert any("asked for a refund of A$30.00" in entry["what"] for entry in pr["timeline"])

    # No amount: all that is left.
    status, body = await refund(stack, boss, paid.request["id"], reason="Cancelled the rest")
    assert status == 201, body
    assert body["refund"]["amount"] == 5000
    pr = body["payment_request"]
    assert (pr["status"], pr["amount_refunded"], pr["refundable"]) == ("refunded", 8000, False)

    at_stripe = await stripe_refunds(stack, paid.intent["id"])
    assert sorted(r["amount"] for r in at_stripe) == [3000, 5000]
    # Nothing clinical goes to Stripe: the reason stays in Callpay.
    assert all("reason" not in r["metadata"] and r["reason"] is None for r in at_stripe)
    assert await receipts_queued(stack, paid.request["id"], kind="refund") == 2
    assert await receipts_queued(stack, paid.request["id"]) == 1

    # The clinician who took the payment sees it change, live, in the call.
    await paid.doctor.wait_for(lambda user: any(e["status"] == "refunded" for e in user.of("payment_request")))
    statuses = [e["status"] for e in paid.doctor.of("payment_request") if e["id"] == paid.request["id"]]
    assert "partially_refunded" in statuses and statuses[-1] == "refunded"


async def test_more_than_is_left_is_refused_saying_how_much_is_left(connected: PayStack) -> None:
    stack = connected
    paid = await pay_in_call(stack)
    boss = await admin(stack)
    status, body = await refund(stack, boss, paid.request["id"], amount=9000)
    assert status == 409, body
    assert body["error"]["code"] == "refund_too_large"
    assert "A$80.00 of A$80.00 is left" in body["error"]["message"]
    status, body = await refund(stack, boss, paid.request["id"], amount="20.00")
    assert status == 201 and body["refund"]["amount"] == 2000
    status, body = await refund(stack, boss, paid.request["id"], amount="60.01")
    assert status == 409 and "A$60.00 of A$80.00 is left" in body["error"]["message"]
    status, body = await refund(stack, boss, paid.request["id"])
    assert status == 201 and body["refund"]["amount"] == 6000
    status, body = await refund(stack, boss, paid.request["id"], amount=1)
    assert status == 409 and body["error"]["message"].startswith("Nothing is left to refund: A$80.00")
    assert len(await stripe_refunds(stack, paid.intent["id"])) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": 12.5}, "amount"),
        ({"amount": "ten"}, "amount"),
        ({"reason": "x" * 501}, "reason"),
        ({"client_ref": ""}, "client_ref"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_refund_input_says_what_to_fix(connected: PayStack, body: dict[str, Any], field: str) -> None:
    stack = connected
    paid = await pay_in_call(stack)
    status, answer = await refund(stack, await admin(stack), paid.request["id"], **body)
    assert status == 400, answer
    assert answer["error"]["field"] == field
    assert await stripe_refunds(stack, paid.intent["id"]) == []


async def test_the_same_client_ref_makes_one_refund(connected: PayStack) -> None:
    stack = connected
    paid = await pay_in_call(stack)
    boss = await admin(stack)
    first = await refund(stack, boss, paid.request["id"], amount=2000, client_ref="click-1")
    again = await refund(stack, boss, paid.request["id"], amount=2000, client_ref="click-1")
    assert first[0] == 201 and again[0] == 200
    assert first[1]["refund"]["id"] == again[1]["refund"]["id"]
    assert again[1]["payment_request"]["amount_refunded"] == 2000
    assert len(await stripe_refunds(stack, paid.intent["id"])) == 1
    status, body = await refund(stack, boss, paid.request["id"], amount=2500, client_ref="click-1")
    assert status == 409 and body["error"]["field"] == "client_ref"


async def test_an_unpaid_request_has_nothing_to_refund(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    pr = await stack.request_payment(doctor)
    status, body = await refund(stack, await admin(stack), pr["id"])
    assert status == 409 and body["error"]["code"] == "not_refundable"


async def test_who_may_refund(connected: PayStack) -> None:
    stack = connected
    paid = await pay_in_call(stack)
    pr_id = paid.request["id"]
    ada = await stack.session(role="team_member", sub="dr-ada", name="Dr Ada Lovelace", call=None)
    bob = await stack.session(role="team_member", sub="dr-bob", name="Dr Bob Babbage", call=None)
    org = await stack.session(role="org_admin", sub="olivia", name="Olivia Ng", clinic=None, call=None)
    other_admin = await admin(stack, sub="admin-2", clinic="clinic-2")
    patient = await stack.patient()

    # By default only admins refund.
    status, body = await refund(stack, ada, pr_id, amount=1000)
    assert status == 403 and "only its admins" in body["error"]["message"]
    assert (await refund(stack, org, pr_id, amount=1000))[0] == 403
    assert (await refund(stack, other_admin, pr_id, amount=1000))[0] == 404
    assert (await refund(stack, patient, pr_id, amount=1000))[0] == 404

    # The clinic lets clinicians refund their own, within a day.
    boss = await admin(stack)
    status, body = await stack.api(
        "PATCH", "/api/v1/clinic/settings", boss, json={"clinician_refunds": True, "clinician_refund_window_hours": 24}
    )
    assert status == 200, body
    status, body = await refund(stack, ada, pr_id, amount=1000)
    assert status == 201, body
    status, body = await refund(stack, bob, pr_id, amount=1000)
    assert status == 403 and "clinician who took the payment" in body["error"]["message"]

    # Past the window, the clinician is told to ask an admin.
    async with stack.app[DB].begin() as db:
        row = await db.get_one(PaymentRequest, pr_id)
        assert row.paid_at is not None
        row.paid_at = row.paid_at - timedelta(hours=25)
    status, body = await refund(stack, ada, pr_id, amount=1000)
    assert status == 403 and "for 1 day after they are paid" in body["error"]["message"]
    assert len(await stripe_refunds(stack, paid.intent["id"])) == 1


async def _race(stack: PayStack, pause: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    paid = await pay_in_call(stack)
    first, second = await admin(stack), await admin(stack, sub="admin-2", name="Ben Admin")
    monkeypatch.setattr(refunds_service, "before_reserve", pause)
    results = await asyncio.gather(
        refund(stack, first, paid.request["id"], amount=5000, client_ref="a"),
        refund(stack, second, paid.request["id"], amount=5000, client_ref="b"),
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [201, 409], results
    refused = next(body for status, body in results if status == 409)
    assert refused["error"]["code"] == "refund_too_large"
    assert "A$30.00 of A$80.00 is left" in refused["error"]["message"]
    assert [r["amount"] for r in await stripe_refunds(stack, paid.intent["id"])] == [5000]
    row = await request_row(stack, paid.request["id"])
    assert (row.amount_refunded, row.refund_reserved) == (5000, 5000)


@pytest.mark.postgres
async def test_two_admins_at_once_never_refund_more_than_was_paid(
    postgres_stack: PayStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both read "A$80.00 left" before either reserves (the barrier makes that certain, on PostgreSQL, where reads
    take no lock). Both checks pass; only one conditional reservation fits, so the other is refused."""
    both_read = asyncio.Barrier(2)

    async def pause() -> None:
        await asyncio.wait_for(both_read.wait(), 10)

    await _race(postgres_stack, pause, monkeypatch)


async def test_two_admins_at_once_on_sqlite(connected: PayStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite takes its write lock when the reservation's transaction begins: the second admin waits out the
    first one's pause, then finds only A$30.00 left."""

    async def pause() -> None:
        await asyncio.sleep(0.3)

    await _race(connected, pause, monkeypatch)


async def test_stripe_events_for_our_refund_change_nothing_more(connected: PayStack) -> None:
    stack = connected
    paid = await pay_in_call(stack)
    status, _ = await refund(stack, await admin(stack), paid.request["id"], amount=2000)
    assert status == 201
    before = len(stack.published.of("payment_request"))
    for kind in ("refund.created", "charge.refunded"):
        assert await stack.deliver(await stack.event(paid.intent["id"], kind)) == 200
    await asyncio.sleep(0.3)
    row = await request_row(stack, paid.request["id"])
    assert (row.status, row.amount_refunded) == ("partially_refunded", 2000)
    assert len(stack.published.of("payment_request")) == before
    async with stack.app[DB]() as db:
        count = await db.scalar(select(func.count()).select_from(Refund))
        emails = await db.scalar(select(func.count()).select_from(OutboxEmail).where(OutboxEmail.kind == "refund"))
    assert (count, emails) == (1, 1)


async def test_a_refund_made_in_the_stripe_dashboard_shows_up(connected: PayStack) -> None:
    stack = connected
    paid = await pay_in_call(stack)
    await stack.stripe("POST", "/v1/refunds", {"payment_intent": paid.intent["id"], "amount": "2500"})
    assert await stack.deliver(await stack.event(paid.intent["id"], "charge.refunded")) == 200
    await asyncio.sleep(0.2)
    boss = await admin(stack)
    status, body = await stack.api("GET", f"/api/v1/payment-requests/{paid.request['id']}", boss)
    assert status == 200, body
    assert (body["status"], body["amount_refunded"], body["amount_refundable"]) == ("partially_refunded", 2500, 5500)
    (made,) = body["refunds"]
    assert (made["amount"], made["status"], made["source"]) == (2500, "succeeded", "stripe")
    assert any("made in the Stripe dashboard" in entry["what"] for entry in body["timeline"])
    # The refund.created event for it, arriving after, records nothing twice.
    assert await stack.deliver(await stack.event(paid.intent["id"], "refund.created")) == 200
    async with stack.app[DB]() as db:
        assert await db.scalar(select(func.count()).select_from(Refund)) == 1
    # And what is left is what Stripe has left.
    status, body = await refund(stack, boss, paid.request["id"])
    assert status == 201 and body["refund"]["amount"] == 5500


# --- Refunds that wait, and refunds that fail ------------------------------------------------------------------


async def pay_with(stack: PayStack, payment_method: str) -> dict[str, Any]:
    doctor = await stack.socket(await stack.clinician())
    patient_session = await stack.patient()
    pr = await stack.request_payment(doctor)
    intent, _ = await stack.pay(pr["id"], patient_session, payment_method)
    assert intent["status"] == "succeeded", intent
    status, body = await stack.report(pr["id"], patient_session)
    assert status == 200 and body["status"] == "paid"
    return {"request": body, "intent": intent}


async def settle_at_stripe(stack: PayStack, refund_id: str, outcome: str, **body: str) -> None:
    """The sandbox's control standing in for the bank: a pending refund goes through, or any refund fails."""
    url = f"{stack.sandbox.url}/_sandbox/refunds/{refund_id}/{outcome}"
    async with stack.http.post(url, json=body) as answer:
        settled = await answer.json()
    assert settled.get("id") == refund_id, settled


async def detail(stack: PayStack, who: dict[str, Any], pr_id: str) -> dict[str, Any]:
    status, body = await stack.api("GET", f"/api/v1/payment-requests/{pr_id}", who)
    assert status == 200, body
    return body  # type: ignore[no-any-return]


async def test_a_pending_refund_holds_its_amount_then_succeeds_when_stripe_says(connected: PayStack) -> None:
    stack = connected
    paid = await pay_with(stack, "pm_card_pendingRefund")
    pr_id, intent_id = paid["request"]["id"], paid["intent"]["id"]
    boss = await admin(stack)
    status, body = await refund(stack, boss, pr_id, amount=5000)
    assert status == 201, body
    assert body["refund"]["status"] == "pending" and body["refund"]["status_words"] == "Waiting for the bank"
    pr = body["payment_request"]
    # Not refunded yet, but its amount is held: only A$30.00 may still be refunded.
    assert (pr["status"], pr["amount_refunded"], pr["amount_refundable"]) == ("paid", 0, 3000)
    assert await receipts_queued(stack, pr_id, kind="refund") == 0
    status, body = await refund(stack, boss, pr_id, amount=4000)
    assert status == 409 and "A$30.00 of A$80.00 is left" in body["error"]["message"]

    (made,) = await stripe_refunds(stack, intent_id)
    await settle_at_stripe(stack, made["id"], "succeed")
    assert await stack.deliver(await stack.event(intent_id, "refund.updated")) == 200
    after = await detail(stack, boss, pr_id)
    assert (after["status"], after["amount_refunded"], after["amount_refundable"]) == ("partially_refunded", 5000, 3000)
    assert after["refunds"][0]["status"] == "succeeded"
    assert await receipts_queued(stack, pr_id, kind="refund") == 1


async def test_a_failing_refund_shows_stripes_reason_and_gives_its_amount_back(connected: PayStack) -> None:
    stack = connected
    paid = await pay_with(stack, "pm_card_pendingRefund")
    pr_id, intent_id = paid["request"]["id"], paid["intent"]["id"]
    boss = await admin(stack)
    assert (await refund(stack, boss, pr_id, amount=8000, reason="Wrong patient"))[0] == 201
    (made,) = await stripe_refunds(stack, intent_id)
    await settle_at_stripe(stack, made["id"], "fail", failure_reason="lost_or_stolen_card")
    assert await stack.deliver(await stack.event(intent_id, "refund.failed")) == 200

    after = await detail(stack, boss, pr_id)
    (failed,) = after["refunds"]
    assert (failed["status"], failed["failure_reason"]) == ("failed", "lost_or_stolen_card")
    assert "reported lost or stolen" in failed["failure_message"]
    assert any(e["what"].startswith("Refund failed: The patient's card was reported lost") for e in after["timeline"])
    # Nothing went back to the patient: still paid in full, and all of it may be refunded again (another way).
    assert (after["status"], after["amount_refunded"], after["amount_refundable"]) == ("paid", 0, 8000)
    assert await receipts_queued(stack, pr_id, kind="refund") == 0
    # The failure is also what the list shows.
    status, listed = await stack.api("GET", "/api/v1/payments", boss)
    assert status == 200 and listed["data"][0]["amount_refundable"] == 8000


async def test_a_refund_that_fails_after_it_succeeded_is_shown_failed(connected: PayStack) -> None:
    stack = connected
    paid = await pay_with(stack, "pm_card_refundFail")
    pr_id, intent_id = paid["request"]["id"], paid["intent"]["id"]
    boss = await admin(stack)
    status, body = await refund(stack, boss, pr_id, amount=2000)
    assert status == 201 and body["refund"]["status"] == "succeeded"
    (made,) = await stripe_refunds(stack, intent_id)
    await settle_at_stripe(stack, made["id"], "fail", failure_reason="expired_or_canceled_card")
    assert await stack.deliver(await stack.event(intent_id, "refund.failed")) == 200
    after = await detail(stack, boss, pr_id)
    (failed,) = after["refunds"]
    assert failed["status"] == "failed" and "expired or been cancelled" in failed["failure_message"]
    # The payment never moves back; the clinic is told to refund the patient another way.
    assert after["status"] == "partially_refunded"
    assert "another way" in failed["failure_message"]


async def test_stripes_fee_and_the_clinics_net_come_from_the_balance_transaction(connected: PayStack) -> None:
    stack = connected
    paid = await pay_in_call(stack)
    assert await stack.deliver(await stack.event(paid.intent["id"], "charge.succeeded")) == 200
    charge = await stack.stripe("GET", f"/v1/charges/{paid.intent['latest_charge']}?expand[]=balance_transaction")
    fee, net = charge["balance_transaction"]["fee"], charge["balance_transaction"]["net"]
    assert fee > 0 and net == 8000 - fee
    row = await request_row(stack, paid.request["id"])
    assert (row.stripe_fee, row.stripe_net) == (fee, net)
    boss = await admin(stack)
    await refund(stack, boss, paid.request["id"], amount=1000)
    status, listed = await stack.api("GET", "/api/v1/payments", boss)
    assert status == 200
    (aud,) = listed["totals"]
    assert (aud["gross"], aud["refunded"], aud["fees"], aud["net_to_clinic"]) == (8000, 1000, fee, net - 1000)


async def test_a_refund_after_the_clinic_removed_callpay_in_stripe_says_where_to_refund_it(
    connected: PayStack,
) -> None:
    """The clinic removed Callpay from its Stripe account (Stripe's dashboard); a refund of a payment taken on it is
    a conflict with what the clinic did, said plainly (409), never a provider failure (5xx); nothing is reserved."""
    stack = connected
    paid = await pay_in_call(stack)
    boss = await admin(stack)
    token = stack.platform_key.removeprefix("sk_test_")
    async with stack.http.post(
        f"{stack.sandbox.url}/oauth/deauthorize",
        data={"client_id": f"ca_{token}", "stripe_user_id": stack.account or ""},
        headers={"Authorization": f"Bearer {stack.platform_key}"},
    ) as answer:
        assert answer.status == 200, await answer.text()
    status, body = await refund(stack, boss, paid.request["id"], amount=3000)
    assert status == 409, body
    assert body["error"]["code"] == "account_access_revoked"
    assert "Stripe dashboard" in body["error"]["message"]
    assert (await request_row(stack, paid.request["id"])).amount_refunded == 0
    async with stack.app[DB]() as db:
        pending = await db.scalar(
            select(func.count()).select_from(Refund).where(Refund.status.in_(("pending", "requires_action")))
        )
    assert pending == 0
