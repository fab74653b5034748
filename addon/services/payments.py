"""What Stripe says happened to a payment, applied to its request: paid, processing, failed, canceled, refunded.

Two reporters tell us: Stripe's webhooks, and the patient's browser right after ``confirmPayment`` (so a slow or
lost webhook never delays the clinician's pop-up). Neither report is applied as it stands: the browser's word is
not trusted, and a webhook's payload is the intent as it was when the event was made, which a late delivery (the
decline of an earlier attempt arriving after the next one is processing) would replay over newer news. Both only
say "look now": :func:`apply_current` retrieves the PaymentIntent from Stripe and applies that, as a lifecycle
trigger (:mod:`addon.services.transitions`), so duplicates and races between the two reporters change nothing and
whoever records the payment first does the once-only work: the receipt number, the queued receipt email, and the
``payment_received`` announcement.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from addon.auth.access import require_role
from addon.auth.roles import Role
from addon.auth.sessions import Principal
from addon.errors import Conflict
from addon.gateway import (
    AccessRevoked,
    PaymentIntentInfo,
    StripeFailure,
    StripeGateway,
    WebhookEvent,
    intent_from_object,
)
from addon.lifecycle import MONEY_TAKEN, Trigger, after_refund, refund_trigger
from addon.models import PayAll, PaymentRequest
from addon.outbound import Outbound
from addon.services import pay_all
from addon.services.event_context import EventContext
from addon.services.paying import on_requires_action as mark_authenticating
from addon.services.paying import set_requires_action as set_authenticating
from addon.services.payment_requests import changed_event, find_in_call
from addon.services.stripe_errors import worded
from addon.services.transitions import transition
from addon.wire import payments as wire

log = logging.getLogger("callpay.payments")

# PaymentIntent states no later news can change: a payload saying one of these is never stale.
FINAL = ("succeeded", "canceled")
DECLINED = "Payment failed — your card was declined. Try another card."


# --- Applying an intent ------------------------------------------------------------------------------------


async def apply_intent(db: AsyncSession, pr: PaymentRequest, intent: PaymentIntentInfo) -> list[Outbound]:
    """Move the request to what the intent says; returns the events to publish after commit (none if no change)."""
    if intent.id != pr.stripe_payment_intent_id:
        log.warning("intent does not belong to request", extra={"payment_intent": intent.id, "request": pr.id})
        return []
    if intent.status == "canceled" and await pay_all.own_intent_canceled(db, pr, intent):
        return []  # canceled because the request joined a Pay all: it is paid with the others, not cancelled
    if intent.status == "succeeded":
        if pr.capture == "hold":
            return await mark_captured(db, pr.id, intent)
        return await mark_paid(db, pr.id, intent)
    if intent.status == "processing":
        return (await transition(db, pr.id, Trigger.PROCESSING, values={"failure_message": None})).events
    if intent.status == "requires_capture":
        return (await transition(db, pr.id, Trigger.AUTHORIZED, values=held_values(intent))).events
    if intent.status == "canceled":
        return (await transition(db, pr.id, Trigger.INTENT_CANCELED)).events
    if intent.status == "requires_payment_method" and (intent.failure_message or intent.failure_code):
        moved = await transition(db, pr.id, Trigger.DECLINED, values={"failure_message": failure_text(intent)})
        return moved.events
    # requires_action / requires_confirmation: the patient is still in the middle of paying; nothing to record.
    return []


def failure_text(intent: PaymentIntentInfo) -> str:
    """Stripe's message for the decline, in plain words, with what to do next."""
    message = (intent.failure_message or "").strip()
    if not message:
        return DECLINED
    if not message.endswith("."):
        message += "."
    return f"Payment failed — {message[0].lower()}{message[1:]} Try another card."[:500]


async def mark_paid(db: AsyncSession, request_id: str, intent: PaymentIntentInfo) -> list[Outbound]:
    """Record the payment; only the caller whose transition moves the row gets the once-only work's events.

    The clinic may have refunded in its Stripe dashboard before we heard of the payment; the refunded total comes
    with the intent's latest charge, so the request lands on what Stripe has now, not on a ``paid`` that the
    already-processed ``charge.refunded`` would never correct.
    """
    moved = await transition(
        db,
        request_id,
        Trigger.SUCCEEDED,
        to=after_refund(intent.amount, intent.amount_refunded),
        values={
            "amount_refunded": intent.amount_refunded,
            "card_brand": intent.card_brand,
            "card_last4": intent.card_last4,
        },
    )
    return moved.events


