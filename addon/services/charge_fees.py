"""Stripe's fee and the clinic's net for each payment, from the charge's balance transaction.

Stripe reports them on the charge's balance transaction, which may appear after the charge itself; ``charge.*``
events say "look now" and the charge is re-read with its balance transaction expanded. The payment centre's totals
show fees only once every payment they cover has them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from addon.gateway import ChargeFees, StripeFailure, WebhookEvent
from addon.models import PaymentRequest
from addon.outbound import Outbound

if TYPE_CHECKING:
    from addon.services.event_context import EventContext



async def prefetch_fees(database: async_sessionmaker[AsyncSession], event: WebhookEvent, context: EventContext) -> None:
    charge_id = event.object.get("id")
    intent_id = event.object.get("payment_intent")
    if not isinstance(charge_id, str) or not isinstance(intent_id, str):
        return
    async with database() as db:
        account_id = await db.scalar(
            select(PaymentRequest.stripe_account_id).where(PaymentRequest.stripe_payment_intent_id == intent_id)
        )
    if account_id is None:
        return
    try:
        fees = await context.gateway.retrieve_charge_fees(account_id=account_id, charge_id=charge_id)
    except StripeFailure:
        return  # fees are a nicety of the totals; the next charge event tries again
    if fees is not None:
        context.fees[charge_id] = fees


async def on_charge(db: AsyncSession, event: WebhookEvent, context: EventContext) -> list[Outbound]:
    """charge.succeeded / charge.updated: record the fee and net once Stripe has them. Nothing is published: no
    one in a call needs the fee."""
    charge_id = event.object.get("id")
    intent_id = event.object.get("payment_intent")
    fees: ChargeFees | None = context.fees.get(charge_id) if isinstance(charge_id, str) else None
    if fees is None or not isinstance(intent_id, str):
        return []
    await db.execute(
        update(PaymentRequest)
        .where(PaymentRequest.stripe_payment_intent_id == intent_id)
        .values(stripe_fee=fees.fee, stripe_net=fees.net)
    )
    return []


CHARGE_EVENTS = ("charge.succeeded", "charge.updated")
HANDLERS = {event_type: on_charge for event_type in CHARGE_EVENTS}
PREPARERS = {event_type: prefetch_fees for event_type in CHARGE_EVENTS}
