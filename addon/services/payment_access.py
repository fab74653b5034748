"""Which payment requests a person may open outside the call: the call's patient, or staff of the clinic.

Anything else is "not found", as for a stranger, so ids of other clinics can't be probed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from addon.auth.roles import Role
from addon.auth.sessions import Principal
from addon.errors import NotFound
from addon.models import Call, Clinic, PaymentRequest, User
from addon.services.payment_requests import RequestView

NOT_FOUND = "That payment doesn't exist, or isn't one you can see."


@dataclass(frozen=True)
class Visible:
    view: RequestView
    clinic: Clinic
    clinician: User

    @property
    def request(self) -> PaymentRequest:
        return self.view.request


def may_see(principal: Principal, request: PaymentRequest, clinic: Clinic) -> bool:
    if principal.role is Role.PATIENT:
        return principal.call_id is not None and principal.call_id == request.call_id
    if principal.role is Role.ORG_ADMIN:
        return clinic.organisation_id == principal.organisation_id
    return principal.clinic_id == request.clinic_id


async def visible_request(db: AsyncSession, principal: Principal, request_id: object) -> Visible:
    """The request with what its JSON names, if ``principal`` may see it; otherwise :class:`NotFound`."""
    if not isinstance(request_id, str) or not request_id or len(request_id) > 40:
        raise NotFound(NOT_FOUND)
    row = (
        await db.execute(
            select(PaymentRequest, Call.external_id, Clinic, User)
            .join(Call, Call.id == PaymentRequest.call_id)
            .join(Clinic, Clinic.id == PaymentRequest.clinic_id)
            .join(User, User.id == PaymentRequest.clinician_id)
            .where(PaymentRequest.id == request_id)
            .execution_options(populate_existing=True)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(NOT_FOUND)
    pr, call_external_id, clinic, clinician = row
    if not may_see(principal, pr, clinic):
        raise NotFound(NOT_FOUND)
    view = RequestView(pr, call_external_id, clinic.external_id, clinician.external_id, clinician.name)
    return Visible(view, clinic, clinician)