def held_values(intent: PaymentIntentInfo) -> dict[str, Any]:
    """What a card hold records: how much it authorised, until when Stripe lets it be captured, and the card."""
    before = datetime.fromtimestamp(intent.capture_before, UTC) if intent.capture_before else None
    return {
        "failure_message": None,
        "amount_authorized": intent.amount_capturable or intent.amount,
        "capture_before": before,
        "card_brand": intent.card_brand,
        "card_last4": intent.card_last4,
    }


async def mark_captured(db: AsyncSession, request_id: str, intent: PaymentIntentInfo) -> list[Outbound]:
    """A hold charged: the request's amount becomes what was captured (the final amount, never more than held), and
    the once-only work of a payment follows (the receipt is for the captured amount). A hold Stripe reports
    captured before we heard it was authorised moves the same way, from any unpaid state."""
    captured = intent.amount_received or intent.amount
    values = {
        "amount": captured,
        "amount_authorized": intent.amount,
        "amount_refunded": intent.amount_refunded,
        "card_brand": intent.card_brand,
        "card_last4": intent.card_last4,
        "hold_claimed_until": None,
    }
    to = after_refund(captured, intent.amount_refunded)
    moved = await transition(db, request_id, Trigger.CAPTURED, to=to, values=values)
    if not moved.moved:
        moved = await transition(db, request_id, Trigger.SUCCEEDED, to=to, values=values)
    return moved.events


async def apply_current(
    db: AsyncSession,
    gateway: StripeGateway,
    pr: PaymentRequest,
    known: Mapping[str, PaymentIntentInfo] | None = None,
) -> list[Outbound]:
    """Apply the request's PaymentIntent as Stripe has it now (card details and refunds included).

    ``known`` holds intents read just before the transaction opened (see :func:`prefetch_intent`); only when it
    has none is Stripe asked from inside the transaction.
    """
    if pr.stripe_payment_intent_id is None or pr.stripe_account_id is None:
        return []
    intent = (known or {}).get(pr.stripe_payment_intent_id)
    if intent is None:
        intent = await gateway.retrieve_payment_intent(
            account_id=pr.stripe_account_id, intent_id=pr.stripe_payment_intent_id
        )
    return await apply_intent(db, pr, intent)


# --- The patient's browser reports -------------------------------------------------------------------------


async def confirm_from_browser(
    database: async_sessionmaker[AsyncSession], gateway: StripeGateway, principal: Principal, request_id: object
) -> tuple[wire.PaymentRequest, list[Outbound]]:
    """The patient's browser says it confirmed: ask Stripe what really happened and apply that.

    Stripe is asked between two short transactions, never inside one: a network call inside a transaction would
    hold SQLite's single write lock (and a pooled connection) for its whole length.
    """
    async with database.begin() as db:
        pr = await find_in_call(db, principal, request_id)
        require_role(principal, {Role.PATIENT}, what="report payments")
        paying = await pay_all.open_set_of(db, pr.id)
        if paying is None and pr.pay_all_id is not None:
            paying = await db.get(PayAll, pr.pay_all_id)
        if paying is not None and paying.stripe_payment_intent_id and paying.stripe_account_id:
            # Paid with others (Pay all): the set's intent says what happened to all of them.
            request_id, account_id, intent_id = pr.id, paying.stripe_account_id, paying.stripe_payment_intent_id
        elif pr.stripe_payment_intent_id is None or pr.stripe_account_id is None:
            raise Conflict("There is no payment for this request yet. Choose Pay now first.", code="no_payment")
        else:
            request_id, account_id, intent_id = pr.id, pr.stripe_account_id, pr.stripe_payment_intent_id
            paying = None
    with worded():
        intent = await gateway.retrieve_payment_intent(account_id=account_id, intent_id=intent_id)
    async with database.begin() as db:
        if paying is not None:
            found = await db.get_one(PayAll, paying.id, populate_existing=True)
            events = await apply_set(db, found, intent)
        else:
            pr = await db.get_one(PaymentRequest, request_id, populate_existing=True)
            events = await apply_current(db, gateway, pr, {intent_id: intent})
        body, _ = await changed_event(db, request_id)
    return body, events


