"""Card holds: authorise now, charge at the end.

A request sent with ``capture: "hold"`` is paid with a PaymentIntent created with ``capture_method=manual``: the
patient's card is authorised, the request shows ``authorized``, and no money moves. Later one of these charges
(captures) it, in full or for a smaller final amount, never more than was held:

- the clinician's **Charge now** (``capture_payment_request``), or **Release hold** (``release_payment_request``),
  which cancels it with nothing charged;
- the platform's call-ended event (:func:`charge_call_holds`), for the final amount its clinician set, if any;
- the sweeper (:func:`sweep`), before Stripe's ``capture_before``, capturing or releasing per the clinic's
  ``hold_expiry_action``.

Each is read, then Stripe, then a conditional transition, each on its own, so Stripe is never waited on inside a
transaction. Stripe's idempotency key and the lifecycle's conditional UPDATE make a doubled capture (two workers,
a click and the call's end at once) one charge and one receipt; whoever moves the row does the payment's once-only
work (the receipt for the captured amount, the pop-up). What Stripe says is re-read and applied through the same
triggers the webhooks use (:func:`addon.services.payments.apply_intent`), so reconciliation covers holds too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from addon import audit, money
from addon.auth.access import require_role
from addon.auth.platform import PlatformClaims
from addon.auth.roles import CLINICIANS
from addon.auth.sessions import Principal
from addon.clock import Clock
from addon.errors import Conflict, InvalidInput
from addon.gateway import NotCancelable, NotCapturable, PaymentIntentInfo, StripeFailure, StripeGateway
from addon.lifecycle import MONEY_TAKEN, Status, Trigger
from addon.models import Call, Clinic, Organisation, PaymentRequest
from addon.outbound import Outbound
from addon.services import amounts, payments
from addon.services.payment_requests import Outcome, changed_event, find_in_call, list_for_call
from addon.services.stripe_errors import for_people, worded
from addon.services.transitions import transition
from addon.wire import payments as wire

log = logging.getLogger("callpay.holds")

EXPIRY_ACTIONS = ("capture", "release")
# Holds are charged or released this long before Stripe's capture_before, so a slow or failed round has time to
# try again before the bank lets the hold lapse.
SWEEP_AHEAD = timedelta(hours=12)
# A worker's claim on a hold while it talks to Stripe; a worker that dies mid-way leaves it to another after this.
CLAIM = timedelta(minutes=2)
SWEEP_BATCH = 50
# Online card holds last about 7 days; when Stripe gave no capture_before, count from the authorisation.
ASSUMED_VALIDITY = timedelta(days=7)


@dataclass(frozen=True)
class Held:
    """A hold as read before Stripe is asked about it."""

    id: str
    clinic_id: int
    account_id: str
    intent_id: str
    authorized: int
    currency: str
    final_amount: int | None


async def _read_hold(db: AsyncSession, pr: PaymentRequest) -> Held:
    if pr.status != Status.AUTHORIZED:
        raise Conflict(_not_held(pr), code="not_held")
    assert pr.stripe_account_id is not None and pr.stripe_payment_intent_id is not None
    return Held(
        pr.id,
        pr.clinic_id,
        pr.stripe_account_id,
        pr.stripe_payment_intent_id,
        pr.amount_authorized or pr.amount,
        pr.currency,
        pr.final_amount,
    )


def _not_held(pr: PaymentRequest) -> str:
    if pr.status in MONEY_TAKEN:
        return "This hold has already been charged."
    if pr.status == Status.CANCELED:
        return "This hold was released or cancelled; nothing was charged."
    if pr.capture != "hold":
        return "This request isn't a card hold."
    return "The patient hasn't authorised their card for this hold yet."


# --- The clinician -----------------------------------------------------------------------------------------


async def capture(
    database: async_sessionmaker[AsyncSession],
    gateway: StripeGateway,
    principal: Principal,
    request_id: object,
    amount: object = None,
) -> Outcome:
    """Charge now: the whole hold, or a smaller final amount (text as typed, or minor units); never more."""
    require_role(principal, CLINICIANS, what="charge card holds")
    async with database.begin() as db:
        pr = await find_in_call(db, principal, request_id)
        if pr.status in MONEY_TAKEN and pr.capture == "hold":
            body, _ = await changed_event(db, pr.id)
            return Outcome(body, [])  # a repeat of a charge already made
        held = await _read_hold(db, pr)
        clinic = await db.get_one(Clinic, held.clinic_id)
        final = held.authorized if amount is None else _final_amount(clinic, held, amount)
    events = await charge_hold(database, gateway, held, final, why="clinician", actor=principal)
    async with database() as db:
        body, _ = await changed_event(db, held.id)
    return Outcome(body, events)


def _final_amount(clinic: Clinic, held: Held, value: object) -> int:
    minor = amounts.read_amount(clinic, value, currency=held.currency).minor
    if minor > held.authorized:
        limit = money.format_amount(held.authorized, held.currency, clinic.locale)
        raise InvalidInput(
            f"The hold is for {limit}, so you can charge up to {limit}. For more, send a new request.",
            code="capture_too_large",
            field="amount",
        )
    return minor


async def release(
    database: async_sessionmaker[AsyncSession], gateway: StripeGateway, principal: Principal, request_id: object
) -> Outcome:
    """Release hold: the authorisation is cancelled at Stripe and nothing is charged; the call hears it."""
    require_role(principal, CLINICIANS, what="release card holds")
    async with database.begin() as db:
        pr = await find_in_call(db, principal, request_id)
        if pr.status == Status.CANCELED and pr.capture == "hold":
            body, _ = await changed_event(db, pr.id)
            return Outcome(body, [])
        held = await _read_hold(db, pr)
    events = await release_hold(database, gateway, held, why="clinician", actor=principal)
    async with database() as db:
        body, _ = await changed_event(db, held.id)
    return Outcome(body, events)


# --- The work itself, whoever asks -------------------------------------------------------------------------


async def charge_hold(
    database: async_sessionmaker[AsyncSession],
    gateway: StripeGateway,
    held: Held,
    amount: int,
    *,
    why: str,
    actor: Principal | None = None,
) -> list[Outbound]:
    """Capture ``amount`` of the hold at Stripe, then record what Stripe says through the lifecycle."""
    try:
        intent = await gateway.capture_payment_intent(
            account_id=held.account_id,
            intent_id=held.intent_id,
            amount=amount,
            idempotency_key=f"callpay-capture:{held.id}:{amount}",
        )
    except NotCapturable:
        # Already captured (another worker, the call's end), released, or lapsed: record what Stripe has now.
        events = await _apply_from_stripe(database, gateway, held)
        async with database() as db:
            now = await db.get_one(PaymentRequest, held.id)
        if now.status in MONEY_TAKEN:
            return events
        raise Conflict(
            "This hold can't be charged any more: it was released or has lapsed. Nothing was charged.",
            code="hold_expired",
        ) from None
    except StripeFailure as exc:
        raise for_people(exc) from exc
    async with database.begin() as db:
        pr = await db.get_one(PaymentRequest, held.id, populate_existing=True)
        events = await payments.apply_intent(db, pr, intent)
        audit.record(
            db,
            "payment_request.hold_captured",
            actor=actor,
            clinic_id=held.clinic_id,
            subject_type="payment_request",
            subject_id=held.id,
            data={"amount": amount, "authorized": held.authorized, "by": why},
        )
    return events


async def release_hold(
    database: async_sessionmaker[AsyncSession],
    gateway: StripeGateway,
    held: Held,
    *,
    why: str,
    actor: Principal | None = None,
) -> list[Outbound]:
    """Cancel the hold's intent at Stripe (nothing charged), then move the request to canceled."""
    try:
        await gateway.cancel_payment_intent(
            account_id=held.account_id, intent_id=held.intent_id, idempotency_key=f"callpay-release:{held.id}"
        )
    except NotCancelable:
        # Captured meanwhile (or already canceled): record what Stripe has.
        events = await _apply_from_stripe(database, gateway, held)
        async with database() as db:
            now = await db.get_one(PaymentRequest, held.id)
        if now.status == Status.CANCELED:
            return events
        raise Conflict("This hold has already been charged, so it can't be released.", code="not_held") from None
    except StripeFailure as exc:
        raise for_people(exc) from exc
    async with database.begin() as db:
        moved = await transition(
            db,
            held.id,
            Trigger.RELEASED,
            where=[PaymentRequest.stripe_payment_intent_id == held.intent_id],
            values={"hold_claimed_until": None},
        )
        if moved.moved:
            audit.record(
                db,
                "payment_request.hold_released",
                actor=actor,
                clinic_id=held.clinic_id,
                subject_type="payment_request",
                subject_id=held.id,
                data={"authorized": held.authorized, "by": why},
            )
    return moved.events


