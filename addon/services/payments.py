"""What Stripe says happened to a payment, applied to its request: paid, processing, failed, canceled, refunded.

Two reporters tell us: Stripe's webhooks, and the patient's browser right after ``confirmPayment`` (so a slow or
lost webhook never delays the clinician's pop-up). Neither report is applied as it stands: the browser's word is
not trusted, and a webhook's payload is the intent as it was when the event was made, which a late delivery (the
decline of an earlier attempt arriving after the next one is processing) would replay over newer news. Both only
say "look now": :func:`apply_current` retrieves the PaymentIntent from Stripe and applies that. The state moves
only by conditional UPDATEs (``WHERE status IN`` the states it may move from), so duplicates and races between
the two reporters change nothing. Whoever moves a request to ``paid`` first does the once-only work in the same
transaction: the receipt number, the queued receipt email, and the ``payment_received`` announcement.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from addon.auth.access import require_role
from addon.auth.roles import Role
from addon.auth.sessions import Principal
from addon.dbutil import rows_changed
from addon.errors import Conflict, PaymentProviderError
from addon.gateway import PaymentIntentInfo, StripeGateway, WebhookEvent, intent_from_object
from addon.models import Clinic, PaymentRequest, utcnow
from addon.outbound import Outbound, call_staff_room
from addon.services import receipts
from addon.services.payment_requests import changed_event, find_in_call
from addon.wire import payments as wire

if TYPE_CHECKING:
    # Only for types: stripe_events imports this module to build its dispatch table.
    from addon.services.stripe_events import EventContext

log = logging.getLogger("callpay.payments")

# Where each transition may come from. "canceled" may still become "paid": if money moved, the money is the truth.
PAYABLE_FROM = ("requested", "processing", "failed", "canceled")
PROCESSING_FROM = ("requested", "failed")
FAILED_FROM = ("requested", "processing")
CANCELED_FROM = ("requested", "processing", "failed")
REFUNDABLE = ("paid", "partially_refunded", "refunded")
# PaymentIntent states no later news can change: a payload saying one of these is never stale.
FINAL = ("succeeded", "canceled")
DECLINED = "Payment failed — your card was declined. Try another card."


def receipt_number(counter: int) -> str:
    return f"{counter:06d}"


def refund_status(amount: int, refunded: int) -> str:
    if refunded <= 0:
        return "paid"
    return "refunded" if refunded >= amount else "partially_refunded"


# --- Applying an intent ------------------------------------------------------------------------------------


async def apply_intent(db: AsyncSession, pr: PaymentRequest, intent: PaymentIntentInfo) -> list[Outbound]:
    """Move the request to what the intent says; returns the events to publish after commit (none if no change)."""
    if intent.id != pr.stripe_payment_intent_id:
        log.warning("intent does not belong to request", extra={"payment_intent": intent.id, "request": pr.id})
        return []
    if intent.status == "succeeded":
        return await mark_paid(db, pr.id, intent)
    if intent.status == "processing":
        return await _move(db, pr.id, PROCESSING_FROM, status="processing", failure_message=None)
    if intent.status == "canceled":
        now = utcnow()
        return await _move(db, pr.id, CANCELED_FROM, status="canceled", canceled_at=now)
    if intent.status == "requires_payment_method" and (intent.failure_message or intent.failure_code):
        return await _move(db, pr.id, FAILED_FROM, status="failed", failure_message=failure_text(intent))
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


async def _move(db: AsyncSession, request_id: str, allowed_from: tuple[str, ...], **values: Any) -> list[Outbound]:
    result = await db.execute(
        update(PaymentRequest)
        .where(PaymentRequest.id == request_id, PaymentRequest.status.in_(allowed_from))
        .values(updated_at=utcnow(), **values)
    )
    if not rows_changed(result):
        return []
    _, event = await changed_event(db, request_id)
    return [event]


async def mark_paid(db: AsyncSession, request_id: str, intent: PaymentIntentInfo) -> list[Outbound]:
    """The once-only work of a payment. Only the caller whose conditional UPDATE moves the row does any of it.

    The clinic may have refunded in its Stripe dashboard before we heard of the payment; the refunded total comes
    with the intent's latest charge, so the request lands on what Stripe has now, not on a ``paid`` that the
    already-processed ``charge.refunded`` would never correct.
    """
    now = utcnow()
    result = await db.execute(
        update(PaymentRequest)
        .where(PaymentRequest.id == request_id, PaymentRequest.status.in_(PAYABLE_FROM))
        .values(
            status=refund_status(intent.amount, intent.amount_refunded),
            amount_refunded=intent.amount_refunded,
            paid_at=now,
            updated_at=now,
            failure_message=None,
            card_brand=intent.card_brand,
            card_last4=intent.card_last4,
        )
        .returning(PaymentRequest.clinic_id)
    )
    clinic_id = result.scalar_one_or_none()
    if clinic_id is None:
        return []
    # Per-clinic, gap-free: the increment and the read are one statement, so two payments never share a number.
    counter = (
        await db.execute(
            update(Clinic)
            .where(Clinic.id == clinic_id)
            .values(receipt_counter=Clinic.receipt_counter + 1)
            .returning(Clinic.receipt_counter)
        )
    ).scalar_one()
    # Only the caller that won the conditional UPDATE above gets here, so the announcement happens exactly once.
    await db.execute(
        update(PaymentRequest)
        .where(PaymentRequest.id == request_id)
        .values(receipt_number=receipt_number(counter), received_announced_at=now)
    )
    pr = await db.get_one(PaymentRequest, request_id, populate_existing=True)
    await receipts.enqueue_receipt(db, pr)
    body, changed = await changed_event(db, request_id)
    return [changed, Outbound(event="payment_received", room=call_staff_room(pr.call_id), data=body)]


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
        if pr.stripe_payment_intent_id is None or pr.stripe_account_id is None:
            raise Conflict("There is no payment for this request yet. Choose Pay now first.", code="no_payment")
        request_id, account_id, intent_id = pr.id, pr.stripe_account_id, pr.stripe_payment_intent_id
    intent = await gateway.retrieve_payment_intent(account_id=account_id, intent_id=intent_id)
    async with database.begin() as db:
        pr = await db.get_one(PaymentRequest, request_id, populate_existing=True)
        events = await apply_current(db, gateway, pr, {intent_id: intent})
        body, _ = await changed_event(db, pr.id)
    return body, events


# --- Webhooks ----------------------------------------------------------------------------------------------


async def _request_for_intent(db: AsyncSession, intent_id: object) -> PaymentRequest | None:
    if not isinstance(intent_id, str) or not intent_id:
        return None
    found: PaymentRequest | None = await db.scalar(
        select(PaymentRequest)
        .where(PaymentRequest.stripe_payment_intent_id == intent_id)
        .execution_options(populate_existing=True)
    )
    return found


def _access_revoked(exc: PaymentProviderError) -> bool:
    return exc.code == "account_access_revoked"


async def on_payment_intent(db: AsyncSession, event: WebhookEvent, context: EventContext) -> list[Outbound]:
    """payment_intent.succeeded / processing / payment_failed / canceled: news that the intent changed.

    Stripe unreachable raises, so the webhook answers 500 and Stripe delivers again later.
    """
    pr = await _request_for_intent(db, event.object.get("id"))
    if pr is None:
        # Not ours (another integration on the same account) or not yet stored: Stripe only needs a 2xx.
        return []
    try:
        return await apply_current(db, context.gateway, pr, context.intents)
    except PaymentProviderError as exc:
        if not _access_revoked(exc):
            raise
    # The clinic removed Callpay from its Stripe account, so the payload is the last word we will get. Only a
    # final state in it can be trusted not to be older than what the request already shows.
    intent = intent_from_object(event.object)
    if intent.status not in FINAL:
        log.warning("intent unreadable after access was revoked; ignored", extra={"payment_intent": intent.id})
        return []
    return await apply_intent(db, pr, intent)


async def on_charge_refunded(db: AsyncSession, event: WebhookEvent, context: EventContext) -> list[Outbound]:
    """charge.refunded: record the refunded total. It only grows, so an older event can't undo a newer one."""
    charge: Mapping[str, Any] = event.object
    pr = await _request_for_intent(db, charge.get("payment_intent"))
    if pr is None:
        return []
    events: list[Outbound] = []
    if pr.status not in REFUNDABLE:
        # Refunded before we heard it was paid (a dashboard refund racing the succeeded webhook): this event is
        # recorded as processed, so dropping it would leave the request "paid" for good. Record the payment first,
        # from the intent as Stripe has it now, which already carries the refunded total.
        try:
            events = await apply_current(db, context.gateway, pr, context.intents)
        except PaymentProviderError as exc:
            if not _access_revoked(exc):
                raise
            log.warning("refund for an unpaid request after access was revoked", extra={"request": pr.id})
            return []
    refunded = int(charge.get("amount_refunded") or 0)
    full = bool(charge.get("refunded")) or refunded >= pr.amount
    return events + await _move_refund(db, pr.id, refunded, "refunded" if full else "partially_refunded")


