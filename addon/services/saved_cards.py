"""Charging a patient's saved card without them present (off-session), and finding that card.

The one way any part of Callpay charges a card on file (no-show and late-cancellation fees, the instalments of a
plan). Each charge is a :class:`~addon.models.PaymentRequest` in the normal lifecycle, so it lists, exports,
refunds and has its receipt like any other; its :class:`~addon.models.OffSessionCharge` row names the card and
the consent it relies on, which the receipt cites.

API (stable; keyword arguments only)::

    outcome = await charge_saved_card(
        database, gateway, clock=clock, base_url=settings.public_url,
        clinic_id=clinic.id, call_id=call.id, clinician_id=user.id,   # the request's call and clinician
        amount=5000, currency="aud", description="No-show fee",
        purpose="no_show_fee", idempotency_key="no_show:call-7:patient-3",
        patient_id=None,   # the patient's User id; None: whichever patient of that call has a saved card
        actor=principal,   # who asked, for the audit trail (None for background work)
    )
    # or, for a request that already exists and is unpaid (an instalment made ahead of its date):
    outcome = await charge_request(
        database, gateway, clock=clock, base_url=..., request_id=pr.id,
        purpose="instalment", idempotency_key=f"instalment:{pr.id}", patient_id=None, actor=None,
    )
    match outcome:
        case Paid(payment_request=pr): ...                     # charged; the receipt email is queued
        case NeedsPatient(payment_request=pr, link=link): ...  # bank wants the patient, or declined: link emailed
        case NoSavedCard(): ...                                # nothing charged, nothing written
    await publish(outcome.events)   # every outcome carries the realtime events to publish after it returns

Guarantees:

- Idempotent on ``(clinic, idempotency_key)``: a double click, a retry after a crash or a timeout, or two workers
  at once make one request and at most one charge; a repeat answers the first outcome (``first`` is False).
  Stripe gets an idempotency key from the same charge, so even a retry racing Stripe's answer charges once.
- Stripe is never waited on inside a transaction (two short transactions around the one network call).
- ``authentication_required`` or a decline: the request is marked failed with a plain reason and a pay-later link
  for it is emailed to the card's email (:func:`addon.services.payment_links.link_from_request`, origin
  ``saved_card``); the outcome says so. A card removed since the charge began goes the same way.
- Raises :class:`~addon.errors.PaymentsUnavailable` when the clinic can't take payments now,
  :class:`~addon.errors.NotFound` / :class:`~addon.errors.Conflict` for a request that isn't there or can't be
  charged (it already has a checkout under way), and :class:`~addon.errors.PaymentProviderError` when Stripe
  can't be reached (nothing charged; retry with the same key).
- A charge whose answer never came back (Stripe unreachable, the connection lost after Stripe charged) is not left
  pending: :func:`resume_stalled` (a background job, every minute) asks Stripe again with the same idempotency key,
  which answers what it did the first time, or makes the charge now if it never arrived. Instalments are left to
  their plan's own scheduler, which retries them the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from addon import audit, lifecycle
from addon.auth.roles import Role
from addon.auth.sessions import Principal
from addon.clock import Clock
from addon.dbutil import insert_ignoring_conflict
from addon.errors import CallpayError, Conflict, NotFound
from addon.gateway import OffSessionDeclined, PaymentIntentInfo, StripeGateway
from addon.lifecycle import MONEY_TAKEN, Trigger
from addon.models import (
    Call,
    Clinic,
    OffSessionCharge,
    PaymentRequest,
    SavedCard,
    Session,
    User,
    utcnow,
)
from addon.outbound import Outbound
from addon.services import payment_links, payments
from addon.services.checkout import stripe_description
from addon.services.clinics import require_payments_available
from addon.services.link_state import changed as link_changed
from addon.services.payment_requests import changed_event, load_view, payment_request_json
from addon.services.payment_requests import new_id as new_request_id
from addon.services.stripe_errors import worded
from addon.services.transitions import transition
from addon.wire import links as link_wire
from addon.wire.payments import PaymentRequest as PaymentRequestJson

log = logging.getLogger("callpay.saved_cards")

Reason = Literal["authentication_required", "declined", "card_removed"]
# The patient's-eye words on the request (its failure_message), and what the staff member is told.
FAILURE_WORDS: dict[Reason, str] = {
    "authentication_required": "Your bank asked to confirm this payment with you, so it wasn't charged to your "
    "saved card. Pay it with the link we emailed.",
    "declined": "Your saved card was declined. Pay it with the link we emailed, with this or another card.",
    "card_removed": "The saved card was removed before it could be charged. Pay it with the link we emailed.",
}


@dataclass(frozen=True)
class Paid:
    """Charged to the saved card. The receipt email is queued; ``events`` tell the call and its clinicians."""

    payment_request: PaymentRequestJson
    events: list[Outbound] = field(default_factory=list)
    first: bool = True
    kind: Literal["paid"] = "paid"


@dataclass(frozen=True)
class NeedsPatient:
    """Not charged: the bank wants the patient (``authentication_required``), declined it, or the card was removed.
    A pay-later link for the request was made (and emailed when an address is known)."""

    payment_request: PaymentRequestJson
    link: link_wire.PaymentLink
    reason: Reason
    events: list[Outbound] = field(default_factory=list)
    first: bool = True
    kind: Literal["needs_patient"] = "needs_patient"


@dataclass(frozen=True)
class NoSavedCard:
    """The patient has no card on file the clinic's Stripe account can charge: nothing was charged or written."""

    events: list[Outbound] = field(default_factory=list)
    first: bool = True
    kind: Literal["no_saved_card"] = "no_saved_card"


