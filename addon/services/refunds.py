"""Refunds: in full or in part, with a reason, never beyond what was paid, and one Stripe refund per ask.

How a refund goes (Stripe is never called inside a transaction):

1. **Reserve.** One conditional UPDATE adds the amount to the request's ``refund_reserved`` only while the
   reservation (or Stripe's own refunded total, if larger) plus this amount stays within what was paid; the same
   transaction writes the refund row (``pending``). Two admins refunding at once both pass their own checks, but
   only reservations that fit are granted, so together they can never exceed the payment. The row's client
   reference is unique per request: the same ask twice (a double click, a resend after no answer) is one refund.
2. **Ask Stripe**, with an idempotency key made from that client reference, so a retry replays Stripe's answer.
3. **Record** what Stripe answered, re-read from Stripe: the refund's status, and the charge's refunded total onto
   the request. A refund that fails gives its reservation back; one that succeeds queues the patient's refund email.

Stripe's ``refund.created/updated/failed`` and ``charge.refunded`` events say "look again": the refund and the
payment are re-read from Stripe (never trusted from the payload) and recorded the same way, so a refund made in
the clinic's Stripe dashboard shows up here too, and a pending one settles when Stripe says so.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from addon import audit, dates, money
from addon.auth.roles import Role
from addon.auth.sessions import Principal
from addon.dbutil import get_by_id, insert_ignoring_conflict, rows_changed
from addon.errors import Conflict, Forbidden, InvalidInput, NotFound, PaymentProviderError
from addon.gateway import AccessRevoked, RefundInfo, RefundRefused, StripeFailure, StripeGateway, WebhookEvent
from addon.lifecycle import MONEY_TAKEN, refund_trigger
from addon.models import Clinic, OutboxEmail, PaymentRequest, Refund, iso_utc, utcnow
from addon.outbound import Outbound
from addon.services import pay_all, payment_requests, payments
from addon.services.payment_access import visible_request
from addon.services.payment_requests import changed_event
from addon.services.stripe_errors import worded
from addon.services.transitions import transition

if TYPE_CHECKING:
    from addon.services.event_context import EventContext

log = logging.getLogger("callpay.refunds")

TAKEN = tuple(str(status) for status in MONEY_TAKEN)  # the lifecycle's set, not a copy of it
MAX_REASON = 500
MAX_CLIENT_REF = 100
# Stripe's refund statuses as Callpay keeps them: "requires_action" is still waiting, like "pending".
STRIPE_STATUS = {
    "pending": "pending",
    "requires_action": "pending",
    "succeeded": "succeeded",
    "failed": "failed",
    "canceled": "canceled",
}
STATUS_WORDS = {
    "pending": "Waiting for the bank",
    "succeeded": "Refunded",
    "failed": "Failed",
    "canceled": "Cancelled",
}
# Stripe's failure_reason codes, in words a clinic can act on.
FAILURE_WORDS = {
    "expired_or_canceled_card": "The patient's card has expired or been cancelled, so the bank sent the refund back. "
    "Refund the patient another way.",
    "lost_or_stolen_card": "The patient's card was reported lost or stolen, so the bank sent the refund back. "
    "Refund the patient another way.",
    "declined": "The patient's bank declined the refund. Refund the patient another way.",
    "insufficient_funds": "Stripe couldn't take the refund from the clinic's balance. Add funds in Stripe, then "
    "refund again.",
    "merchant_request": "The refund was cancelled in the clinic's Stripe dashboard.",
    "unknown": "The bank couldn't return the money to the card. Refund the patient another way.",
}
UNREACHABLE_RETRY = "We couldn't reach Stripe to make the refund. Press Refund again: it won't refund twice."

# A test's hook between reading what is left and reserving it: the race test pauses here to prove that the
# reservation, not the read, is what keeps two refunds from passing the paid amount.
before_reserve: Callable[[], Awaitable[None]] | None = None


def new_id() -> str:
    return "rf_" + secrets.token_hex(12)


# --- The JSON ----------------------------------------------------------------------------------------------


def refund_json(refund: Refund, tz: str | None) -> dict[str, Any]:
    """The contract's Refund, with what screens show."""
    return {
        "id": refund.id,
        "amount": refund.amount,
        "currency": refund.currency,
        "reason": refund.reason,
        "status": refund.status,
        "created_at": iso_utc(refund.created_at),
        # Optional additions.
        "amount_display": money.format_amount(refund.amount, refund.currency),
        "created_at_display": dates.format_datetime(refund.created_at, tz),
        "settled_at": iso_utc(refund.settled_at),
        "status_words": STATUS_WORDS.get(refund.status, refund.status),
        "failure_reason": refund.failure_reason,
        "failure_message": refund.failure_message,
        "source": refund.source,
    }


