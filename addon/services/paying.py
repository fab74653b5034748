"""Who is paying a request right now, so its clinician doesn't cancel it under the patient's hands.

The payer's page says so when the checkout opens, when the card is being confirmed, and when the patient closes it
without paying; the checkout call says so too, and Stripe's ``payment_intent.requires_action`` says the bank is
checking the card (3-D Secure). It lapses by itself :data:`TTL` after it was last said unless the page renews it,
so a patient who walks away leaves no one waiting; every change of the request's status ends it (see
:func:`addon.services.transitions.transition`).

This is not a lifecycle state: the request stays ``requested`` (or ``failed``) while someone pays it, and whether it
may still be cancelled, paid or charged is the lifecycle's business alone. It is what the call is told meanwhile.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

from sqlalchemy import ColumnElement, Update, bindparam, literal, update
from sqlalchemy.ext.asyncio import AsyncSession

from addon.auth.access import require_role
from addon.auth.roles import Role
from addon.auth.sessions import Principal
from addon.dbutil import loaded, set_params, set_values, table_of
from addon.gateway import PaymentIntentInfo
from addon.models import PaymentRequest, utcnow
from addon.outbound import Outbound
from addon.services import participants
from addon.services.checkout import refuse_unless_payable, refuse_unless_theirs
from addon.services.paying_state import CLEARED, PAYABLE, TTL, paying_json
from addon.services.payment_requests import Outcome, changed_event, find_in_call
from addon.wire import payments as wire

# The same step said again by the same person sooner than this after it was last renewed changes nothing (and
# tells no one), so the page's renewals (every 40 seconds) and a checkout repeated for a new email stay quiet.
RENEW_WHEN_LEFT = TTL / 2
Step = Literal["checkout", "confirming", "authenticating"]


async def report(db: AsyncSession, principal: Principal, request_id: object, step: str) -> Outcome:
    """The payer's page: ``checkout`` (open), ``confirming`` (Pay pressed) or ``closed`` (left without paying)."""
    pr = await find_in_call(db, principal, request_id)
    require_role(principal, {Role.PATIENT}, what="pay payment requests")
    participants.require_payer(pr, principal)
    if step == "closed":
        # Only what this person said: a carer closing their checkout doesn't hide the patient paying meanwhile.
        moved = await _set(db, pr, CLEARED, _CLEAR_MINE, sub=principal.user_external_id)
    else:
        refuse_unless_payable(pr)
        refuse_unless_theirs(pr, principal)  # another patient's checkout made its payment: they are the one paying
        said: Step = "confirming" if step == "confirming" else "checkout"
        moved = await _mark(db, pr, principal.user_external_id, principal.user_name, said)
    body, event = await _paying_event(db, pr.id)
    return Outcome(body, [event] if moved else [])


async def checkout_opened(
    db: AsyncSession, principal: Principal, request_id: str, seen: PaymentRequest | None = None
) -> list[Outbound]:
    """The checkout call: whoever asked for it is paying now (the page says more as the patient goes on).

    ``seen`` is the request as the checkout just read it; the UPDATE is conditional on the request still being
    payable, so a change since can't be overwritten, and there is no need to read it once more."""
    pr = seen if seen is not None else await db.get(PaymentRequest, request_id, populate_existing=True)
    if pr is None or pr.status not in PAYABLE:
        return []
    if not await _mark(db, pr, principal.user_external_id, principal.user_name, "checkout"):
        return []
    _, event = await _paying_event(db, pr.id)
    return [event]


async def set_opened(db: AsyncSession, principal: Principal, request_ids: list[str]) -> list[Outbound]:
    """Pay all's checkout (which has checked that each is this patient's to pay): they are paying each of them now."""
    events: list[Outbound] = []
    for request_id in dict.fromkeys(request_ids):
        events += await checkout_opened(db, principal, request_id)
    return events


async def on_requires_action(db: AsyncSession, pr: PaymentRequest, intent: PaymentIntentInfo) -> list[Outbound]:
    """Stripe says the card needs the bank's check (3-D Secure): the payer is authenticating now."""
    if intent.status != "requires_action" or pr.stripe_payment_intent_id != intent.id:
        return []
    return await _authenticating(db, pr)


async def set_requires_action(db: AsyncSession, request_ids: list[str], intent: PaymentIntentInfo) -> list[Outbound]:
    """The same for Pay all: the set's intent (``request_ids`` are its requests now) needs the bank's check."""
    if intent.status != "requires_action":
        return []
    events: list[Outbound] = []
    for request_id in request_ids:
        pr = await db.get(PaymentRequest, request_id, populate_existing=True)
        if pr is not None:
            events += await _authenticating(db, pr)
    return events


async def _authenticating(db: AsyncSession, pr: PaymentRequest) -> list[Outbound]:
    if pr.status not in PAYABLE:
        return []
    now = utcnow()
    paying = paying_json(pr, now)
    if paying is None or paying.step == "authenticating":
        # Nobody's page says they are paying any more (or it is already said): nothing to tell.
        return []
    if not await _mark(db, pr, pr.paying_sub or "", pr.paying_name, "authenticating"):
        return []
    _, event = await _paying_event(db, pr.id)
    return [event]


async def _mark(db: AsyncSession, pr: PaymentRequest, sub: str, name: str | None, step: Step) -> bool:
    now = utcnow()
    current = paying_json(pr, now)
    mine = current is not None and current.by.id == sub
    if mine and step == "confirming" and pr.paying_step == "authenticating":
        step = "authenticating"  # the page renews what it knows; Stripe knows the bank is checking the card
    if mine and pr.paying_step == step and pr.paying_until is not None and pr.paying_until - now > RENEW_WHEN_LEFT:
        return False
    values = {
        "paying_step": step,
        "paying_sub": sub,
        "paying_name": name,
        "paying_since": pr.paying_since if mine else now,
        "paying_until": now + TTL,
    }
    return await _set(db, pr, values, _MARK_PAYABLE)


async def _set(db: AsyncSession, pr: PaymentRequest, values: dict[str, Any], statement: Update, **more: Any) -> bool:
    """One conditional UPDATE: a report that arrives after the payment (or the cancel) finds nothing to change."""
    changes = {**values, "updated_at": utcnow()}
    result = await db.execute(statement, {"request_id": pr.id, **set_values(changes), **more})
    if result.scalar_one_or_none() is None:
        return False
    loaded(db, PaymentRequest, pr.id, changes)
    return True


# Built once, with bound values: a checkout says who is paying every time.
_REQUESTS = table_of(PaymentRequest)


def _paying_update(condition: ColumnElement[bool]) -> Update:
    return (
        update(_REQUESTS)
        .where(_REQUESTS.c.id == bindparam("request_id", type_=_REQUESTS.c.id.type), condition)
        .values(set_params(_REQUESTS, (*CLEARED, "updated_at")))
        .returning(_REQUESTS.c.id)
    )


_MARK_PAYABLE = _paying_update(
    _REQUESTS.c.status.in_([literal(s, _REQUESTS.c.status.type) for s in sorted(s.value for s in PAYABLE)])
)
_CLEAR_MINE = _paying_update(_REQUESTS.c.paying_sub == bindparam("sub", type_=_REQUESTS.c.paying_sub.type))


async def _paying_event(db: AsyncSession, request_id: str) -> tuple[wire.PaymentRequest, Outbound]:
    """The request's JSON and its ``payment_request`` event after a "who is paying now" change: its status is the
    same, so the event says so (payments by outcome count changes of status only)."""
    body, event = await changed_event(db, request_id)
    return body, replace(event, status_changed=False)
