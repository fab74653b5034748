"""Who is in a call, and who may pay a request.

Each participant is known by their launch: the platform's ``sub`` and the name it gave. The participants of a
call are the people who opened Callpay in it as patients (a patient, a carer, a guardian), so the clinician's
picker lists only people who can actually pay; it shows those in the call now (:mod:`addon.services.presence`),
and a request may name anyone who opened it in this call (someone whose connection just dropped included). A
request addressed to one of them (``payer``) is payable only by that person; anyone else in the call sees that it
is with someone else, and the API refuses them (403 ``not_payer``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from addon.auth.access import require_role
from addon.auth.roles import CLINICIANS, Role
from addon.auth.sessions import Principal
from addon.errors import Forbidden, InvalidInput
from addon.models import PaymentRequest, Session, User
from addon.wire.common import Person

NOT_IN_CALL = "That person isn't in this call. Choose someone from the list, or anyone in the call."


async def in_call(db: AsyncSession, call_id: int) -> list[Person]:
    """The call's participants who can pay, in the order they joined."""
    rows = (
        await db.execute(
            select(User.external_id, User.name, func.min(Session.created_at).label("joined"))
            .join(Session, Session.user_id == User.id)
            .where(Session.call_id == call_id, Session.role == Role.PATIENT.value)
            .group_by(User.id, User.external_id, User.name)
            .order_by("joined", User.external_id)
        )
    ).all()
    return [Person(id=sub, name=name or "Someone in the call") for sub, name, _ in rows]


async def for_clinician(db: AsyncSession, principal: Principal) -> list[Person]:
    require_role(principal, CLINICIANS, what="see who is in the call")
    if principal.call_id is None:
        raise InvalidInput("Open Request payment from inside a call.", code="no_call")
    return await in_call(db, principal.call_id)


async def read_payer(db: AsyncSession, call_id: int, value: object) -> Person | None:
    """``payer`` as request_payment sends it: absent for anyone in the call, else ``{id}`` of a participant."""
    if value is None:
        return None
    sub = value.get("id") if isinstance(value, Mapping) else None
    if not isinstance(sub, str) or not sub:
        raise InvalidInput("Name the payer by their user id in the call.", field="payer")
    for person in await in_call(db, call_id):
        if person.id == sub:
            return person
    raise InvalidInput(NOT_IN_CALL, code="payer_not_in_call", field="payer")


def payer_values(payer: Person | None) -> dict[str, Any]:
    return {"payer_sub": payer.id if payer else None, "payer_name": payer.name if payer else None}


def require_payer(pr: PaymentRequest, principal: Principal) -> None:
    """Only the addressee may pay an addressed request."""
    if pr.payer_sub is not None and pr.payer_sub != principal.user_external_id:
        raise Forbidden(f"This payment is for {pr.payer_name or 'someone else'} to pay.", code="not_payer")
