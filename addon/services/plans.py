"""Instalment plans: a larger request split into 2 to 12 instalments, a week, a fortnight or a month apart.

Offering (:func:`offer`): for a request over the clinic's ``plan_min_amount``, its clinician (or a team admin of
the clinic, from the payment centre) splits it. The request is cancelled (``PLAN_REPLACED``) and each instalment
becomes a request of its own on the same call: the first at once, for the patient to pay now, the rest on their
dates. Amounts add up to the total exactly; the cents that don't divide go on the first instalment.

The scheduler (:func:`sweep`, run by the background switch and ``callpay worker``) sends the reminder emails before
each date and, on the date, makes the instalment's request and charges it to the patient's saved card
(:func:`addon.services.saved_cards.charge_request`); with no saved card, or a charge the bank refuses, the patient
gets a pay-later link for it instead. It is safe with several workers and after a restart:

- an instalment is claimed by one conditional UPDATE (``scheduled`` and due, or ``charging`` with a lapsed lease →
  ``charging`` with this sweep's token and a lease), so exactly one worker acts on it;
- its request is made in the claiming transaction, and the charge is idempotent on the instalment
  (``instalment:<id>``, down to Stripe's idempotency key), so a worker that died mid-charge and the one that takes
  over charge once between them;
- a date missed while no sweeper ran is charged once, at the next sweep, and marked ``late``: its request's
  description says so, hence its receipt, its email and its line in the export.
"""

from __future__ import annotations

import calendar
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from addon import audit, dates, lifecycle, money
from addon.auth.roles import Role
from addon.auth.sessions import Principal
from addon.clock import Clock
from addon.dbutil import rows_changed
from addon.errors import CallpayError, Conflict, Forbidden, InvalidInput, NotFound
from addon.gateway import StripeGateway
from addon.lifecycle import INSTALMENT_MOVES, MONEY_TAKEN, PLAN_INTERVALS, Trigger
from addon.models import (
    Clinic,
    Instalment,
    InstalmentPlan,
    OutboxEmail,
    PaymentRequest,
    User,
    iso_utc,
)
from addon.outbound import Outbound
from addon.services import cancellation, pay_all, payment_links, saved_cards
from addon.services.paying_state import paying_json
from addon.services.payment_requests import changed_event
from addon.services.payment_requests import new_id as new_request_id
from addon.services.transitions import transition
from addon.wire import plans as wire
from addon.wire.common import Person

log = logging.getLogger("callpay.plans")

MIN_COUNT, MAX_COUNT = 2, 12
# A claim's lease: longer than a charge takes (Stripe's timeout and a retry), so it lapses only for a dead worker.
LEASE = timedelta(minutes=2)
# Charged this long after its date: the sweeper wasn't running on the day, and the patient is told.
LATE_AFTER = timedelta(hours=1)
# The reminder goes this long before the date (or at once, for a date nearer than that when the plan is made).
REMIND_BEFORE = timedelta(days=2)
BATCH = 50
PURPOSE = "instalment"
NOT_FOUND = "That instalment plan doesn't exist."


def new_id() -> str:
    return f"plan_{secrets.token_hex(10)}"


# --- Arithmetic --------------------------------------------------------------------------------------------


def split(total: int, count: int) -> list[int]:
    """``count`` amounts adding up to ``total`` exactly; what doesn't divide goes on the first."""
    each, left = divmod(total, count)
    return [each + left, *([each] * (count - 1))]


def _add_months(when: datetime, months: int) -> datetime:
    month0 = when.month - 1 + months
    year, month = when.year + month0 // 12, month0 % 12 + 1
    day = min(when.day, calendar.monthrange(year, month)[1])  # 31 January + 1 month: the last day of February
    return when.replace(year=year, month=month, day=day)