OffSessionOutcome = Paid | NeedsPatient | NoSavedCard


class _Raced(Exception):
    """Another caller recorded the same charge first; start again and answer theirs."""


# --- Finding the card --------------------------------------------------------------------------------------


async def find_card(
    db: AsyncSession, *, clinic_id: int, patient_id: int | None = None, call_id: int | None = None
) -> SavedCard | None:
    """The newest active card a patient saved for the clinic, chargeable on its current Stripe account.

    ``patient_id`` names the patient (a :class:`~addon.models.User` id); without it, ``call_id`` does: a patient
    who saved a card in that call, or who was in it and has one saved from another call."""
    clinic = await db.get(Clinic, clinic_id)
    if clinic is None or not clinic.stripe_account_id:
        return None
    query = select(SavedCard).where(
        SavedCard.clinic_id == clinic_id,
        SavedCard.status == "active",
        SavedCard.stripe_account_id == clinic.stripe_account_id,
    )
    if patient_id is not None:
        query = query.where(SavedCard.patient_id == patient_id)
    elif call_id is not None:
        in_call = select(Session.user_id).where(Session.call_id == call_id, Session.role == Role.PATIENT.value)
        query = query.where(or_(SavedCard.call_id == call_id, SavedCard.patient_id.in_(in_call)))
    else:
        raise ValueError("find_card needs a patient_id or a call_id")
    found: SavedCard | None = await db.scalar(query.order_by(SavedCard.saved_at.desc(), SavedCard.id.desc()).limit(1))
    return found


# --- Charging ----------------------------------------------------------------------------------------------

MakeRequest = Callable[[AsyncSession, Clinic, SavedCard], Awaitable[str]]


