"""A charge to a saved card under the things that go wrong: Stripe's answer lost on the way back (the retry is the
same charge), two admins at once on PostgreSQL (one charge), and a card removed in the clinic's Stripe dashboard."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from addon.appkeys import DB, GATEWAY
from addon.clock import ManualClock
from addon.models import OffSessionCharge, PaymentRequest, SavedCard
from addon.services import saved_cards
from tests.saved_cards.conftest import save_card, turn_on
from tests.support.payflow import PayStack, receipts_queued


async def fault(stack: PayStack, **body: Any) -> None:
    async with stack.http.post(f"{stack.sandbox.url}/_sandbox/faults", json=body) as answer:
        assert answer.status < 300, await answer.text()


async def intents_for(stack: PayStack, customer: str) -> list[dict[str, Any]]:
    return list((await stack.stripe("GET", f"/v1/payment_intents?customer={customer}&limit=100"))["data"])


async def customer_of(stack: PayStack, card_id: str) -> str:
    async with stack.app[DB]() as db:
        card = await db.get_one(SavedCard, card_id)
    assert card.stripe_customer_id is not None
    return card.stripe_customer_id


async def test_a_charge_whose_answer_was_lost_is_the_same_charge_when_tried_again(clinic: PayStack) -> None:
    patient = await clinic.patient(extra={"email": "pat@example.com"})
    card = await save_card(clinic, patient)
    admin = await clinic.session(role="team_admin", sub="admin-1", call=None)
    # Stripe makes the charge, then the connection drops before its answer, every time the SDK retries too.
    await fault(clinic, route_prefix="/v1/payment_intents", method="POST", kind="drop_after", count=3)
    status, body = await clinic.api(
        "POST", f"/api/v1/saved-cards/{card['id']}/fees", admin, json={"kind": "no_show", "client_ref": "a"}
    )
    assert status == 502, body
    assert "couldn't reach Stripe" in body["error"]["message"]
    customer = await customer_of(clinic, card["id"])
    assert len(await intents_for(clinic, customer)) == 1  # Stripe did charge; we didn't hear
    async with clinic.app[DB]() as db:
        row = await db.scalar(select(OffSessionCharge))
    assert row is not None and row.status == "pending"
    # Meanwhile the fee is "processing": the patient, still in the call, can't pay it a second way.
    status, pr = await clinic.api("GET", f"/api/v1/payment-requests/{row.payment_request_id}", patient)
    assert status == 200 and pr["status"] == "processing" and not pr["payable"]
    status, body = await clinic.checkout(row.payment_request_id, patient)
    assert status == 409, body
    # Tried again: Stripe replays its first answer to the same key; one charge, now recorded, one receipt.
    status, body = await clinic.api(
        "POST", f"/api/v1/saved-cards/{card['id']}/fees", admin, json={"kind": "no_show", "client_ref": "b"}
    )
    assert status == 200 and body["outcome"] == "paid", body
    assert len(await intents_for(clinic, customer)) == 1
    await clinic.webhooks_settled()
    assert await receipts_queued(clinic, body["payment_request"]["id"]) == 1


async def test_a_card_removed_in_the_stripe_dashboard_is_removed_here(clinic: PayStack) -> None:
    patient = await clinic.patient(extra={"email": "pat@example.com"})
    card = await save_card(clinic, patient)
    async with clinic.app[DB]() as db:
        pm = (await db.get_one(SavedCard, card["id"])).stripe_payment_method_id
    await clinic.stripe("POST", f"/v1/payment_methods/{pm}/detach")
    await clinic.webhooks_settled()
    async with clinic.app[DB]() as db:
        row = await db.get_one(SavedCard, card["id"])
    assert row.status == "removed" and row.removed_at is not None
    admin = await clinic.session(role="team_admin", sub="admin-1", call=None)
    status, body = await clinic.api(
        "POST", f"/api/v1/saved-cards/{card['id']}/fees", admin, json={"kind": "no_show", "client_ref": "a"}
    )
    assert status == 409 and body["error"]["code"] == "card_removed"


@pytest.fixture
async def pg_clinic(postgres_stack: PayStack) -> PayStack:
    await turn_on(postgres_stack)
    return postgres_stack


async def test_admins_charging_at_once_on_postgres_charge_once(pg_clinic: PayStack) -> None:
    patient = await pg_clinic.patient(extra={"email": "pat@example.com"})
    card = await save_card(pg_clinic, patient)
    admins = [await pg_clinic.session(role="team_admin", sub=f"admin-{n}", call=None) for n in range(4)]
    answers = await asyncio.gather(
        *[
            pg_clinic.api(
                "POST", f"/api/v1/saved-cards/{card['id']}/fees", admin, json={"kind": "no_show", "client_ref": "x"}
            )
            for admin in admins
        ]
    )
    assert sorted(status for status, _ in answers) == [200, 200, 200, 201], answers
    assert len({body["payment_request"]["id"] for _, body in answers}) == 1
    assert len(await intents_for(pg_clinic, await customer_of(pg_clinic, card["id"]))) == 1
    async with pg_clinic.app[DB]() as db:
        fees = await db.scalar(select(func.count()).select_from(PaymentRequest))
    assert fees == 1
    await pg_clinic.webhooks_settled()
    assert await receipts_queued(pg_clinic, answers[0][1]["payment_request"]["id"]) == 1


async def pending_charge(stack: PayStack) -> OffSessionCharge:
    async with stack.app[DB]() as db:
        row = await db.scalar(select(OffSessionCharge))
    assert row is not None
    return row


@pytest.mark.parametrize(
    ("kind", "charged_at_first"),
    [("drop_after", True), ("drop", False)],
    ids=["stripe-charged-and-the-answer-was-lost", "stripe-never-heard"],
)
async def test_a_charge_nobody_tries_again_is_finished_by_the_background_round(
    clinic: PayStack, kind: str, charged_at_first: bool
) -> None:
    patient = await clinic.patient(extra={"email": "pat@example.com"})
    card = await save_card(clinic, patient)
    customer = await customer_of(clinic, card["id"])
    admin = await clinic.session(role="team_admin", sub="admin-1", call=None)
    await fault(clinic, route_prefix="/v1/payment_intents", method="POST", kind=kind, count=3)
    status, body = await clinic.api(
        "POST", f"/api/v1/saved-cards/{card['id']}/fees", admin, json={"kind": "no_show", "client_ref": "a"}
    )
    assert status == 502, body
    assert len(await intents_for(clinic, customer)) == (1 if charged_at_first else 0)
    await clinic.webhooks_settled()
    clock = ManualClock()
    # A round straight away leaves it alone: a charge may still be on its way.
    early = await saved_cards.resume_stalled(clinic.app[DB], clinic.app[GATEWAY], clock=clock, base_url="http://x")
    assert early.asked == 0
    # Minutes later nobody has pressed Charge again: the round asks Stripe with the same key.
    clock.advance(saved_cards.STALLED_AFTER + timedelta(seconds=1))
    rounds = [
        await saved_cards.resume_stalled(clinic.app[DB], clinic.app[GATEWAY], clock=clock, base_url="http://x")
        for _ in range(2)
    ]
    row = await pending_charge(clinic)
    assert row.status == "paid" and row.stripe_payment_intent_id is not None
    assert len(await intents_for(clinic, customer)) == 1  # one charge, whichever way it went
    assert rounds[0].finished == 1 and rounds[1].asked == 0  # finished once, then nothing is pending
    await clinic.webhooks_settled()
    status, pr = await clinic.api("GET", f"/api/v1/payment-requests/{row.payment_request_id}", admin)
    assert status == 200 and pr["status"] == "paid", pr
    assert await receipts_queued(clinic, row.payment_request_id) == 1


async def test_a_round_while_stripe_is_still_unreachable_leaves_the_charge_pending(clinic: PayStack) -> None:
    patient = await clinic.patient(extra={"email": "pat@example.com"})
    card = await save_card(clinic, patient)
    admin = await clinic.session(role="team_admin", sub="admin-1", call=None)
    await fault(clinic, route_prefix="/v1/payment_intents", method="POST", kind="drop", count=6)
    status, _ = await clinic.api(
        "POST", f"/api/v1/saved-cards/{card['id']}/fees", admin, json={"kind": "no_show", "client_ref": "a"}
    )
    assert status == 502
    clock = ManualClock()
    clock.advance(saved_cards.STALLED_AFTER + timedelta(seconds=1))
    still = await saved_cards.resume_stalled(clinic.app[DB], clinic.app[GATEWAY], clock=clock, base_url="http://x")
    assert (still.asked, still.finished, still.failed) == (1, 0, 1)
    assert (await pending_charge(clinic)).status == "pending"
    # Past Stripe's idempotency window it is no longer asked about: a new key could charge twice.
    clock.advance(saved_cards.RESUMABLE_FOR)
    late = await saved_cards.resume_stalled(clinic.app[DB], clinic.app[GATEWAY], clock=clock, base_url="http://x")
    assert late.asked == 0