def due_dates(start: datetime, interval: str, count: int) -> list[datetime]:
    """The first instalment's date is ``start`` (paid now); each next one an interval later."""
    if interval == "monthly":
        return [_add_months(start, n) for n in range(count)]
    step = timedelta(days=7 if interval == "weekly" else 14)
    return [start + step * n for n in range(count)]


def instalment_description(description: str, number: int, count: int) -> str:
    return f"{description} — instalment {number} of {count}"[:500]


# --- Who may -----------------------------------------------------------------------------------------------


def may_manage(principal: Principal, clinic_id: int, clinician_id: int) -> bool:
    """A team admin of the clinic, or the clinician whose request it is."""
    if principal.clinic_id != clinic_id:
        return False
    if principal.role is Role.TEAM_ADMIN:
        return True
    return principal.role is Role.TEAM_MEMBER and principal.user_id == clinician_id


def _staff_clinic(principal: Principal) -> int:
    if principal.role not in (Role.TEAM_ADMIN, Role.TEAM_MEMBER) or principal.clinic_id is None:
        raise Forbidden(
            "Open the payment centre from your clinic to see its instalment plans.", code="role_not_allowed"
        )
    return principal.clinic_id


# --- Offering ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    body: wire.Plan
    events: list[Outbound] = field(default_factory=list)
    created: bool = True


def _read_terms(body: Mapping[str, Any]) -> tuple[int, str]:
    count, interval = body.get("count"), body.get("interval")
    problems: list[InvalidInput] = []
    if not isinstance(count, int) or isinstance(count, bool) or not MIN_COUNT <= count <= MAX_COUNT:
        problems.append(InvalidInput(f"Choose from {MIN_COUNT} to {MAX_COUNT} instalments.", field="count"))
    if interval not in PLAN_INTERVALS:
        problems.append(InvalidInput("Choose weekly, fortnightly or monthly.", field="interval"))
    if problems:
        raise problems[0]
    assert isinstance(count, int) and isinstance(interval, str)
    return count, interval


@dataclass(frozen=True)
class _Terms:
    request_id: str
    count: int
    interval: str
    amounts: list[int]
    intent_id: str | None
    account_id: str | None
    linked_account: str | None


async def _check_offer(
    db: AsyncSession, principal: Principal, request_id: object, body: Mapping[str, Any]
) -> _Terms | Outcome:
    if principal.role not in (Role.TEAM_ADMIN, Role.TEAM_MEMBER):
        raise Forbidden("Only the clinic's staff can offer an instalment plan.", code="role_not_allowed")
    pr = await db.get(PaymentRequest, request_id) if isinstance(request_id, str) else None
    if pr is None or pr.clinic_id != principal.clinic_id:
        raise NotFound("That payment request doesn't exist.")
    if not may_manage(principal, pr.clinic_id, pr.clinician_id):
        raise Forbidden(
            "Only the clinician who asked for this payment, or a clinic admin, can offer a plan for it.",
            code="role_not_allowed",
        )
    existing = await db.scalar(select(InstalmentPlan).where(InstalmentPlan.payment_request_id == pr.id))
    if existing is not None:
        return Outcome(await plan_json(db, existing, principal), [], created=False)
    count, interval = _read_terms(body)
    clinic = await db.get_one(Clinic, pr.clinic_id)
    threshold = clinic.plan_min_amount
    if threshold is None:
        raise Conflict(
            "This clinic doesn't offer instalment plans. A clinic admin can turn them on in Client Payments.",
            code="plans_off",
        )
    if pr.currency != clinic.default_currency or pr.amount <= threshold:
        shown = money.format_amount(threshold, clinic.default_currency, clinic.locale)
        raise Conflict(f"Instalment plans are for amounts over {shown}.", code="below_plan_minimum", field="amount")
    if await db.scalar(select(Instalment.id).where(Instalment.payment_request_id == pr.id)) is not None:
        raise Conflict("This is already an instalment of a plan.", code="already_instalment")
    if not Trigger.PLAN_REPLACED.may_start(pr.status) or pr.capture != "now":
        raise Conflict("This request is paid, closed or a card hold, so it can't be split.", code="not_splittable")
    if paying_json(pr) is not None:
        raise Conflict(
            "The patient is paying this request right now, so it can't be split. Try again in a minute.",
            code="not_splittable",
        )
    # In an open Pay all set, the set's payment still covers it: split, it could be paid twice.
    if await pay_all.open_set_of(db, pr.id) is not None:
        raise Conflict(
            "The patient is paying this together with other requests, so it can't be split now.",
            code="not_splittable",
        )
    amounts = split(pr.amount, count)
    minimum = money.MINIMUM.get(pr.currency, 50)
    if amounts[-1] < minimum:
        raise InvalidInput(
            f"Each instalment must be at least {money.format_amount(minimum, pr.currency, clinic.locale)}: "
            "choose fewer instalments.",
            field="count",
        )
    return _Terms(
        pr.id, count, interval, amounts, pr.stripe_payment_intent_id, pr.stripe_account_id, clinic.stripe_account_id
    )