async def charge_saved_card(
    database: async_sessionmaker[AsyncSession],
    gateway: StripeGateway,
    *,
    clock: Clock,
    base_url: str,
    clinic_id: int,
    call_id: int,
    clinician_id: int,
    amount: int,
    currency: str,
    description: str,
    purpose: str,
    idempotency_key: str,
    patient_id: int | None = None,
    actor: Principal | None = None,
) -> OffSessionOutcome:
    """Make a request for ``amount`` on ``call_id`` and charge it to the patient's saved card (see the module)."""

    async def new_request(db: AsyncSession, clinic: Clinic, card: SavedCard) -> str:
        patient = await db.get_one(User, card.patient_id)
        request_id = new_request_id()
        now = utcnow()
        db.add(
            PaymentRequest(
                id=request_id,
                call_id=call_id,
                clinic_id=clinic.id,
                clinician_id=clinician_id,
                amount=amount,
                currency=currency,
                description=description,
                status=lifecycle.INITIAL.value,
                amount_refunded=0,
                patient_email=card.email,
                patient_name=patient.name if patient.name != "Patient" else None,
                payer_sub=patient.external_id,
                payer_name=patient.name,
                created_at=now,
                updated_at=now,
            )
        )
        await db.flush()
        audit.record(
            db,
            "payment_request.created",
            actor=actor,
            clinic_id=clinic.id,
            subject_type="payment_request",
            subject_id=request_id,
            data={"amount": amount, "currency": currency, "capture": "now", "saved_card": card.id, "purpose": purpose},
        )
        return request_id

    return await _charge(
        database, gateway, clock=clock, base_url=base_url, clinic_id=clinic_id, purpose=purpose,
        idempotency_key=idempotency_key, actor=actor, find=lambda db: find_card(
            db, clinic_id=clinic_id, patient_id=patient_id, call_id=call_id
        ), make_request=new_request,
    )  # fmt: skip


async def charge_request(
    database: async_sessionmaker[AsyncSession],
    gateway: StripeGateway,
    *,
    clock: Clock,
    base_url: str,
    request_id: str,
    purpose: str,
    idempotency_key: str,
    patient_id: int | None = None,
    actor: Principal | None = None,
) -> OffSessionOutcome:
    """Charge an existing unpaid request (no checkout started on it) to its patient's saved card."""
    async with database() as db:
        pr = await db.get(PaymentRequest, request_id)
        if pr is None:
            raise NotFound("That payment request doesn't exist.")
        clinic_id, call_id = pr.clinic_id, pr.call_id

    async def existing(db: AsyncSession, clinic: Clinic, card: SavedCard) -> str:
        pr = await db.get_one(PaymentRequest, request_id, populate_existing=True)
        if not Trigger.CHECKOUT_STARTED.may_start(pr.status) or pr.stripe_payment_intent_id is not None:
            raise Conflict(
                "This request can't be charged to a saved card: it is paid, closed, or being paid already.",
                code="not_chargeable",
            )
        if not pr.patient_email and card.email:
            await db.execute(update(PaymentRequest).where(PaymentRequest.id == pr.id).values(patient_email=card.email))
        return request_id

    return await _charge(
        database, gateway, clock=clock, base_url=base_url, clinic_id=clinic_id, purpose=purpose,
        idempotency_key=idempotency_key, actor=actor, find=lambda db: find_card(
            db, clinic_id=clinic_id, patient_id=patient_id, call_id=call_id
        ), make_request=existing,
    )  # fmt: skip


@dataclass(frozen=True)
class _Attempt:
    charge_id: int
    request_id: str
    card: SavedCard
    clinic: Clinic
    params: dict[str, Any]
    first: bool
    events: list[Outbound] = field(default_factory=list)


