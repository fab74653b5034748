"""Reconciliation: ask Stripe about every request whose PaymentIntent isn't final, and apply what it says.

Webhooks can fail for hours and a patient's browser can close before it reports; without this a payment that
succeeded at Stripe would stay ``requested`` until someone redelivered the event by hand. :func:`reconcile` is the
one entry point: the app's background task runs it every :data:`INTERVAL` seconds and once on start-up,
``callpay reconcile [--since]`` runs it on demand, and a separate worker process can schedule it the same way.

Safe with several workers at once: Stripe is read outside any transaction, and what it says is applied through
the lifecycle's conditional ``transition()``, so when two workers apply the same news only one moves the row and
only that one gets the once-only work (the receipt, the pop-up). Every fix is logged, audited and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from addon import audit
from addon.gateway import PaymentIntentInfo, StripeFailure, StripeGateway
from addon.lifecycle import Status
from addon.models import PayAll, PaymentRequest
from addon.outbound import Outbound
from addon.services import pay_all
from addon.services.payments import apply_intent, apply_set

log = logging.getLogger("callpay.reconcile")

INTERVAL = 60.0
# Requests not touched for this long are left to an operator's ``callpay reconcile --since``.
DEFAULT_WINDOW = timedelta(days=7)
BATCH = 500
# Not final: Stripe may still move the intent on (a late success, a hold captured or released, a retry that works).
OPEN = (Status.REQUESTED, Status.PROCESSING, Status.AUTHORIZED, Status.FAILED)
# What each intent status means for a request already in that state: nothing to apply.
ALREADY = {"processing": Status.PROCESSING, "requires_capture": Status.AUTHORIZED}
Publish = Callable[[Sequence[Outbound]], Awaitable[None]]


@dataclass
class Report:
    checked: int = 0
    fixed: int = 0
    errors: int = 0
    changes: list[tuple[str, str, str]] = field(default_factory=list)  # (request, from, to)


@dataclass
class Totals:
    """What reconciliation has done since this process started, for ``/readyz``."""

    rounds: int = 0
    checked: int = 0
    fixed: int = 0
    errors: int = 0
    last_run: datetime | None = None

    def add(self, report: Report) -> None:
        self.rounds += 1
        self.checked += report.checked
        self.fixed += report.fixed
        self.errors += report.errors
        self.last_run = datetime.now(UTC)

    def to_json(self) -> dict[str, object]:
        return {
            "rounds": self.rounds,
            "checked": self.checked,
            "fixed": self.fixed,
            "errors": self.errors,
            "last_run": self.last_run.isoformat() if self.last_run else None,
        }


async def open_requests(read: async_sessionmaker[AsyncSession], since: datetime) -> list[tuple[str, str, str, str]]:
    """(request id, account, intent, status) of every request with an intent that isn't final."""
    async with read() as db:
        rows = await db.execute(
            select(
                PaymentRequest.id,
                PaymentRequest.stripe_account_id,
                PaymentRequest.stripe_payment_intent_id,
                PaymentRequest.status,
            )
            .where(
                PaymentRequest.status.in_([s.value for s in OPEN]),
                PaymentRequest.stripe_payment_intent_id.is_not(None),
                PaymentRequest.stripe_account_id.is_not(None),
                PaymentRequest.updated_at >= since,
            )
            .order_by(PaymentRequest.updated_at)
            .limit(BATCH)
        )
        return [(r[0], str(r[1]), str(r[2]), r[3]) for r in rows.all()]


async def reconcile(
    sessions: async_sessionmaker[AsyncSession],
    read: async_sessionmaker[AsyncSession],
    gateway: StripeGateway,
    *,
    since: datetime | None = None,
    publish: Publish | None = None,
) -> Report:
    """One round: every open request since ``since`` (default: the last week) checked against Stripe."""
    since = since or datetime.now(UTC) - DEFAULT_WINDOW
    report = Report()
    for request_id, account_id, intent_id, status in await open_requests(read, since):
        report.checked += 1
        try:
            intent = await gateway.retrieve_payment_intent(account_id=account_id, intent_id=intent_id)
        except StripeFailure:
            report.errors += 1
            log.warning("reconcile: stripe unreachable for a request", extra={"request": request_id})
            continue
        if ALREADY.get(intent.status) == status:
            continue
        events = await _apply(sessions, request_id, intent, status, report)
        if events and publish is not None:
            await publish(events)
    # Pay all: the intent belongs to a set of requests, so it is read once and applied to all of them.
    for pay_all_id, account_id, intent_id in await pay_all.open_sets(read, since, BATCH):
        report.checked += 1
        try:
            intent = await gateway.retrieve_payment_intent(account_id=account_id, intent_id=intent_id)
        except StripeFailure:
            report.errors += 1
            log.warning("reconcile: stripe unreachable for a pay-all", extra={"pay_all": pay_all_id})
            continue
        events = await _apply_set(sessions, pay_all_id, intent, report)
        if events and publish is not None:
            await publish(events)
    if report.fixed or report.errors:
        log.info(
            "reconcile round fixed requests",
            extra={"checked": report.checked, "fixed": report.fixed, "errors": report.errors},
        )
    return report


async def _apply_set(
    sessions: async_sessionmaker[AsyncSession], pay_all_id: str, intent: PaymentIntentInfo, report: Report
) -> list[Outbound]:
    async with sessions.begin() as db:
        paying = await db.get_one(PayAll, pay_all_id, populate_existing=True)
        events = await apply_set(db, paying, intent)
        if not events:
            return events
        report.fixed += 1
        report.changes.append((pay_all_id, "open", intent.status))
        audit.record(
            db, "payment.reconciled", organisation_id=None, clinic_id=paying.clinic_id, subject_type="pay_all",
            subject_id=pay_all_id, data={"payment_intent": intent.id, "intent_status": intent.status},
        )  # fmt: skip
    log.info("reconcile fixed a pay-all", extra={"pay_all": pay_all_id, "payment_intent": intent.id})
    return events


async def _apply(
    sessions: async_sessionmaker[AsyncSession],
    request_id: str,
    intent: PaymentIntentInfo,
    was: str,
    report: Report,
) -> list[Outbound]:
    async with sessions.begin() as db:
        pr = await db.get_one(PaymentRequest, request_id, populate_existing=True)
        events = await apply_intent(db, pr, intent)
        if not events:
            # Nothing moved, or another worker moved it first (only the mover gets events): not this one's fix.
            return events
        await db.refresh(pr)
        report.fixed += 1
        report.changes.append((request_id, was, pr.status))
        audit.record(
            db,
            "payment.reconciled",
            organisation_id=None,
            clinic_id=pr.clinic_id,
            subject_type="payment_request",
            subject_id=request_id,
            data={"from": was, "to": pr.status, "payment_intent": intent.id, "intent_status": intent.status},
        )
    log.info(
        "reconcile fixed a request",
        extra={"request": request_id, "from": was, "to": pr.status, "payment_intent": intent.id},
    )
    return events