async def refunds_of(db: AsyncSession, request_id: str) -> list[Refund]:
    """A request's refunds, oldest first."""
    return list(
        (
            await db.scalars(
                select(Refund)
                .where(Refund.payment_request_id == request_id)
                .order_by(Refund.created_at, Refund.id)
                .execution_options(populate_existing=True)
            )
        ).all()
    )


def refundable_amount(pr: PaymentRequest) -> int:
    """What is left to refund: the amount less every refund asked for that hasn't failed, or less Stripe's own
    refunded total when that is larger (a refund made in the Stripe dashboard before Callpay heard of it)."""
    if pr.status not in TAKEN:
        return 0
    return max(pr.amount - max(pr.refund_reserved, pr.amount_refunded), 0)


# --- Who may refund ----------------------------------------------------------------------------------------


def refund_refusal(principal: Principal, pr: PaymentRequest, clinic: Clinic, *, now: datetime) -> str | None:
    """Why ``principal`` may not refund ``pr`` (words for them), or None when they may."""
    if principal.role is Role.TEAM_ADMIN and principal.clinic_id == pr.clinic_id:
        return None
    if principal.role is Role.TEAM_MEMBER and principal.clinic_id == pr.clinic_id:
        if pr.clinician_id != principal.user_id:
            return "Only a clinic admin, or the clinician who took the payment, can refund it."
        if not clinic.clinician_refunds:
            return "Your clinic lets only its admins make refunds. Ask a clinic admin."
        window = timedelta(hours=clinic.clinician_refund_window_hours)
        if pr.paid_at is None or now - pr.paid_at > window:
            return (
                f"Clinicians can refund their own payments for {_hours(clinic.clinician_refund_window_hours)} "
                "after they are paid. Ask a clinic admin."
            )
        return None
    return "Only a clinic admin, or the clinician who took the payment, can refund it."


def _hours(hours: int) -> str:
    if hours % 24 == 0:
        days = hours // 24
        return f"{days} day" + ("s" if days != 1 else "")
    return f"{hours} hour" + ("s" if hours != 1 else "")


def may_refund(principal: Principal, pr: PaymentRequest, clinic: Clinic, *, now: datetime | None = None) -> bool:
    return refund_refusal(principal, pr, clinic, now=now or utcnow()) is None


async def clinician_panel(db: AsyncSession, principal: Principal) -> dict[str, Any]:
    """Everything the clinician's panel renders with, from one read of the clinic (the session's identity map
    holds an object only while someone does, so each part asking for it would read it again)."""
    clinic = await get_by_id(db, Clinic, principal.clinic_id) if principal.clinic_id is not None else None
    context = await payment_requests.panel_context(db, principal, clinic)
    context["refunds"] = panel_refunds(clinic, principal)
    context["timezone"] = clinic.timezone if clinic is not None else dates.DEFAULT_TIMEZONE
    return context


def panel_refunds(clinic: Clinic | None, principal: Principal) -> dict[str, Any]:
    """Whether the clinician's panel offers Refund on this clinic's paid requests (the server checks each again)."""
    if clinic is None:
        return {"allowed": False}
    if principal.role is Role.TEAM_ADMIN:
        return {"allowed": True}
    allowed = principal.role is Role.TEAM_MEMBER and clinic.clinician_refunds
    return {"allowed": allowed, "window_hours": clinic.clinician_refund_window_hours if allowed else None}