async def offer(
    database: async_sessionmaker[AsyncSession],
    gateway: StripeGateway,
    principal: Principal,
    request_id: object,
    body: Mapping[str, Any],
    *,
    clock: Clock,
) -> Outcome:
    """``POST /api/v1/payment-requests/{id}/plan`` ``{count, interval}``: split the request into a plan.

    A checkout the patient opened and left (its PaymentIntent) is cancelled at Stripe first, as Cancel request
    does, so the whole amount can't also be paid at once; the split then only happens on that same intent."""
    async with database() as db:
        checked = await _check_offer(db, principal, request_id, body)
    if isinstance(checked, Outcome):
        return checked
    if checked.intent_id is not None and checked.account_id is not None:
        await cancellation.cancel_at_stripe(
            gateway, checked.request_id, checked.account_id, checked.intent_id, checked.linked_account
        )
    async with database.begin() as db:
        return await _split(db, principal, checked, now=clock.now())


async def _split(db: AsyncSession, principal: Principal, terms: _Terms, *, now: datetime) -> Outcome:
    same_intent = (
        PaymentRequest.stripe_payment_intent_id.is_(None)
        if terms.intent_id is None
        else PaymentRequest.stripe_payment_intent_id == terms.intent_id
    )
    if await pay_all.open_set_of(db, terms.request_id) is not None:  # joined a Pay all set meanwhile
        raise Conflict(
            "The patient is paying this together with other requests, so it can't be split now.",
            code="not_splittable",
        )
    plan_id = new_id()
    moved = await transition(
        db, terms.request_id, Trigger.PLAN_REPLACED, where=[same_intent], values={"replaced_by_plan_id": plan_id}
    )
    if not moved.moved:
        existing = await db.scalar(select(InstalmentPlan).where(InstalmentPlan.payment_request_id == terms.request_id))
        if existing is not None:  # a second click, or another admin, split it a moment ago
            return Outcome(await plan_json(db, existing, principal), [], created=False)
        raise Conflict("This request is paid, closed or being paid, so it can't be split.", code="not_splittable")
    events = list(moved.events)
    pr = await db.get_one(PaymentRequest, terms.request_id, populate_existing=True)
    plan = InstalmentPlan(
        id=plan_id,
        clinic_id=pr.clinic_id,
        call_id=pr.call_id,
        payment_request_id=pr.id,
        clinician_id=pr.clinician_id,
        created_by_user_id=principal.user_id,
        count=terms.count,
        interval=terms.interval,
        amount=pr.amount,
        currency=pr.currency,
        description=pr.description,
        status="active",
        patient_email=pr.patient_email,
        patient_name=pr.patient_name,
        payer_sub=pr.payer_sub,
        created_at=now,
        updated_at=now,
    )
    db.add(plan)
    await db.flush()
    dated = zip(terms.amounts, due_dates(now, terms.interval, terms.count), strict=True)
    for number, (amount, due) in enumerate(dated, start=1):
        db.add(Instalment(plan_id=plan.id, number=number, amount=amount, due_at=due, status="scheduled", attempts=0,
                          late=False))  # fmt: skip
    await db.flush()
    first = await db.scalar(select(Instalment).where(Instalment.plan_id == plan.id, Instalment.number == 1))
    assert first is not None
    # The first is the patient's to pay now, in the call (or by the link the call's end sends).
    first_request = await _make_request(db, plan, first, late=False, now=now)
    await db.execute(
        update(Instalment)
        .where(Instalment.id == first.id)
        .values(status="sent", payment_request_id=first_request, sent_at=now)
    )
    audit.record(
        db,
        "plan.created",
        actor=principal,
        clinic_id=plan.clinic_id,
        subject_type="payment_request",
        subject_id=pr.id,
        data={"plan": plan.id, "count": terms.count, "interval": terms.interval, "amounts": terms.amounts},
    )
    to = await patient_email(db, plan)
    if to:
        # The patient hears the whole schedule once, with how each later instalment will be paid.
        db.add(
            OutboxEmail(
                kind="instalment_schedule",
                to_address=to,
                payment_request_id=first_request,
                dedupe_key=f"plan-schedule:{plan.id}",
                created_at=now,
                next_attempt_at=now,
            )
        )
    _, event = await changed_event(db, first_request)
    events.append(event)
    return Outcome(await plan_json(db, plan, principal), events)


