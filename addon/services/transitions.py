"""The one place a payment request's status changes: :func:`transition` fires a :class:`~addon.lifecycle.Trigger`.

It is one conditional UPDATE (``WHERE id = … AND status IN`` the trigger's sources, plus whatever else the caller
needs unchanged), so of two racing reporters, or a webhook delivered twice, exactly one moves the row and the other
changes nothing. Whoever moves a request into money taken does the once-only work in the same transaction: the
receipt number, the queued receipt email, and the ``payment_received`` announcement. It returns the realtime events
to publish after the commit (none when nothing moved).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, update
from sqlalchemy.ext.asyncio import AsyncSession

from addon import audit
from addon.lifecycle import Status, Trigger
from addon.models import Clinic, PaymentRequest, utcnow
from addon.outbound import Outbound, call_staff_room
from addon.services import link_state, receipts
from addon.services.paying_state import CLEARED
from addon.services.payment_requests import changed_event, changed_view


@dataclass(frozen=True)
class Transition:
    """What firing a trigger did: whether this caller moved the row, where to, and the events to publish."""

    moved: bool
    status: Status | None = None
    events: list[Outbound] = field(default_factory=list)


NOT_MOVED = Transition(moved=False)


def receipt_number(counter: int) -> str:
    return f"{counter:06d}"


async def transition(
    db: AsyncSession,
    request_id: str,
    trigger: Trigger,
    *,
    to: Status | None = None,
    where: Iterable[ColumnElement[bool]] = (),
    values: Mapping[str, Any] | None = None,
) -> Transition:
    """Fire ``trigger`` on the request, in the caller's transaction.

    ``to`` picks the target when the trigger may lead to several; ``where`` adds conditions the caller read and
    relies on (the same PaymentIntent, a larger refunded total); ``values`` are the other columns the change sets.
    """
    now = utcnow()
    changes: dict[str, Any] = {"updated_at": now, **(values or {})}
    target: Status | None = None
    if not trigger.keeps_status:
        target = trigger.target(to)
        changes["status"] = target.value
        # Whoever was paying it has an outcome now (paid, declined, cancelled under them): no one is paying it.
        changes.update({k: v for k, v in CLEARED.items() if k not in changes})
        if target is Status.CANCELED:
            changes.setdefault("canceled_at", now)
        if trigger.takes_money:
            changes.update(paid_at=now, failure_message=None)
    elif to is not None:
        raise ValueError(f"{trigger.name} keeps the status")
    result = await db.execute(
        update(PaymentRequest)
        .where(PaymentRequest.id == request_id, PaymentRequest.status.in_([s.value for s in trigger.sources]), *where)
        .values(**changes)
        .returning(PaymentRequest.clinic_id)
    )
    clinic_id = result.scalar_one_or_none()
    if clinic_id is None:
        return NOT_MOVED
    _record_history(db, request_id, clinic_id, trigger, target, changes)
    if target is None:
        # Nothing anyone in the call sees has changed.
        return Transition(moved=True)
    if trigger.takes_money:
        return Transition(moved=True, status=target, events=await _money_taken(db, request_id, clinic_id, now))
    _, event = await changed_event(db, request_id)
    return Transition(moved=True, status=target, events=[event])


def _record_history(
    db: AsyncSession,
    request_id: str,
    clinic_id: int,
    trigger: Trigger,
    target: Status | None,
    changes: Mapping[str, Any],
) -> None:
    """Each transition in the audit trail, so the request's timeline can say what happened when (every checkout
    attempt and decline included), in the words of the trigger's ``says``."""
    data: dict[str, Any] = {"status": target.value if target else None}
    if changes.get("failure_message"):
        data["failure_message"] = changes["failure_message"]
    audit.record(
        db,
        f"lifecycle.{trigger.name.lower()}",
        clinic_id=clinic_id,
        subject_type="payment_request",
        subject_id=request_id,
        data=data,
    )


async def _money_taken(db: AsyncSession, request_id: str, clinic_id: int, now: Any) -> list[Outbound]:
    """The once-only work of a payment. Only the caller whose conditional UPDATE moved the row gets here."""
    # Per-clinic, gap-free: the increment and the read are one statement, so two payments never share a number.
    counter = (
        await db.execute(
            update(Clinic)
            .where(Clinic.id == clinic_id)
            .values(receipt_counter=Clinic.receipt_counter + 1)
            .returning(Clinic.receipt_counter)
        )
    ).scalar_one()
    await db.execute(
        update(PaymentRequest)
        .where(PaymentRequest.id == request_id)
        .values(receipt_number=receipt_number(counter), received_announced_at=now)
    )
    # One read: the request as it now stands (receipt number included) is what the receipt and the events need.
    pr, body, changed = await changed_view(db, request_id)
    await receipts.enqueue_receipt(db, pr)
    # A pay-later link's payment: the link turns paid and its clinic hears it, in the same transaction.
    links = await link_state.on_request_paid(db, request_id)
    return [changed, Outbound(event="payment_received", room=call_staff_room(pr.call_id), data=body), *links]