# --- Asking for a refund -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundOutcome:
    """The refund's JSON, its request (the caller shows it as the viewer may see it), and events to publish."""

    refund: dict[str, Any]
    request_id: str
    events: list[Outbound]
    created: bool


@dataclass(frozen=True)
class _Ask:
    request_id: str
    refund_id: str
    account_id: str
    intent_id: str
    amount: int
    client_ref: str
    created: bool


def parse_refund_body(
    body: Mapping[str, Any], currency: str, *, locale: str = money.DEFAULT_LOCALE
) -> tuple[int | None, str | None, str | None]:
    unknown = sorted(set(body) - {"amount", "reason", "client_ref"})
    if unknown:
        raise InvalidInput(f"'{unknown[0]}' is not part of a refund.", field=unknown[0])
    amount = parse_refund_amount(body.get("amount"), currency, locale=locale)
    reason = body.get("reason")
    if reason is not None:
        if not isinstance(reason, str):
            raise InvalidInput("Give the reason as text.", field="reason")
        reason = " ".join(reason.split()) or None
        if reason is not None and len(reason) > MAX_REASON:
            raise InvalidInput(f"Keep the reason to {MAX_REASON} characters or fewer.", field="reason")
    client_ref = body.get("client_ref")
    if client_ref is not None:
        if not isinstance(client_ref, str) or not client_ref.strip() or len(client_ref) > MAX_CLIENT_REF:
            raise InvalidInput(f"client_ref must be text of at most {MAX_CLIENT_REF} characters.", field="client_ref")
        client_ref = client_ref.strip()
    return amount, reason, client_ref