async def _make_request(db: AsyncSession, plan: InstalmentPlan, inst: Instalment, *, late: bool, now: datetime) -> str:
    clinic = await db.get_one(Clinic, plan.clinic_id)
    description = instalment_description(plan.description, inst.number, plan.count)
    if late:
        description = f"{description} (due {dates.format_date(inst.due_at, clinic.timezone)}, charged late)"[:500]
    request_id = new_request_id()
    db.add(
        PaymentRequest(
            id=request_id,
            call_id=plan.call_id,
            clinic_id=plan.clinic_id,
            clinician_id=plan.clinician_id,
            amount=inst.amount,
            currency=plan.currency,
            description=description,
            status=lifecycle.INITIAL.value,
            amount_refunded=0,
            patient_email=await patient_email(db, plan),
            patient_name=await patient_name(db, plan),
            payer_sub=plan.payer_sub,
            created_at=now,
            updated_at=now,
        )
    )
    await db.flush()
    audit.record(
        db,
        "payment_request.created",
        clinic_id=plan.clinic_id,
        subject_type="payment_request",
        subject_id=request_id,
        data={"amount": inst.amount, "currency": plan.currency, "plan": plan.id, "instalment": inst.number},
    )
    return request_id


# --- Cancelling --------------------------------------------------------------------------------------------


async def cancel(db: AsyncSession, principal: Principal, plan_id: object, *, clock: Clock) -> Outcome:
    """``POST /api/v1/plans/{id}/cancel``: no more instalments are charged or sent. One already sent (its link out,
    or paid) stays as it is: the patient may still pay what they were sent, and a refund is its own step."""
    plan = await _plan_for_staff(db, principal, plan_id)
    if not may_manage(principal, plan.clinic_id, plan.clinician_id):
        raise Forbidden(
            "Only the clinician who offered this plan, or a clinic admin, can cancel it.", code="role_not_allowed"
        )
    now = clock.now()
    changed = await db.execute(
        update(InstalmentPlan)
        .where(InstalmentPlan.id == plan.id, InstalmentPlan.status == "active")
        .values(status="canceled", canceled_at=now, canceled_by_user_id=principal.user_id, updated_at=now)
    )
    if rows_changed(changed):
        sources, target = INSTALMENT_MOVES["cancel"]
        await db.execute(
            update(Instalment)
            .where(Instalment.plan_id == plan.id, Instalment.status.in_(sources))
            .values(status=target, claim_token=None, claimed_until=None)
        )
        audit.record(
            db, "plan.canceled", actor=principal, clinic_id=plan.clinic_id, subject_type="payment_request",
            subject_id=plan.payment_request_id, data={"plan": plan.id},
        )  # fmt: skip
    elif plan.status != "canceled":
        raise Conflict("This plan is complete: there is nothing left to cancel.", code="plan_completed")
    await db.refresh(plan)
    return Outcome(await plan_json(db, plan, principal), [], created=bool(rows_changed(changed)))