async def _apply_from_stripe(
    database: async_sessionmaker[AsyncSession], gateway: StripeGateway, held: Held
) -> list[Outbound]:
    with worded():
        intent: PaymentIntentInfo = await gateway.retrieve_payment_intent(
            account_id=held.account_id, intent_id=held.intent_id
        )
    async with database.begin() as db:
        pr = await db.get_one(PaymentRequest, held.id, populate_existing=True)
        return await payments.apply_intent(db, pr, intent)


# --- The call's end ----------------------------------------------------------------------------------------


async def charge_call_holds(
    database: async_sessionmaker[AsyncSession], gateway: StripeGateway, call_id: int
) -> list[Outbound]:
    """The call is over: every authorised hold in it is charged, in full or for the final amount its clinician
    set. A hold Stripe refuses (lapsed) is left to what Stripe reports; the others still go ahead."""
    async with database() as db:
        rows = (
            await db.scalars(
                select(PaymentRequest)
                .where(PaymentRequest.call_id == call_id, PaymentRequest.status == Status.AUTHORIZED)
                .order_by(PaymentRequest.created_at, PaymentRequest.id)
            )
        ).all()
        held = [await _read_hold(db, pr) for pr in rows]
    events: list[Outbound] = []
    for hold in held:
        try:
            events += await charge_hold(database, gateway, hold, hold.final_amount or hold.authorized, why="call_ended")
        except Exception:
            log.exception("could not charge a hold when its call ended", extra={"request": hold.id})
    return events


