"""What the patient's widget shows about where they are paying: the clinic's name, as the patient knows it, and the
clinic's time zone, in which its receipts are dated."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from addon.auth.sessions import Principal
from addon.dbutil import get_by_id
from addon.errors import NotFound
from addon.models import Clinic
from addon.services.receipts import name_on_receipt


@dataclass(frozen=True)
class PatientView:
    clinic_name: str
    timezone: str


async def patient_view(db: AsyncSession, principal: Principal) -> PatientView:
    clinic = await get_by_id(db, Clinic, principal.clinic_id) if principal.clinic_id is not None else None
    if clinic is None:
        raise NotFound("This call's clinic doesn't exist.")
    # The name on the receipt is the one the patient will see on their statement and claim with.
    # The success card's date is the receipt's, so it is in the clinic's zone too, as the clinician's panel shows it.
    return PatientView(clinic_name=name_on_receipt(clinic), timezone=clinic.timezone)
