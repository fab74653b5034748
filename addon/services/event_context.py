"""What a Stripe event handler is given, shared by the dispatcher (stripe_events) and the handlers it dispatches to
(payments, connect), so neither imports the other for its types."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from addon.gateway import (
    ChargeFees,
    ConnectedAccount,
    PaymentIntentInfo,
    RefundInfo,
    SetupIntentInfo,
    StripeGateway,
    WebhookEvent,
)
from addon.outbound import Outbound


@dataclass(frozen=True)
class EventContext:
    gateway: StripeGateway
    # Read from Stripe by a preparer before the transaction opened, so handlers don't call Stripe while holding it.
    intents: dict[str, PaymentIntentInfo] = field(default_factory=dict)
    # Refunds re-read from Stripe by id, and each PaymentIntent's refunds as Stripe lists them.
    refunds: dict[str, RefundInfo] = field(default_factory=dict)
    refund_lists: dict[str, list[RefundInfo]] = field(default_factory=dict)
    # Stripe's fee and net per charge, from its balance transaction.
    fees: dict[str, ChargeFees] = field(default_factory=dict)
    # SetupIntents (saving a card) re-read from Stripe by id.
    setup_intents: dict[str, SetupIntentInfo] = field(default_factory=dict)
    # Connected accounts as Stripe has them now (account.updated is news to look again, never the truth).
    accounts: dict[str, ConnectedAccount] = field(default_factory=dict)
    # Connected accounts Stripe no longer lets Callpay read with its key: access really was revoked.
    revoked_accounts: set[str] = field(default_factory=set)


EventHandler = Callable[[AsyncSession, WebhookEvent, EventContext], Awaitable[list[Outbound]]]
Preparer = Callable[[async_sessionmaker[AsyncSession], WebhookEvent, EventContext], Awaitable[None]]
