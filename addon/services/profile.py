"""A clinician's own details in Callpay. The provider number printed on their payments' receipts comes from the
platform's launch when it sends one (``provider_number``), and otherwise from here, set by the clinician."""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncSession

from addon import audit
from addon.auth.access import require_role
from addon.auth.roles import CLINICIANS
from addon.auth.sessions import Principal
from addon.errors import InvalidInput
from addon.models import User
from addon.wire.profile import Profile, ProfileBody

PROVIDER_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 -]{0,49}$")


async def profile_for(db: AsyncSession, principal: Principal) -> Profile:
    require_role(principal, CLINICIANS, what="have details on receipts")
    user = await db.get_one(User, principal.user_id)
    return Profile(name=user.name, provider_number=user.provider_number)


async def update_profile(db: AsyncSession, principal: Principal, body: ProfileBody) -> Profile:
    require_role(principal, CLINICIANS, what="have details on receipts")
    number = " ".join((body.provider_number or "").split()) or None
    if number is not None and not PROVIDER_NUMBER.match(number):
        raise InvalidInput(
            "A provider number is letters and digits, such as 2426351K.", field="provider_number"
        )
    user = await db.get_one(User, principal.user_id)
    if user.provider_number != number:
        user.provider_number = number
        audit.record(
            db, "profile.provider_number_changed", actor=principal, clinic_id=principal.clinic_id,
            subject_type="user", subject_id=principal.user_external_id,
        )  # fmt: skip
    await db.flush()
    return Profile(name=user.name, provider_number=user.provider_number)
