"""Stripe events in: deduplicated by event id, dispatched by a dict of type → handler.

The event id's primary key makes a second delivery a no-op, even when ten arrive at once on different workers.
Handlers change state with conditional UPDATEs so an out-of-order event can't move a payment backwards, and they
return the realtime events to publish after commit. Unknown types and unknown objects are accepted and ignored:
Stripe only needs a 2xx.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from addon.dbutil import insert_ignoring_conflict
from addon.gateway import WebhookEvent
from addon.models import ProcessedStripeEvent, utcnow
from addon.outbound import Outbound
from addon.services import card_on_file, charge_fees, connect, payments, refunds
from addon.services.event_context import EventContext, EventHandler, Preparer

__all__ = ["EventContext", "EventHandler", "Preparer", "handle", "handlers", "prepare", "preparers"]

log = logging.getLogger("callpay.webhooks")


def handlers() -> Mapping[str, EventHandler]:
    """Every Stripe event type Callpay acts on. Parts of the product add theirs here."""
    table: dict[str, EventHandler] = {}
    table.update(connect.ACCOUNT_EVENT_HANDLERS)
    table.update(payments.HANDLERS)
    table.update(refunds.HANDLERS)
    table.update(charge_fees.HANDLERS)
    table.update(card_on_file.HANDLERS)
    return table


def preparers() -> Mapping[str, Preparer]:
    """Network reads an event type needs, done before its transaction opens."""
    return {
        **connect.ACCOUNT_EVENT_PREPARERS, **payments.PREPARERS, **refunds.PREPARERS, **charge_fees.PREPARERS,
        **card_on_file.PREPARERS,
    }  # fmt: skip


async def prepare(database: async_sessionmaker[AsyncSession], event: WebhookEvent, context: EventContext) -> None:
    """Run the event type's preparer. A redelivery never gets here: the inbox keeps one row per event id and its
    claim hands each out once, so there is no "handled already?" read to make first; :func:`handle` still drops a
    duplicate should one come."""
    preparer = preparers().get(event.type)
    if preparer is not None:
        await preparer(database, event, context)


async def handle(db: AsyncSession, event: WebhookEvent, context: EventContext) -> list[Outbound]:
    """Record the event id and act on it, in the caller's transaction. A duplicate returns nothing."""
    recorded = await insert_ignoring_conflict(
        db,
        ProcessedStripeEvent,
        {"id": event.id, "type": event.type, "account": event.account, "received_at": utcnow()},
        ["id"],
    )
    if not recorded:
        log.info("duplicate stripe event ignored", extra={"stripe_event": event.id, "type": event.type})
        return []
    handler = handlers().get(event.type)
    if handler is None:
        return []
    return await handler(db, event, context)