# --- Reading -----------------------------------------------------------------------------------------------


async def _plan_for_staff(db: AsyncSession, principal: Principal, plan_id: object) -> InstalmentPlan:
    clinic_id = _staff_clinic(principal)
    plan = await db.get(InstalmentPlan, plan_id) if isinstance(plan_id, str) else None
    if plan is None or plan.clinic_id != clinic_id:
        raise NotFound(NOT_FOUND)
    if principal.role is Role.TEAM_MEMBER and plan.clinician_id != principal.user_id:
        raise NotFound(NOT_FOUND)
    return plan


def _instalment_status(inst: Instalment, request_status: str | None) -> wire.InstalmentStatus:
    if inst.status == "sent":
        if request_status in MONEY_TAKEN:
            return "paid"
        if request_status == lifecycle.Status.CANCELED:
            return "canceled"
        return "unpaid"
    return inst.status  # type: ignore[return-value]


async def plan_json(db: AsyncSession, plan: InstalmentPlan, principal: Principal | None = None) -> wire.Plan:
    clinic = await db.get_one(Clinic, plan.clinic_id)
    clinician = await db.get_one(User, plan.clinician_id)
    rows = (
        await db.execute(
            select(Instalment, PaymentRequest.status, PaymentRequest.patient_email, PaymentRequest.patient_name)
            .outerjoin(PaymentRequest, PaymentRequest.id == Instalment.payment_request_id)
            .where(Instalment.plan_id == plan.id)
            .order_by(Instalment.number)
        )
    ).all()
    tz, currency, locale = clinic.timezone, plan.currency, clinic.locale
    items: list[wire.Instalment] = []
    paid = 0
    # Who the patient is: the plan's own record, else what its instalments' checkouts learned.
    patient_email = plan.patient_email or next((row[2] for row in rows if row[2]), None)
    patient_name = plan.patient_name or next((row[3] for row in rows if row[3]), None)
    for inst, request_status, _email, _name in rows:
        shown = _instalment_status(inst, request_status)
        if shown == "paid":
            paid += inst.amount
        items.append(
            wire.Instalment(
                number=inst.number,
                amount=inst.amount,
                amount_display=money.format_amount(inst.amount, currency, locale),
                due_at=iso_utc(inst.due_at),
                due_display=dates.format_date(inst.due_at, tz),
                status=shown,
                outcome=inst.outcome,  # type: ignore[arg-type]
                late=inst.late,
                attempts=inst.attempts,
                payment_request=inst.payment_request_id,
                payment_link=inst.payment_link_id,
            )
        )
    # What can still be paid: every instalment neither paid nor cancelled. For an active plan that is the amount less
    # what is paid; once cancelled, only what was already sent (its link or request still payable) is left.
    outstanding = sum(i.amount for i in items if i.status not in ("paid", "canceled"))
    upcoming = [i for i in items if i.status in ("scheduled", "charging")]
    status: wire.PlanStatus = plan.status  # type: ignore[assignment]
    if status == "active" and items and all(i.status == "paid" for i in items):
        status = "completed"
    return wire.Plan(
        id=plan.id,
        payment_request=plan.payment_request_id,
        clinician=Person(id=clinician.external_id, name=clinician.name),
        count=plan.count,
        interval=plan.interval,  # type: ignore[arg-type]
        amount=plan.amount,
        currency=currency,
        amount_display=money.format_amount(plan.amount, currency, locale),
        description=plan.description,
        status=status,
        patient_name=patient_name,
        patient_email=patient_email,
        paid=paid,
        paid_display=money.format_amount(paid, currency, locale),
        outstanding=outstanding,
        outstanding_display=money.format_amount(outstanding, currency, locale),
        next_due_at=upcoming[0].due_at if upcoming and status == "active" else None,
        next_due_display=upcoming[0].due_display if upcoming and status == "active" else None,
        next_amount_display=upcoming[0].amount_display if upcoming and status == "active" else None,
        created_at=iso_utc(plan.created_at),
        canceled_at=iso_utc(plan.canceled_at) if plan.canceled_at else None,
        cancelable=status == "active"
        and (principal is None or may_manage(principal, plan.clinic_id, plan.clinician_id)),
        instalments=items,
    )