async def apply_set(db: AsyncSession, paying: PayAll, intent: PaymentIntentInfo) -> list[Outbound]:
    """A Pay all intent, applied to every request of its set (see :mod:`addon.services.pay_all`)."""
    declined = intent.status == "requires_payment_method" and (intent.failure_message or intent.failure_code)
    words = failure_text(intent) if declined else None
    return await pay_all.apply_set_intent(db, paying, intent, failure_message=words)


# --- Webhooks ----------------------------------------------------------------------------------------------


async def _request_for_intent(db: AsyncSession, intent_id: object) -> PaymentRequest | None:
    if not isinstance(intent_id, str) or not intent_id:
        return None
    found: PaymentRequest | None = await db.scalar(_BY_INTENT, {"intent_id": intent_id})
    return found


# Every payment's webhook reads its request so: built once.
_BY_INTENT = (
    select(PaymentRequest)
    .where(PaymentRequest.stripe_payment_intent_id == bindparam("intent_id"))
    .execution_options(populate_existing=True)
)


async def on_payment_intent(db: AsyncSession, event: WebhookEvent, context: EventContext) -> list[Outbound]:
    """payment_intent.succeeded / processing / payment_failed / canceled: news that the intent changed.

    Stripe unreachable raises, so the webhook answers 500 and Stripe delivers again later.
    """
    pr = await _request_for_intent(db, event.object.get("id"))
    if pr is None:
        paying = await pay_all.set_for_intent(db, event.object.get("id"))
        if paying is not None:
            return await _on_set_intent(db, paying, event, context)
        # Not ours (another integration on the same account) or not yet stored: Stripe only needs a 2xx.
        return []
    try:
        return await apply_current(db, context.gateway, pr, context.intents)
    except AccessRevoked:
        pass
    # The clinic removed Callpay from its Stripe account, so the payload is the last word we will get. Only a
    # final state in it can be trusted not to be older than what the request already shows.
    intent = intent_from_object(event.object)
    if intent.status not in FINAL:
        log.warning("intent unreadable after access was revoked; ignored", extra={"payment_intent": intent.id})
        return []
    return await apply_intent(db, pr, intent)


async def on_requires_action(db: AsyncSession, event: WebhookEvent, context: EventContext) -> list[Outbound]:
    """payment_intent.requires_action: the bank is checking the card (3-D Secure), so the call hears the patient is
    authenticating. Only news for the clinician: nothing about the money, so an intent not read now is let go."""
    pr = await _request_for_intent(db, event.object.get("id"))
    if pr is None:
        # Pay all: every request of the set is being authenticated with its one payment.
        paying = await pay_all.set_for_intent(db, event.object.get("id"))
        found = context.intents.get(paying.stripe_payment_intent_id or "") if paying is not None else None
        if paying is None or found is None or paying.status != "open":
            return []
        ids = [item.payment_request_id for item in await pay_all.items_of(db, paying.id)]
        return await set_authenticating(db, ids, found)
    intent = context.intents.get(pr.stripe_payment_intent_id or "")
    if intent is None:
        return []
    return await mark_authenticating(db, pr, intent)


async def _on_set_intent(
    db: AsyncSession, paying: PayAll, event: WebhookEvent, context: EventContext
) -> list[Outbound]:
    """A Pay all intent's news, re-read from Stripe like a single payment's (the payload only says "look")."""
    if paying.stripe_account_id is None or paying.stripe_payment_intent_id is None:
        return []
    intent = context.intents.get(paying.stripe_payment_intent_id)
    if intent is None:
        try:
            intent = await context.gateway.retrieve_payment_intent(
                account_id=paying.stripe_account_id, intent_id=paying.stripe_payment_intent_id
            )
        except AccessRevoked:
            intent = intent_from_object(event.object)
            if intent.status not in FINAL:
                return []
    return await apply_set(db, paying, intent)


