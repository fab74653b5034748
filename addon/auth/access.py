"""Role and scope checks shared by every route and socket handler.

A principal acts only inside the organisation, clinic and call its launch named; anything else is refused with
the same "not found" a stranger would get, so ids of other clinics can't be probed.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.ext.asyncio import AsyncSession

from addon.auth.roles import CLINIC_ADMINS, Role
from addon.auth.sessions import Principal
from addon.errors import Forbidden, NotFound
from addon.models import Clinic


def require_role(principal: Principal, allowed: Collection[Role], *, what: str) -> None:
    if principal.role not in allowed:
        raise Forbidden(f"Your role can't {what}.", code="role_not_allowed")


async def clinic_for_admin(db: AsyncSession, principal: Principal, clinic_id: int | None = None) -> Clinic:
    """The clinic a team admin (or an org admin of its organisation) may configure."""
    require_role(principal, CLINIC_ADMINS, what="change the clinic's payment settings")
    target = clinic_id if clinic_id is not None else principal.clinic_id
    if target is None:
        raise NotFound("Choose a clinic first.")
    clinic = await db.get(Clinic, target)
    if clinic is None or clinic.organisation_id != principal.organisation_id:
        raise NotFound("That clinic doesn't exist.")
    if principal.role is Role.TEAM_ADMIN and clinic.id != principal.clinic_id:
        raise NotFound("That clinic doesn't exist.")
    return clinic
