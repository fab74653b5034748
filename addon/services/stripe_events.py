"""Stripe events in: deduplicated by event id, dispatched by a dict of type → handler.

The event id's primary key makes a second delivery a no-op, even when ten arrive at once on different workers.
Handlers change state with conditional UPDATEs so an out-of-order event can't move a payment backwards, and they
return the realtime events to publish after commit. Unknown types and unknown objects are accepted and ignored:
Stripe only needs a 2xx.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from addon.gateway import StripeGateway, WebhookEvent
from addon.models import ProcessedStripeEvent
from addon.outbound import Outbound
from addon.services import connect, payments

log = logging.getLogger("callpay.webhooks")


@dataclass(frozen=True)
class EventContext:
    gateway: StripeGateway
    public_url: str


EventHandler = Callable[[AsyncSession, WebhookEvent, EventContext], Awaitable[list[Outbound]]]


def handlers() -> Mapping[str, EventHandler]:
    """Every Stripe event type Callpay acts on. Parts of the product add theirs here."""
    table: dict[str, EventHandler] = {}
    table.update(connect.ACCOUNT_EVENT_HANDLERS)
    table.update(payments.HANDLERS)
    return table


async def handle(db: AsyncSession, event: WebhookEvent, context: EventContext) -> list[Outbound]:
    """Record the event id and act on it, in the caller's transaction. A duplicate returns nothing."""
    try:
        async with db.begin_nested():
            db.add(ProcessedStripeEvent(id=event.id, type=event.type, account=event.account))
    except IntegrityError:
        log.info("duplicate stripe event ignored", extra={"stripe_event": event.id, "type": event.type})
        return []
    handler = handlers().get(event.type)
    if handler is None:
        return []
    return await handler(db, event, context)