async def _move_refund(db: AsyncSession, request_id: str, refunded: int, status: str) -> list[Outbound]:
    result = await db.execute(
        update(PaymentRequest)
        .where(
            PaymentRequest.id == request_id,
            PaymentRequest.status.in_(REFUNDABLE),
            PaymentRequest.amount_refunded < refunded,
        )
        .values(amount_refunded=refunded, status=status, updated_at=utcnow())
    )
    if not rows_changed(result):
        return []
    _, event = await changed_event(db, request_id)
    return [event]


async def prefetch_intent(
    database: async_sessionmaker[AsyncSession], event: WebhookEvent, context: EventContext
) -> None:
    """Read the event's PaymentIntent from Stripe before the webhook's transaction opens (see apply_current)."""
    intent_id = event.object.get("payment_intent") if event.type.startswith("charge.") else event.object.get("id")
    async with database() as db:
        pr = await _request_for_intent(db, intent_id)
        if pr is None or pr.stripe_account_id is None or pr.stripe_payment_intent_id is None:
            return
        account_id, intent_id = pr.stripe_account_id, pr.stripe_payment_intent_id
    try:
        context.intents[intent_id] = await context.gateway.retrieve_payment_intent(
            account_id=account_id, intent_id=intent_id
        )
    except PaymentProviderError:
        return  # the handler asks again and decides: a 500 for Stripe to retry, or the payload after revocation


HANDLERS = {
    "payment_intent.succeeded": on_payment_intent,
    "payment_intent.processing": on_payment_intent,
    "payment_intent.payment_failed": on_payment_intent,
    "payment_intent.canceled": on_payment_intent,
    "charge.refunded": on_charge_refunded,
}

PREPARERS = {event_type: prefetch_intent for event_type in HANDLERS}