async def detail(db: AsyncSession, principal: Principal, plan_id: object) -> wire.Plan:
    """``GET /api/v1/plans/{id}``: the schedule, what is paid and outstanding, the next date."""
    return await plan_json(db, await _plan_for_staff(db, principal, plan_id), principal)


async def list_plans(db: AsyncSession, principal: Principal, query: Mapping[str, str]) -> wire.PlansPage:
    """``GET /api/v1/plans?status=active|completed|canceled``: the clinic's plans (a clinician's own), newest first."""
    clinic_id = _staff_clinic(principal)
    status = query.get("status") or None
    if status is not None and status not in lifecycle.PLAN_STATUSES:
        raise InvalidInput("Choose active, completed or canceled.", field="status")
    stmt = select(InstalmentPlan).where(InstalmentPlan.clinic_id == clinic_id)
    if principal.role is Role.TEAM_MEMBER:
        stmt = stmt.where(InstalmentPlan.clinician_id == principal.user_id)
    if status == "canceled":
        stmt = stmt.where(InstalmentPlan.status == "canceled")
    elif status is not None:
        stmt = stmt.where(InstalmentPlan.status != "canceled")
    found = (await db.scalars(stmt.order_by(InstalmentPlan.created_at.desc(), InstalmentPlan.id).limit(200))).all()
    data = [await plan_json(db, plan, principal) for plan in found]
    if status in ("active", "completed"):
        data = [plan for plan in data if plan.status == status]
    return wire.PlansPage(data=data)


async def plan_of_request(db: AsyncSession, request_id: str) -> tuple[InstalmentPlan, Instalment | None] | None:
    """The plan a request belongs to: the one it was split into, or the one it is an instalment of."""
    plan = await db.scalar(select(InstalmentPlan).where(InstalmentPlan.payment_request_id == request_id))
    if plan is not None:
        return plan, None
    inst = await db.scalar(select(Instalment).where(Instalment.payment_request_id == request_id))
    if inst is None:
        return None
    return await db.get_one(InstalmentPlan, inst.plan_id), inst


# --- The scheduler -----------------------------------------------------------------------------------------


@dataclass
class Swept:
    charged: int = 0
    linked: int = 0
    reminded: int = 0
    failed: int = 0
    events: list[Outbound] = field(default_factory=list)


def _due(now: datetime) -> Any:
    return or_(
        and_(Instalment.status == "scheduled", Instalment.due_at <= now),
        and_(Instalment.status == "charging", Instalment.claimed_until < now),
    )


def _plan_active() -> Any:
    return exists().where(InstalmentPlan.id == Instalment.plan_id, InstalmentPlan.status == "active")


@dataclass(frozen=True)
class _Claim:
    instalment_id: int
    token: str
    request_id: str