def parse_refund_amount(value: object, currency: str, *, locale: str = money.DEFAULT_LOCALE) -> int | None:
    """Minor units (an integer), or text as people write it ("40.00"); absent or empty: all that is left."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool | float):
        raise InvalidInput(
            'Send the amount as a whole number of cents (4000), or as text such as "40.00".', field="amount"
        )
    if isinstance(value, int):
        minor = value
    elif isinstance(value, str):
        minor = money.parse_amount(value, currency, field="amount", locale=locale, minimum=1)
    else:
        raise InvalidInput("Enter the amount as a number, such as 40.00.", field="amount")
    if minor <= 0:
        raise InvalidInput("Enter an amount greater than zero.", field="amount")
    return minor


def _too_large(pr: PaymentRequest) -> Conflict:
    left = refundable_amount(pr)
    if left <= 0:
        refunded = max(pr.refund_reserved, pr.amount_refunded)
        message = (
            f"Nothing is left to refund: {money.format_amount(refunded, pr.currency)} of "
            f"{money.format_amount(pr.amount, pr.currency)} has been refunded already."
        )
    else:
        message = (
            f"That is more than is left to refund. {money.format_amount(left, pr.currency)} of "
            f"{money.format_amount(pr.amount, pr.currency)} is left."
        )
    return Conflict(message, code="refund_too_large", field="amount")


async def _reserve(db: AsyncSession, pr: PaymentRequest, amount: int) -> bool:
    """Add ``amount`` to the reservation, only if it still fits within what was paid; True when it did."""
    held = case(
        (PaymentRequest.refund_reserved >= PaymentRequest.amount_refunded, PaymentRequest.refund_reserved),
        else_=PaymentRequest.amount_refunded,
    )
    result = await db.execute(
        update(PaymentRequest)
        .where(
            PaymentRequest.id == pr.id,
            PaymentRequest.status.in_(TAKEN),
            held + amount <= PaymentRequest.amount,
        )
        .values(refund_reserved=held + amount, updated_at=utcnow())
    )
    return rows_changed(result) == 1


async def _begin(
    database: async_sessionmaker[AsyncSession], principal: Principal, request_id: object, body: Mapping[str, Any]
) -> _Ask | RefundOutcome:
    """Check, reserve and record the ask (one transaction); or the earlier outcome when this ask was made before."""
    async with database.begin() as db:
        seen = await visible_request(db, principal, request_id)
        if principal.role is Role.PATIENT:
            raise NotFound("That payment doesn't exist, or isn't one you can see.")
        pr, clinic = seen.request, seen.clinic
        refusal = refund_refusal(principal, pr, clinic, now=utcnow())
        if refusal is not None:
            raise Forbidden(refusal, code="refund_not_allowed")
        amount, reason, client_ref = parse_refund_body(body, pr.currency, locale=clinic.locale)
        if client_ref is not None:
            earlier = await db.scalar(
                select(Refund).where(Refund.payment_request_id == pr.id, Refund.client_ref == client_ref)
            )
            if earlier is not None:
                return await _repeat(db, earlier, amount, reason)
        if pr.status not in TAKEN:
            raise Conflict(_not_paid(pr.status), code="not_refundable")
        # Its own intent's charge, or, paid with others (Pay all), the set's: refunded for this request's part only.
        charge = await pay_all.charge_of(db, pr)
        if charge is None:
            raise Conflict("This payment has no Stripe charge to refund.", code="not_refundable")
        left = refundable_amount(pr)
        wanted = left if amount is None else amount
        if wanted <= 0 or wanted > left:
            raise _too_large(pr)
        if before_reserve is not None:
            await before_reserve()
        if not await _reserve(db, pr, wanted):
            fresh = await db.get_one(PaymentRequest, pr.id, populate_existing=True)
            raise _too_large(fresh)
        refund_id = new_id()
        ref = client_ref or refund_id
        now = utcnow()
        inserted = await insert_ignoring_conflict(
            db,
            Refund,
            {
                "id": refund_id,
                "payment_request_id": pr.id,
                "clinic_id": pr.clinic_id,
                "client_ref": ref,
                "amount": wanted,
                "currency": pr.currency,
                "reason": reason,
                "status": "pending",
                "source": "callpay",
                "requested_by_user_id": principal.user_id,
                "created_at": now,
                "updated_at": now,
            },
            ["payment_request_id", "client_ref"],
        )
        if not inserted:
            # The same ask arrived twice at once and the other won: undo this one's reservation, answer with the
            # other. (Reaching here at all needs a client_ref, so the row exists.)
            await db.execute(
                update(PaymentRequest)
                .where(PaymentRequest.id == pr.id)
                .values(refund_reserved=PaymentRequest.refund_reserved - wanted)
            )
            earlier = await db.scalar(
                select(Refund).where(Refund.payment_request_id == pr.id, Refund.client_ref == ref)
            )
            assert earlier is not None
            return await _repeat(db, earlier, amount, reason)
        audit.record(
            db,
            "refund.requested",
            actor=principal,
            clinic_id=pr.clinic_id,
            subject_type="payment_request",
            subject_id=pr.id,
            data={"refund": refund_id, "amount": wanted, "currency": pr.currency},
        )
        return _Ask(pr.id, refund_id, charge[0], charge[1], wanted, ref, True)


async def _repeat(db: AsyncSession, earlier: Refund, amount: int | None, reason: str | None) -> _Ask | RefundOutcome:
    if amount is not None and amount != earlier.amount:
        raise Conflict("This refund was already asked for with a different amount.", field="client_ref")
    pr = await db.get_one(PaymentRequest, earlier.payment_request_id)
    if earlier.status == "pending" and earlier.stripe_refund_id is None:
        # Asked before, but Stripe's answer never arrived: ask again with the same key, which can't refund twice.
        charge = await pay_all.charge_of(db, pr)
        assert charge is not None
        return _Ask(pr.id, earlier.id, charge[0], charge[1], earlier.amount, earlier.client_ref, False)
    return await _outcome(db, earlier.id, [], created=False)


def _not_paid(status: str) -> str:
    if status in ("requested", "failed", "processing", "authorized"):
        return "This request hasn't been paid, so there is nothing to refund."
    if status == "canceled":
        return "This request was cancelled before it was paid, so there is nothing to refund."
    return "This payment can't be refunded."


async def _outcome(db: AsyncSession, refund_id: str, events: list[Outbound], *, created: bool) -> RefundOutcome:
    refund = await db.get_one(Refund, refund_id, populate_existing=True)
    clinic = await db.get_one(Clinic, refund.clinic_id)
    return RefundOutcome(refund_json(refund, clinic.timezone), refund.payment_request_id, events, created)


ACCOUNT_GONE = (
    "This payment was taken through a Stripe account that no longer lets Callpay act on it. Refund it from that "
    "account's Stripe dashboard, or reconnect the account in Client Payments and try again."
)


async def refund(
    database: async_sessionmaker[AsyncSession],
    gateway: StripeGateway,
    principal: Principal,
    request_id: object,
    body: Mapping[str, Any],
) -> RefundOutcome:
    """``POST /api/v1/payment-requests/{id}/refunds``: reserve, ask Stripe once, record what Stripe says."""
    begun = await _begin(database, principal, request_id, body)
    if isinstance(begun, RefundOutcome):
        return begun
    ask = begun
    try:
        made = await gateway.create_refund(
            account_id=ask.account_id,
            intent_id=ask.intent_id,
            amount=ask.amount,
            metadata={"callpay_refund": ask.refund_id, "callpay_request": ask.request_id},
            idempotency_scope=f"refund:{ask.request_id}:{ask.client_ref}",
        )
    except RefundRefused:
        # The charge had less left than Callpay knew (refunded in the Stripe dashboard): catch up with Stripe, give
        # this ask's reservation back, and say how much really is left.
        await _give_up(database, ask, "canceled", failure_reason=None)
        await sync_from_stripe(database, gateway, ask.request_id)
        async with database() as db:
            fresh = await db.get_one(PaymentRequest, ask.request_id)
            raise _too_large(fresh) from None
    except AccessRevoked as exc:
        # The account the payment was taken on no longer lets Callpay act on it: nothing Stripe or a retry can
        # change, so a conflict with what the clinic did, said plainly, not a provider failure.
        await _give_up(database, ask, "canceled", failure_reason=None)
        raise Conflict(ACCOUNT_GONE, code="account_access_revoked") from exc
    except StripeFailure as exc:
        # Unknown whether Stripe made it: the ask stays pending with its reservation, and asking again with the
        # same client reference replays Stripe's answer.
        raise PaymentProviderError(UNREACHABLE_RETRY, code=exc.code) from exc
    async with database.begin() as db:
        events = await record_refund(db, made, ask.request_id, refund_id=ask.refund_id)
        return await _outcome(db, ask.refund_id, events, created=ask.created)


async def _give_up(
    database: async_sessionmaker[AsyncSession], ask: _Ask, status: str, *, failure_reason: str | None
) -> None:
    async with database.begin() as db:
        await _settle_failed(db, ask.refund_id, status, failure_reason)


# --- Recording what Stripe says ----------------------------------------------------------------------------


async def _settle_failed(db: AsyncSession, refund_id: str, status: str, failure_reason: str | None) -> bool:
    """Mark a refund failed or canceled and give its reservation back, once; True if this call did.

    A refund may fail after it succeeded (the card was closed meanwhile): it is then shown as failed with Stripe's
    reason, but the request's refunded total and status stay (a payment never moves back), and the money has to
    reach the patient another way, as the words say.
    """
    now = utcnow()
    settles_from = ("pending", "succeeded") if status == "failed" else ("pending",)
    result = await db.execute(
        update(Refund)
        .where(Refund.id == refund_id, Refund.status.in_(settles_from))
        .values(
            status=status,
            failure_reason=failure_reason,
            failure_message=FAILURE_WORDS.get(failure_reason or "", FAILURE_WORDS["unknown"])
            if status == "failed"
            else None,
            updated_at=now,
            settled_at=now,
        )
        .returning(Refund.payment_request_id, Refund.amount)
    )
    found = result.one_or_none()
    if found is None:
        return False
    request_id, amount = found
    await db.execute(
        update(PaymentRequest)
        .where(PaymentRequest.id == request_id)
        .values(
            refund_reserved=case(
                (PaymentRequest.refund_reserved >= amount, PaymentRequest.refund_reserved - amount), else_=0
            )
        )
    )
    return True


async def _settle_succeeded(db: AsyncSession, refund_id: str) -> bool:
    now = utcnow()
    result = await db.execute(
        update(Refund)
        .where(Refund.id == refund_id, Refund.status == "pending")
        .values(status="succeeded", updated_at=now, settled_at=now)
    )
    return rows_changed(result) == 1


async def _find_row(db: AsyncSession, made: RefundInfo, refund_id: str | None) -> Refund | None:
    row = await db.scalar(select(Refund).where(Refund.stripe_refund_id == made.id))
    if row is None:
        ours = refund_id or made.metadata.get("callpay_refund")
        if ours:
            row = await db.get(Refund, ours)
    return row


async def record_refund(
    db: AsyncSession, made: RefundInfo, request_id: str, *, refund_id: str | None = None
) -> list[Outbound]:
    """Record one of Stripe's refunds (as re-read from Stripe) and the payment's refunded total; the events to
    publish. A refund Callpay didn't ask for (the Stripe dashboard) is recorded as one the clinic made there."""
    pr = await db.get(PaymentRequest, request_id, populate_existing=True)
    if pr is None:
        return []
    row = await _find_row(db, made, refund_id)
    status = STRIPE_STATUS.get(made.status, "pending")
    changed = False
    if row is None:
        row_id = new_id()
        now = utcnow()
        inserted = await insert_ignoring_conflict(
            db,
            Refund,
            {
                "id": row_id,
                "payment_request_id": pr.id,
                "clinic_id": pr.clinic_id,
                "client_ref": f"stripe:{made.id}",
                "amount": made.amount,
                "currency": made.currency,
                "reason": None,
                "status": "pending",
                "stripe_refund_id": made.id,
                "source": "stripe",
                "created_at": datetime.fromtimestamp(made.created, UTC) if made.created else now,
                "updated_at": now,
            },
            ["payment_request_id", "client_ref"],
        )
        row = await db.get_one(Refund, row_id) if inserted else await _find_row(db, made, None)
        if row is None:
            return []
        if inserted:
            await db.execute(
                update(PaymentRequest)
                .where(PaymentRequest.id == pr.id)
                .values(refund_reserved=PaymentRequest.refund_reserved + made.amount)
            )
            changed = True
    elif row.stripe_refund_id is None:
        await db.execute(update(Refund).where(Refund.id == row.id).values(stripe_refund_id=made.id))
    if status == "succeeded":
        if await _settle_succeeded(db, row.id):
            changed = True
            await enqueue_refund_email(db, pr, row.id)
            audit.record(
                db, "refund.succeeded", clinic_id=pr.clinic_id, subject_type="payment_request", subject_id=pr.id,
                data={"refund": row.id, "amount": row.amount},
            )  # fmt: skip
    elif status in ("failed", "canceled") and await _settle_failed(db, row.id, status, made.failure_reason):
        changed = True
        audit.record(
            db, f"refund.{status}", clinic_id=pr.clinic_id, subject_type="payment_request", subject_id=pr.id,
            data={"refund": row.id, "amount": row.amount, "failure_reason": made.failure_reason},
        )  # fmt: skip
    moved = await record_refunded_total(db, pr.id)
    if moved or not changed:
        return moved
    _, event = await changed_event(db, pr.id)
    return [event]