async def on_charge_refunded(db: AsyncSession, event: WebhookEvent, context: EventContext) -> list[Outbound]:
    """charge.refunded: record the refunded total. It only grows, so an older event can't undo a newer one."""
    charge: Mapping[str, Any] = event.object
    pr = await _request_for_intent(db, charge.get("payment_intent"))
    if pr is None:
        return []
    events: list[Outbound] = []
    if pr.status not in MONEY_TAKEN:
        # Refunded before we heard it was paid (a dashboard refund racing the succeeded webhook): this event is
        # recorded as processed, so dropping it would leave the request "paid" for good. Record the payment first,
        # from the intent as Stripe has it now, which already carries the refunded total.
        try:
            events = await apply_current(db, context.gateway, pr, context.intents)
        except AccessRevoked:
            log.warning("refund for an unpaid request after access was revoked", extra={"request": pr.id})
            return []
    # Only when Stripe can't be asked (access revoked) does the payload stand in, and never for more than was paid.
    reported = charge.get("amount_refunded")
    refunded = min(reported, pr.amount) if isinstance(reported, int) and reported > 0 else 0
    if refunded <= 0:
        return events
    trigger = refund_trigger(pr.amount, refunded)
    moved = await transition(
        db,
        pr.id,
        trigger,
        # The refunded total only grows, so an older event can't undo a newer one.
        where=[PaymentRequest.amount_refunded < refunded],
        values={"amount_refunded": refunded},
    )
    return events + moved.events


async def prefetch_intent(
    database: async_sessionmaker[AsyncSession], event: WebhookEvent, context: EventContext
) -> None:
    """Read the event's PaymentIntent from Stripe before the webhook's transaction opens (see apply_current).

    An intent Callpay made says so in its metadata (a request's or a Pay all set's id), and a connected account's
    event names the account: then the signed event alone says what to read, and the handler's one read of the
    request, inside its transaction, is the only one. Otherwise (a charge's event, an intent of another
    integration on the same account) the request is looked up first, so nothing is read from Stripe for nothing.
    """
    intent_id = event.object.get("payment_intent") if event.type.startswith("charge.") else event.object.get("id")
    if isinstance(intent_id, str) and intent_id and event.account and _made_by_callpay(event.object):
        with contextlib.suppress(StripeFailure):  # the handler asks again and decides, as below
            context.intents[intent_id] = await context.gateway.retrieve_payment_intent(
                account_id=event.account, intent_id=intent_id
            )
        return
    async with database() as db:
        pr = await _request_for_intent(db, intent_id)
        paying = await pay_all.set_for_intent(db, intent_id) if pr is None else None
        if paying is not None and paying.stripe_account_id and paying.stripe_payment_intent_id:
            account_id, intent_id = paying.stripe_account_id, paying.stripe_payment_intent_id
        elif pr is None or pr.stripe_account_id is None or pr.stripe_payment_intent_id is None:
            return
        else:
            account_id, intent_id = pr.stripe_account_id, pr.stripe_payment_intent_id
    try:
        context.intents[intent_id] = await context.gateway.retrieve_payment_intent(
            account_id=account_id, intent_id=intent_id
        )
    except StripeFailure:
        return  # the handler asks again and decides: a 500 for Stripe to retry, or the payload after revocation


def _made_by_callpay(intent: Mapping[str, Any]) -> bool:
    metadata = intent.get("metadata")
    return isinstance(metadata, Mapping) and ("payment_request" in metadata or "pay_all" in metadata)


HANDLERS = {
    "payment_intent.succeeded": on_payment_intent,
    "payment_intent.processing": on_payment_intent,
    "payment_intent.payment_failed": on_payment_intent,
    "payment_intent.canceled": on_payment_intent,
    # A hold authorised (or its capturable amount changed): re-read, like the others, and recorded as authorised.
    "payment_intent.amount_capturable_updated": on_payment_intent,
    "charge.refunded": on_charge_refunded,
    "payment_intent.requires_action": on_requires_action,
}

PREPARERS = {event_type: prefetch_intent for event_type in HANDLERS}