async def _claim(db: AsyncSession, instalment_id: int, now: datetime) -> _Claim | None:
    """Take the instalment for this sweep (one conditional UPDATE), and make its request if it has none yet."""
    token = secrets.token_hex(10)
    claimed = await db.execute(
        update(Instalment)
        .where(Instalment.id == instalment_id, _due(now), _plan_active())
        .values(
            status=INSTALMENT_MOVES["claim"][1],
            claim_token=token,
            claimed_until=now + LEASE,
            attempts=Instalment.attempts + 1,
            late=or_(Instalment.late, Instalment.due_at < now - LATE_AFTER),
        )
        .execution_options(synchronize_session=False)
    )
    if not rows_changed(claimed):
        return None
    inst = await db.get_one(Instalment, instalment_id, populate_existing=True)
    request_id = inst.payment_request_id
    if request_id is None:
        plan = await db.get_one(InstalmentPlan, inst.plan_id)
        request_id = await _make_request(db, plan, inst, late=inst.late, now=now)
        await db.execute(update(Instalment).where(Instalment.id == inst.id).values(payment_request_id=request_id))
    return _Claim(inst.id, token, request_id)


async def _settle(db: AsyncSession, claim: _Claim, *, outcome: str, link_id: str | None, now: datetime) -> bool:
    sources, target = INSTALMENT_MOVES["sent"]
    done = await db.execute(
        update(Instalment)
        .where(
            Instalment.id == claim.instalment_id, Instalment.status.in_(sources), Instalment.claim_token == claim.token
        )
        .values(
            status=target,
            outcome=outcome,
            payment_link_id=link_id,
            sent_at=now,
            claim_token=None,
            claimed_until=None,
            last_error=None,
        )
    )
    return bool(rows_changed(done))


async def charge_due(
    database: async_sessionmaker[AsyncSession],
    gateway: StripeGateway,
    *,
    clock: Clock,
    base_url: str,
    instalment_id: int,
    swept: Swept,
) -> None:
    """Claim one due instalment and charge it (or send its link); another worker's claim makes this a no-op."""
    now = clock.now()
    async with database.begin() as db:
        claim = await _claim(db, instalment_id, now)
    if claim is None:
        return
    try:
        outcome = await saved_cards.charge_request(
            database, gateway, clock=clock, base_url=base_url, request_id=claim.request_id, purpose=PURPOSE,
            idempotency_key=f"instalment:{claim.instalment_id}",
        )  # fmt: skip
    except CallpayError as exc:
        if isinstance(exc, Conflict) and exc.code == "not_chargeable":
            # Already settled some other way (paid by its link, say): nothing to charge.
            async with database.begin() as db:
                await _settle(db, claim, outcome="link", link_id=None, now=clock.now())
            return
        # Stripe unreachable, payments off for now: the lease lapses and a later sweep tries again.
        log.warning("instalment charge failed; will retry", extra={"instalment": claim.instalment_id})
        async with database.begin() as db:
            await db.execute(
                update(Instalment)
                .where(Instalment.id == claim.instalment_id, Instalment.claim_token == claim.token)
                .values(last_error=str(exc)[:500])
            )
        swept.failed += 1
        return
    swept.events.extend(outcome.events)
    async with database.begin() as db:
        if isinstance(outcome, saved_cards.Paid):
            await _settle(db, claim, outcome="paid", link_id=None, now=clock.now())
            swept.charged += 1
        elif isinstance(outcome, saved_cards.NeedsPatient):
            await _settle(db, claim, outcome="link", link_id=outcome.link.id, now=clock.now())
            swept.linked += 1
        else:
            pr = await db.get_one(PaymentRequest, claim.request_id)
            clinic = await db.get_one(Clinic, pr.clinic_id)
            made = await payment_links.link_from_request(
                db, pr, clinic, base_url=base_url, now=clock.now(), email=pr.patient_email, name=pr.patient_name,
                origin="instalment", client_ref=f"instalment:{claim.instalment_id}",
            )  # fmt: skip
            swept.events.extend(made.events)
            await _settle(db, claim, outcome="link", link_id=made.body.id, now=clock.now())
            swept.linked += 1