async def record_refunded_total(db: AsyncSession, request_id: str) -> list[Outbound]:
    """The request's refunded total: every refund Stripe says succeeded (asked for here or in the dashboard).

    Pending refunds aren't in it (they may yet fail, and a payment never moves back to paid); the total only grows,
    so a late event can't undo a newer one.
    """
    pr = await db.get_one(PaymentRequest, request_id, populate_existing=True)
    total = int(
        await db.scalar(
            select(func.coalesce(func.sum(Refund.amount), 0)).where(
                Refund.payment_request_id == request_id, Refund.status == "succeeded"
            )
        )
        or 0
    )
    total = min(total, pr.amount)
    if pr.status not in TAKEN or total <= pr.amount_refunded:
        return []
    moved = await transition(
        db,
        request_id,
        refund_trigger(pr.amount, total),
        where=[PaymentRequest.amount_refunded < total],
        values={"amount_refunded": total},
    )
    return moved.events


async def sync_from_stripe(
    database: async_sessionmaker[AsyncSession], gateway: StripeGateway, request_id: str
) -> list[Outbound]:
    """Re-read a payment's refunds and refunded total from Stripe and record them (outside any transaction)."""
    async with database() as db:
        pr = await db.get(PaymentRequest, request_id)
        charge = await pay_all.charge_of(db, pr) if pr is not None else None
        if pr is None or charge is None:
            return []
        account_id, intent_id = charge
        shared = pr.pay_all_id is not None
    with worded():
        found = await gateway.list_refunds(account_id=account_id, intent_id=intent_id)
    events: list[Outbound] = []
    async with database.begin() as db:
        for made in reversed(found):
            # A charge shared with other requests (Pay all) lists their refunds too: only this one's are its.
            if not shared or await pay_all.refund_owner(db, intent_id, made) == request_id:
                events += await record_refund(db, made, request_id)
    return events


