"""Pay now and Pay all on the same request at the same moment (two tabs, a double click), on PostgreSQL: however
they interleave, at most one PaymentIntent can take the request's money, so the patient can't pay it twice."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from addon.appkeys import DB
from addon.models import PayAll, PayAllItem, PaymentRequest
from tests.payments.test_pay_all import intent_of, pay_all
from tests.support.payflow import PayStack

ROUNDS = 12
# An intent in any of these can still take money.
LIVE = {"requires_payment_method", "requires_confirmation", "requires_action", "processing", "succeeded"}


async def live_intents_for(stack: PayStack, request_id: str) -> list[str]:
    """Every intent that could still take money for this request: its own, and its open sets'."""
    async with stack.app[DB]() as db:
        own = await db.scalar(select(PaymentRequest.stripe_payment_intent_id).where(PaymentRequest.id == request_id))
        sets = (
            await db.scalars(
                select(PayAll.stripe_payment_intent_id)
                .join(PayAllItem, PayAllItem.pay_all_id == PayAll.id)
                .where(PayAllItem.payment_request_id == request_id, PayAll.stripe_payment_intent_id.is_not(None))
            )
        ).all()
    live = []
    for intent_id in {own, *sets} - {None}:
        if (await stack.stripe("GET", f"/v1/payment_intents/{intent_id}"))["status"] in LIVE:
            live.append(str(intent_id))
    return live


async def test_pay_now_and_pay_all_at_once_leave_one_way_to_pay(postgres_stack: PayStack) -> None:
    stack = postgres_stack
    doctor = await stack.socket(await stack.clinician())
    patient = await stack.patient(name="Sam Patient")
    await stack.socket(patient)
    outcomes: list[tuple[int, int]] = []
    for _ in range(ROUNDS):
        made = [
            await stack.request_payment(doctor, amount="80.00", description="Consultation"),
            await stack.request_payment(doctor, amount="40.00", description="Script"),
        ]
        ids = [pr["id"] for pr in made]
        (single, _), (together, _) = await asyncio.gather(stack.checkout(ids[0], patient), pay_all(stack, patient, ids))
        outcomes.append((single, together))
        assert {single, together} <= {200, 409}, (single, together)
        live = await live_intents_for(stack, ids[0])
        assert len(live) <= 1, f"request {ids[0]} can be paid {len(live)} ways: {live}"
    # The two really met: one after the other, both answer 200 (the later one cancels the earlier one's intent);
    # at the same moment, the one that comes second is refused with a message saying what to do.
    assert any(409 in outcome for outcome in outcomes), outcomes


async def test_whichever_way_wins_the_patient_pays_once(postgres_stack: PayStack) -> None:
    stack = postgres_stack
    doctor = await stack.socket(await stack.clinician())
    patient = await stack.patient(name="Sam Patient")
    await stack.socket(patient)
    made = [
        await stack.request_payment(doctor, amount="80.00", description="Consultation"),
        await stack.request_payment(doctor, amount="40.00", description="Script"),
    ]
    ids = [pr["id"] for pr in made]
    answers = await asyncio.gather(stack.checkout(ids[0], patient), pay_all(stack, patient, ids))
    live = await live_intents_for(stack, ids[0])
    assert len(live) == 1
    # The way that was refused says what to do; the one that answered 200 is the intent that can take the money.
    for status, body in answers:
        if status == 409:
            assert body["error"]["code"] in ("paying_with_others", "set_changed"), body
        else:
            assert intent_of(body) == live[0]
    await stack.confirm_intent(live[0])
    await stack.webhooks_settled()
    async with stack.app[DB]() as db:
        status = await db.scalar(select(PaymentRequest.status).where(PaymentRequest.id == ids[0]))
    assert status == "paid", answers