async def patient_email(db: AsyncSession, plan: InstalmentPlan) -> str | None:
    """Where the plan's patient is emailed: the address on the plan, their saved card's, or the one they gave at a
    checkout in the call (the first instalment's, typically)."""
    if plan.patient_email:
        return plan.patient_email
    card = await saved_cards.find_card(db, clinic_id=plan.clinic_id, call_id=plan.call_id)
    if card is not None and card.email:
        return card.email
    return await payment_links.patient_email_for_call(db, plan.call_id)


async def patient_name(db: AsyncSession, plan: InstalmentPlan) -> str | None:
    """The name on a later instalment's receipt: the plan's, or the one an earlier instalment's checkout learned (the
    patient is seldom named when the clinician splits the request, but the receipt is their claim)."""
    if plan.patient_name:
        return plan.patient_name
    learned = await db.scalar(
        select(PaymentRequest.patient_name)
        .join(Instalment, Instalment.payment_request_id == PaymentRequest.id)
        .where(Instalment.plan_id == plan.id, PaymentRequest.patient_name.is_not(None))
        .order_by(Instalment.number)
        .limit(1)
    )
    return str(learned) if learned else None


async def remind_due(database: async_sessionmaker[AsyncSession], *, clock: Clock, swept: Swept) -> None:
    """Queue one reminder email per instalment, ``REMIND_BEFORE`` its date (one conditional UPDATE claims it)."""
    now = clock.now()
    async with database() as db:
        ids = (
            await db.scalars(
                select(Instalment.id)
                .where(
                    Instalment.status == "scheduled",
                    Instalment.reminded_at.is_(None),
                    Instalment.due_at > now,
                    Instalment.due_at <= now + REMIND_BEFORE,
                    _plan_active(),
                )
                .limit(BATCH)
            )
        ).all()
    for instalment_id in ids:
        async with database.begin() as db:
            took = await db.execute(
                update(Instalment)
                .where(Instalment.id == instalment_id, Instalment.reminded_at.is_(None))
                .values(reminded_at=now)
            )
            if not rows_changed(took):
                continue
            inst = await db.get_one(Instalment, instalment_id)
            plan = await db.get_one(InstalmentPlan, inst.plan_id)
            to = await patient_email(db, plan)
            if not to:
                continue
            db.add(
                OutboxEmail(
                    kind="instalment_reminder",
                    to_address=to,
                    payment_request_id=plan.payment_request_id,
                    dedupe_key=f"instalment-reminder:{inst.id}",
                    created_at=now,
                    next_attempt_at=now,
                )
            )
            swept.reminded += 1


async def _complete(database: async_sessionmaker[AsyncSession], now: datetime) -> None:
    """Mark active plans whose every instalment is paid completed."""
    unpaid = (
        select(Instalment.id)
        .outerjoin(PaymentRequest, PaymentRequest.id == Instalment.payment_request_id)
        .where(
            Instalment.plan_id == InstalmentPlan.id,
            or_(Instalment.status != "sent", not_(PaymentRequest.status.in_([s.value for s in MONEY_TAKEN]))),
        )
    )
    async with database.begin() as db:
        await db.execute(
            update(InstalmentPlan)
            .where(InstalmentPlan.status == "active", not_(exists(unpaid)))
            .values(status="completed", updated_at=now)
            .execution_options(synchronize_session=False)
        )


async def sweep(
    database: async_sessionmaker[AsyncSession], gateway: StripeGateway, *, clock: Clock, base_url: str
) -> Swept:
    """One round: reminders, then every due instalment (each claimed on its own), then completed plans."""
    swept = Swept()
    await remind_due(database, clock=clock, swept=swept)
    now = clock.now()
    async with database() as db:
        due: Sequence[int] = (
            await db.scalars(
                select(Instalment.id).where(_due(now), _plan_active()).order_by(Instalment.due_at).limit(BATCH)
            )
        ).all()
    for instalment_id in due:
        await charge_due(database, gateway, clock=clock, base_url=base_url, instalment_id=instalment_id, swept=swept)
    await _complete(database, clock.now())
    return swept