# --- The refund email --------------------------------------------------------------------------------------


async def enqueue_refund_email(db: AsyncSession, pr: PaymentRequest, refund_id: str) -> bool:
    """Queue the patient's refund email (with the refund receipt), once per refund."""
    if not pr.patient_email:
        return False
    return await insert_ignoring_conflict(
        db,
        OutboxEmail,
        {
            "dedupe_key": f"refund:{refund_id}",
            "kind": "refund",
            "to_address": pr.patient_email,
            "payment_request_id": pr.id,
        },
        ["dedupe_key"],
    )


# --- Stripe's events ---------------------------------------------------------------------------------------


async def prefetch_refund(
    database: async_sessionmaker[AsyncSession], event: WebhookEvent, context: EventContext
) -> None:
    """Re-read the event's refund and its payment from Stripe before the webhook's transaction opens."""
    refund_id = event.object.get("id")
    intent_id = event.object.get("payment_intent")
    if not isinstance(refund_id, str) or not isinstance(intent_id, str):
        return
    async with database() as db:
        account_id = await _account_for(db, intent_id)
        if account_id is None:
            return
    try:
        context.refunds[refund_id] = await context.gateway.retrieve_refund(account_id=account_id, refund_id=refund_id)
    except StripeFailure:
        return  # the handler asks again, and a failure there answers 500 so Stripe delivers again


