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
from functools import cache
from types import EllipsisType
from typing import Any

from sqlalchemy import ClauseElement, ColumnElement, Update, bindparam, literal, update
from sqlalchemy.ext.asyncio import AsyncSession

from addon import audit
from addon.dbutil import loaded, set_params, set_values, table_of
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
    intent: str | EllipsisType | None = ...,
) -> Transition:
    """Fire ``trigger`` on the request, in the caller's transaction.

    ``to`` picks the target when the trigger may lead to several; ``intent`` is the PaymentIntent the caller read
    and relies on (None: still none); ``where`` adds other conditions (a larger refunded total); ``values`` are the
    other columns the change sets.
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
    sources = tuple(sorted(s.value for s in trigger.sources))
    conditions = tuple(where)
    if intent is not ...:
        conditions += (PaymentRequest.stripe_payment_intent_id == intent,) if conditions else ()
    if conditions or any(isinstance(value, ClauseElement) for value in changes.values()):
        result = await db.execute(
            update(PaymentRequest)
            .where(PaymentRequest.id == request_id, PaymentRequest.status.in_(sources), *conditions)
            .values(**changes)
            .returning(PaymentRequest.clinic_id)
        )
        clinic_id = result.scalar_one_or_none()
    else:
        # The usual case, every payment's and checkout's: a Core UPDATE built once per trigger, intent condition
        # and set of columns.
        bound = set_values(changes)
        if isinstance(intent, str):
            rule, bound["intent_id"] = "this", intent
        else:
            rule = "none" if intent is None else "any"
        result = await db.execute(_move(sources, tuple(sorted(changes)), rule), {"request_id": request_id, **bound})
        clinic_id = result.scalar_one_or_none()
        if clinic_id is not None:
            loaded(db, PaymentRequest, request_id, changes)
    if clinic_id is None:
        return NOT_MOVED
    await _record_history(db, request_id, clinic_id, trigger, target, changes)
    if target is None:
        # Nothing anyone in the call sees has changed.
        return Transition(moved=True)
    if trigger.takes_money:
        return Transition(moved=True, status=target, events=await _money_taken(db, request_id, clinic_id, now))
    _, event = await changed_event(db, request_id)
    return Transition(moved=True, status=target, events=[event])


async def _record_history(
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
    await audit.write(
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
    counter = (await db.execute(_NEXT_RECEIPT, {"clinic_id": clinic_id})).scalar_one()
    numbered = {"receipt_number": receipt_number(counter), "received_announced_at": now}
    await db.execute(_NUMBERED, {"request_id": request_id, **set_values(numbered)})
    loaded(db, PaymentRequest, request_id, numbered)
    loaded(db, Clinic, clinic_id, {"receipt_counter": counter})
    # One read: the request as it now stands (receipt number included) is what the receipt and the events need.
    pr, body, changed = await changed_view(db, request_id)
    await receipts.enqueue_receipt(db, pr)
    # A pay-later link's payment: the link turns paid and its clinic hears it, in the same transaction.
    links = await link_state.on_request_paid(db, request_id)
    return [changed, Outbound(event="payment_received", room=call_staff_room(pr.call_id), data=body), *links]


# --- Statements built once -------------------------------------------------------------------------------------

_REQUESTS = table_of(PaymentRequest)
_CLINICS = table_of(Clinic)
_THIS_REQUEST = _REQUESTS.c.id == bindparam("request_id", type_=_REQUESTS.c.id.type)


@cache
def _move(sources: tuple[str, ...], keys: tuple[str, ...], intent: str) -> Update:
    """A trigger's conditional UPDATE for these source statuses, PaymentIntent condition (``any``, ``none`` yet, or
    ``this`` one) and columns, built once: building it on every call (with the ORM's statement, its cache key and
    its session synchronisation) cost three times what the database spent running it."""
    column = _REQUESTS.c.stripe_payment_intent_id
    same_intent = {
        "any": (),
        "none": (column.is_(None),),
        "this": (column == bindparam("intent_id", type_=column.type),),
    }[intent]
    return (
        update(_REQUESTS)
        .where(
            _THIS_REQUEST, _REQUESTS.c.status.in_([literal(v, _REQUESTS.c.status.type) for v in sources]), *same_intent
        )
        .values(set_params(_REQUESTS, keys))
        .returning(_REQUESTS.c.clinic_id)
    )


_NEXT_RECEIPT = (
    update(_CLINICS)
    .where(_CLINICS.c.id == bindparam("clinic_id", type_=_CLINICS.c.id.type))
    .values(receipt_counter=_CLINICS.c.receipt_counter + 1)
    .returning(_CLINICS.c.receipt_counter)
)
_NUMBERED = (
    update(_REQUESTS).where(_THIS_REQUEST).values(set_params(_REQUESTS, ("receipt_number", "received_announced_at")))
)
