"""The append-only audit trail: who did what to which clinic, written in the same transaction as the change."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from addon.auth.sessions import Principal
from addon.models import AuditEvent


def record(
    db: AsyncSession,
    action: str,
    *,
    actor: Principal | None = None,
    organisation_id: int | None = None,
    clinic_id: int | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    db.add(
        AuditEvent(
            action=action,
            actor_user_id=actor.user_id if actor else None,
            actor_role=actor.role.value if actor else None,
            organisation_id=organisation_id
            if organisation_id is not None
            else (actor.organisation_id if actor else None),
            clinic_id=clinic_id,
            subject_type=subject_type,
            subject_id=subject_id,
            data=data or {},
        )
    )