async def on_refund_event(db: AsyncSession, event: WebhookEvent, context: EventContext) -> list[Outbound]:
    """refund.created / refund.updated / refund.failed: news that a refund changed. Recorded as Stripe has it now."""
    refund_id = event.object.get("id")
    intent_id = event.object.get("payment_intent")
    if not isinstance(refund_id, str) or not isinstance(intent_id, str):
        return []
    pr = await db.scalar(
        select(PaymentRequest)
        .where(PaymentRequest.stripe_payment_intent_id == intent_id)
        .execution_options(populate_existing=True)
    )
    if pr is None:
        return await _on_shared_refund(db, intent_id, refund_id, context)
    if pr.stripe_account_id is None:
        return []  # not Callpay's payment
    made = context.refunds.get(refund_id)
    if made is None:
        made = await context.gateway.retrieve_refund(account_id=pr.stripe_account_id, refund_id=refund_id)
    if pr.status not in TAKEN:
        # A refund of a payment we haven't heard was paid (a dashboard refund racing the succeeded webhook):
        # record the payment first, as Stripe has it now.
        events = await payments.apply_current(db, context.gateway, pr, context.intents)
        return events + await record_refund(db, made, pr.id)
    return await record_refund(db, made, pr.id)


async def _account_for(db: AsyncSession, intent_id: str) -> str | None:
    """The connected account of a Callpay payment's intent: a request's own, or a Pay all set's."""
    account: str | None = await db.scalar(
        select(PaymentRequest.stripe_account_id).where(PaymentRequest.stripe_payment_intent_id == intent_id)
    )
    if account is None:
        paying = await pay_all.set_for_intent(db, intent_id)
        account = paying.stripe_account_id if paying is not None else None
    return account