async def _charge(
    database: async_sessionmaker[AsyncSession],
    gateway: StripeGateway,
    *,
    clock: Clock,
    base_url: str,
    clinic_id: int,
    purpose: str,
    idempotency_key: str,
    actor: Principal | None,
    find: Callable[[AsyncSession], Awaitable[SavedCard | None]],
    make_request: MakeRequest,
) -> OffSessionOutcome:
    for _ in range(3):
        try:
            async with database.begin() as db:
                started = await _start(
                    db, clinic_id=clinic_id, purpose=purpose, key=idempotency_key, actor=actor, find=find,
                    make_request=make_request,
                )  # fmt: skip
            break
        except _Raced:
            continue
    else:  # pragma: no cover - three lost races in a row would need three racers on one key
        raise Conflict("This charge is being made right now. Try again in a moment.", code="charge_in_progress")
    if not isinstance(started, _Attempt):
        return started
    attempt = started
    if attempt.card.status != "active":
        async with database.begin() as db:
            return await _needs_patient(
                db, attempt, "card_removed", None, None, clock=clock, base_url=base_url, actor=actor
            )
    refused: OffSessionDeclined | None = None
    with worded():  # Stripe unreachable and the like: a clear error, nothing charged; retry with the same key
        try:
            intent = await gateway.charge_off_session(**attempt.params)
        except OffSessionDeclined as exc:
            refused = exc
    if refused is not None:
        reason: Reason = "authentication_required" if refused.needs_authentication else "declined"
        async with database.begin() as db:
            return await _needs_patient(
                db, attempt, reason, refused.code, refused.intent_id, clock=clock, base_url=base_url, actor=actor
            )
    async with database.begin() as db:
        if intent.status != "succeeded":
            # An off-session card payment succeeds or is refused at once; anything else wants the patient.
            log.warning("off-session intent neither succeeded nor refused", extra={"payment_intent": intent.id})
            return await _needs_patient(
                db, attempt, "authentication_required", intent.status, intent.id, clock=clock, base_url=base_url,
                actor=actor,
            )  # fmt: skip
        return await _paid(db, attempt, intent)


async def _start(
    db: AsyncSession,
    *,
    clinic_id: int,
    purpose: str,
    key: str,
    actor: Principal | None,
    find: Callable[[AsyncSession], Awaitable[SavedCard | None]],
    make_request: MakeRequest,
) -> _Attempt | OffSessionOutcome:
    """Record the charge (or find it recorded), in one transaction; answer a finished one as it went."""
    clinic = await require_payments_available(db, clinic_id, audience="staff")
    row = await db.scalar(
        select(OffSessionCharge).where(OffSessionCharge.clinic_id == clinic_id, OffSessionCharge.idempotency_key == key)
    )
    first = row is None
    started_events: list[Outbound] = []
    if row is None:
        card = await find(db)
        if card is None:
            return NoSavedCard()
        request_id = await make_request(db, clinic, card)
        now = utcnow()
        inserted = await insert_ignoring_conflict(
            db,
            OffSessionCharge,
            {
                "clinic_id": clinic_id,
                "idempotency_key": key,
                "payment_request_id": request_id,
                "saved_card_id": card.id,
                "purpose": purpose,
                "status": "pending",
                "requested_by_user_id": actor.user_id if actor else None,
                "created_at": now,
                "updated_at": now,
            },
            ["clinic_id", "idempotency_key"],
        )
        if not inserted:
            raise _Raced()
        row = await db.scalar(
            select(OffSessionCharge).where(
                OffSessionCharge.clinic_id == clinic_id, OffSessionCharge.idempotency_key == key
            )
        )
        assert row is not None
        # Not payable in the call while Stripe is asked, so the patient can't pay it a second way meanwhile.
        started_events = (await transition(db, request_id, Trigger.OFF_SESSION_STARTED)).events
        audit.record(
            db,
            "saved_card.charge_started",
            actor=actor,
            clinic_id=clinic_id,
            subject_type="payment_request",
            subject_id=request_id,
            data={"saved_card": card.id, "purpose": purpose},
        )
    pr = await db.get_one(PaymentRequest, row.payment_request_id, populate_existing=True)
    if row.status == "paid" or pr.status in MONEY_TAKEN:
        if row.status == "pending":
            # Stripe's answer was lost but its event came: the request is paid, and so is this charge.
            await db.execute(
                update(OffSessionCharge)
                .where(OffSessionCharge.id == row.id, OffSessionCharge.status == "pending")
                .values(status="paid", stripe_payment_intent_id=pr.stripe_payment_intent_id, updated_at=utcnow())
            )
        return Paid(await _json(db, pr.id), first=False)
    if row.status == "needs_patient" and row.payment_link_id is not None:
        link = await link_changed(db, row.payment_link_id, now=utcnow())
        assert isinstance(link.data, link_wire.PaymentLink)
        return NeedsPatient(await _json(db, pr.id), link.data, _reason(row.failure_code), first=False)
    card = await db.get_one(SavedCard, row.saved_card_id, populate_existing=True)
    call = await db.get_one(Call, pr.call_id)
    patient = await db.get_one(User, card.patient_id)
    assert clinic.stripe_account_id is not None
    fee = clinic.application_fee_amount
    params: dict[str, Any] = dict(
        account_id=clinic.stripe_account_id,
        customer_id=card.stripe_customer_id,
        payment_method_id=card.stripe_payment_method_id,
        amount=pr.amount,
        currency=pr.currency,
        description=stripe_description(pr, clinic),
        # Ids only, as for every payment: Stripe holds no names or health text.
        metadata={
            "payment_request": pr.id,
            "call": call.external_id,
            "clinic": clinic.external_id,
            "patient": patient.external_id,
            "saved_card": card.id,
            "purpose": purpose,
        },
        idempotency_scope=f"callpay-off-session:{clinic.id}:{row.id}",
        application_fee_amount=fee if fee and fee < pr.amount else None,
    )
    return _Attempt(row.id, pr.id, card, clinic, params, first, started_events if first else [])