# --- The sweeper -------------------------------------------------------------------------------------------


@dataclass
class Swept:
    captured: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    events: list[Outbound] = field(default_factory=list)


def _due_before(now: datetime) -> ColumnElement[bool]:
    """Holds Stripe would let lapse within SWEEP_AHEAD (or, with no capture_before, authorised that long ago)."""
    soon = now + SWEEP_AHEAD
    return or_(
        PaymentRequest.capture_before <= soon,
        (PaymentRequest.capture_before.is_(None)) & (PaymentRequest.updated_at <= soon - ASSUMED_VALIDITY),
    )


async def sweep(database: async_sessionmaker[AsyncSession], gateway: StripeGateway, *, clock: Clock) -> Swept:
    """One round: every hold close to its capture_before is captured or released, per its clinic's setting.

    Safe with several workers: each hold is claimed first by a conditional UPDATE of its lease (not its status),
    so only one worker acts on it; and should a lease lapse mid-way, Stripe's idempotency key and the lifecycle's
    conditional transition still make it one charge and one receipt. This is the one entry point a ``callpay
    worker`` process calls on its own schedule."""
    now = clock.now()
    swept = Swept()
    async with database() as db:
        due = (
            await db.scalars(
                select(PaymentRequest.id)
                .where(PaymentRequest.status == Status.AUTHORIZED, _due_before(now))
                .where(or_(PaymentRequest.hold_claimed_until.is_(None), PaymentRequest.hold_claimed_until < now))
                .order_by(PaymentRequest.capture_before)
                .limit(SWEEP_BATCH)
            )
        ).all()
    for request_id in due:
        async with database.begin() as db:
            claimed = await db.execute(
                update(PaymentRequest)
                .where(
                    PaymentRequest.id == request_id,
                    PaymentRequest.status == Status.AUTHORIZED,
                    or_(PaymentRequest.hold_claimed_until.is_(None), PaymentRequest.hold_claimed_until < now),
                )
                .values(hold_claimed_until=now + CLAIM)
                .returning(PaymentRequest.id)
            )
            if claimed.scalar_one_or_none() is None:
                continue  # another worker has it
            pr = await db.get_one(PaymentRequest, request_id, populate_existing=True)
            held = await _read_hold(db, pr)
            clinic = await db.get_one(Clinic, held.clinic_id)
            action = clinic.hold_expiry_action if clinic.hold_expiry_action in EXPIRY_ACTIONS else "capture"
        try:
            if action == "release":
                swept.events += await release_hold(database, gateway, held, why="expiring")
                swept.released.append(request_id)
            else:
                swept.events += await charge_hold(
                    database, gateway, held, held.final_amount or held.authorized, why="expiring"
                )
                swept.captured.append(request_id)
        except Exception:
            log.exception("could not sweep a card hold", extra={"request": request_id})
            swept.failed.append(request_id)
    return swept


async def charge_ended_call(
    database: async_sessionmaker[AsyncSession], gateway: StripeGateway, claims: PlatformClaims
) -> tuple[list[Outbound], list[wire.PaymentRequest] | None]:
    """The platform's call-ended step for holds: the call named by the (verified, already consumed) claims has its
    authorised holds charged; returns the events and, when anything was charged, the call's requests anew."""
    async with database() as db:
        call_id = await db.scalar(
            select(Call.id)
            .join(Clinic, Clinic.id == Call.clinic_id)
            .join(Organisation, Organisation.id == Clinic.organisation_id)
            .where(
                Organisation.platform == claims.platform,
                Organisation.external_id == claims.org,
                Clinic.external_id == claims.clinic,
                Call.external_id == claims.call,
            )
        )
    if call_id is None:
        return [], None
    events = await charge_call_holds(database, gateway, call_id)
    if not events:
        return [], None
    async with database() as db:
        return events, await list_for_call(db, call_id)