async def _on_shared_refund(db: AsyncSession, intent_id: str, refund_id: str, context: EventContext) -> list[Outbound]:
    """A refund of a Pay all charge: recorded on the request it was for (see :func:`pay_all.refund_owner`)."""
    paying = await pay_all.set_for_intent(db, intent_id)
    if paying is None or paying.stripe_account_id is None:
        return []  # not Callpay's payment
    made = context.refunds.get(refund_id)
    if made is None:
        made = await context.gateway.retrieve_refund(account_id=paying.stripe_account_id, refund_id=refund_id)
    owner = await pay_all.refund_owner(db, intent_id, made)
    return await record_refund(db, made, owner) if owner is not None else []


async def prefetch_charge_refunds(
    database: async_sessionmaker[AsyncSession], event: WebhookEvent, context: EventContext
) -> None:
    """charge.refunded: the payment as Stripe has it now (see payments.prefetch_intent), and its refunds."""
    await payments.prefetch_intent(database, event, context)
    intent_id = event.object.get("payment_intent")
    if not isinstance(intent_id, str):
        return
    async with database() as db:
        account_id = await _account_for(db, intent_id)
        if account_id is None:
            return
    try:
        context.refund_lists[intent_id] = await context.gateway.list_refunds(account_id=account_id, intent_id=intent_id)
    except StripeFailure:
        return  # the refunded total is still recorded; each refund follows with its own refund.* event


async def on_charge_refunded(db: AsyncSession, event: WebhookEvent, context: EventContext) -> list[Outbound]:
    """charge.refunded: "look at this payment's refunds". Each refund Stripe lists for it is recorded (so one made
    in the Stripe dashboard is in the payment centre too), and the refunded total follows from those that
    succeeded. Only when Stripe can no longer be read (access revoked) does the payload's total stand in."""
    intent_id = event.object.get("payment_intent")
    pr = await db.scalar(
        select(PaymentRequest)
        .where(PaymentRequest.stripe_payment_intent_id == intent_id)
        .execution_options(populate_existing=True)
    )
    if pr is None and isinstance(intent_id, str):
        return await _on_shared_charge_refunded(db, intent_id, context)
    if pr is None or pr.stripe_account_id is None or not isinstance(intent_id, str):
        return []
    listed = context.refund_lists.get(intent_id)
    if listed is None:
        try:
            listed = await context.gateway.list_refunds(account_id=pr.stripe_account_id, intent_id=intent_id)
        except AccessRevoked:
            return await payments.on_charge_refunded(db, event, context)
    events: list[Outbound] = []
    if pr.status not in TAKEN:
        events = await payments.apply_current(db, context.gateway, pr, context.intents)
    for made in reversed(listed):
        events += await record_refund(db, made, pr.id)
    return events


async def _on_shared_charge_refunded(db: AsyncSession, intent_id: str, context: EventContext) -> list[Outbound]:
    """charge.refunded of a Pay all charge: each refund Stripe lists is recorded on the request it was for."""
    paying = await pay_all.set_for_intent(db, intent_id)
    if paying is None or paying.stripe_account_id is None:
        return []
    listed = context.refund_lists.get(intent_id)
    if listed is None:
        try:
            listed = await context.gateway.list_refunds(account_id=paying.stripe_account_id, intent_id=intent_id)
        except AccessRevoked:
            return []  # the payload's total can't say which request it was for; each refund's own event may
    events: list[Outbound] = []
    for made in reversed(listed):
        owner = await pay_all.refund_owner(db, intent_id, made)
        if owner is not None:
            events += await record_refund(db, made, owner)
    return events


REFUND_EVENTS = ("refund.created", "refund.updated", "refund.failed")
HANDLERS = {**{event_type: on_refund_event for event_type in REFUND_EVENTS}, "charge.refunded": on_charge_refunded}
PREPARERS = {
    **{event_type: prefetch_refund for event_type in REFUND_EVENTS},
    "charge.refunded": prefetch_charge_refunds,
}