def _reason(code: str | None) -> Reason:
    if code == "card_removed":
        return "card_removed"
    return "authentication_required" if code in ("authentication_required", "requires_action") else "declined"


async def _json(db: AsyncSession, request_id: str) -> PaymentRequestJson:
    view = await load_view(db, request_id)
    assert view is not None
    return payment_request_json(view)


async def _paid(db: AsyncSession, attempt: _Attempt, intent: PaymentIntentInfo) -> Paid:
    card = attempt.card
    await transition(
        db,
        attempt.request_id,
        Trigger.OFF_SESSION_CHARGE,
        where=[PaymentRequest.stripe_payment_intent_id.is_(None)],
        values={
            "stripe_payment_intent_id": intent.id,
            "stripe_account_id": attempt.clinic.stripe_account_id,
            "patient_email": card.email,
        },
    )
    pr = await db.get_one(PaymentRequest, attempt.request_id, populate_existing=True)
    events = await payments.apply_intent(db, pr, intent)
    await db.execute(
        update(OffSessionCharge)
        .where(OffSessionCharge.id == attempt.charge_id)
        .values(status="paid", stripe_payment_intent_id=intent.id, updated_at=utcnow())
    )
    audit.record(
        db,
        "saved_card.charged",
        clinic_id=attempt.clinic.id,
        subject_type="payment_request",
        subject_id=attempt.request_id,
        data={"saved_card": card.id, "payment_intent": intent.id},
    )
    return Paid(await _json(db, attempt.request_id), [*attempt.events, *events], first=attempt.first)


async def _needs_patient(
    db: AsyncSession,
    attempt: _Attempt,
    reason: Reason,
    code: str | None,
    intent_id: str | None,
    *,
    clock: Clock,
    base_url: str,
    actor: Principal | None,
) -> NeedsPatient:
    """Not charged: record why on the request, and send the patient a pay-later link for it instead."""
    events: list[Outbound] = list(attempt.events)
    moved = await transition(
        db, attempt.request_id, Trigger.DECLINED, values={"failure_message": FAILURE_WORDS[reason]}
    )
    events.extend(moved.events)
    pr = await db.get_one(PaymentRequest, attempt.request_id, populate_existing=True)
    link_id = await db.scalar(select(OffSessionCharge.payment_link_id).where(OffSessionCharge.id == attempt.charge_id))
    if link_id is None:
        made = await payment_links.link_from_request(
            db, pr, attempt.clinic, base_url=base_url, now=clock.now(), email=attempt.card.email,
            name=pr.patient_name, origin="saved_card", client_ref=f"saved-card:{pr.id}", actor=actor,
            email_reason=f"saved-card-{'authentication' if reason == 'authentication_required' else 'declined'}",
        )  # fmt: skip
        events.extend(made.events)
        link = made.body
    else:
        changed = await link_changed(db, link_id, now=clock.now())
        assert isinstance(changed.data, link_wire.PaymentLink)
        link = changed.data
    await db.execute(
        update(OffSessionCharge)
        .where(OffSessionCharge.id == attempt.charge_id)
        .values(
            status="needs_patient",
            failure_code=code or reason,
            stripe_payment_intent_id=intent_id,
            payment_link_id=link.id,
            updated_at=utcnow(),
        )
    )
    audit.record(
        db,
        "saved_card.charge_refused",
        clinic_id=attempt.clinic.id,
        subject_type="payment_request",
        subject_id=attempt.request_id,
        data={"saved_card": attempt.card.id, "reason": reason, "code": code, "payment_link": link.id},
    )
    if not moved.moved:
        _, event = await changed_event(db, attempt.request_id)
        events.append(event)
    return NeedsPatient(await _json(db, attempt.request_id), link, reason, events, first=attempt.first)


# --- Charges whose answer was lost -------------------------------------------------------------------------

# A charge still pending this long after it was recorded lost its answer: one normally answers within the
# gateway's timeout and its retries, seconds.
STALLED_AFTER = timedelta(minutes=2)
# Stripe keeps an idempotency key for at least 24 hours; past that, asking again could charge a second time, so an
# older pending charge is left for the clinic to look at (logged each round).
RESUMABLE_FOR = timedelta(hours=23)
PLAN_PURPOSE = "instalment"  # retried by its plan's own scheduler (addon/services/plans.py)


@dataclass
class Resumed:
    """One round of :func:`resume_stalled`: charges asked about again, finished, and still without an answer."""

    asked: int = 0
    finished: int = 0
    failed: int = 0
    events: list[Outbound] = field(default_factory=list)


async def resume_stalled(
    database: async_sessionmaker[AsyncSession], gateway: StripeGateway, *, clock: Clock, base_url: str
) -> Resumed:
    """Ask Stripe again about each charge left pending (see the module's guarantees). Safe in several workers at
    once, as a double click is: the same key makes the same charge, and recording its outcome is conditional."""
    now = clock.now()
    async with database() as db:
        rows = (
            await db.execute(
                select(
                    OffSessionCharge.clinic_id,
                    OffSessionCharge.idempotency_key,
                    OffSessionCharge.purpose,
                    OffSessionCharge.created_at,
                )
                .where(
                    OffSessionCharge.status == "pending",
                    OffSessionCharge.purpose != PLAN_PURPOSE,
                    OffSessionCharge.created_at < now - STALLED_AFTER,
                )
                .order_by(OffSessionCharge.created_at)
                .limit(100)
            )
        ).all()
    resumed = Resumed()
    for clinic_id, key, purpose, created_at in rows:
        if created_at < now - RESUMABLE_FOR:
            log.warning(
                "off-session charge pending past Stripe's idempotency window; left for the clinic",
                extra={"clinic": clinic_id, "idempotency_key": key},
            )
            continue
        resumed.asked += 1
        try:
            outcome = await _charge(
                database, gateway, clock=clock, base_url=base_url, clinic_id=clinic_id, purpose=purpose,
                idempotency_key=key, actor=None, find=_recorded_already, make_request=_recorded_already,
            )  # fmt: skip
        except CallpayError as exc:
            # Stripe still unreachable, or the clinic can't take payments now: the next round asks again.
            log.warning("off-session charge still without an answer", extra={"idempotency_key": key, "error": exc.code})
            resumed.failed += 1
            continue
        resumed.finished += 1
        resumed.events.extend(outcome.events)
    return resumed


async def _recorded_already(*_: object) -> Any:
    """A resumed charge is found by its key: it never looks for a card or makes a request."""
    raise AssertionError("a resumed charge is recorded already")
