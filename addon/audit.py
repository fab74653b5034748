"""The append-only audit trail: who did what to which clinic, written in the same transaction as the change."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from addon.auth.sessions import Principal
from addon.dbutil import PreparedInsert
from addon.models import AuditEvent

_INSERT = PreparedInsert(AuditEvent)


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
    """Added to the session: written when it next flushes (at the latest, at commit)."""
    db.add(AuditEvent(**_values(action, actor, organisation_id, clinic_id, subject_type, subject_id, data)))


async def write(
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
    """:func:`record`, written now as one INSERT, without the ORM's unit of work: for the hot paths."""
    await _INSERT(db, _values(action, actor, organisation_id, clinic_id, subject_type, subject_id, data))


def _values(
    action: str,
    actor: Principal | None,
    organisation_id: int | None,
    clinic_id: int | None,
    subject_type: str | None,
    subject_id: str | None,
    data: dict[str, Any] | None,
) -> dict[str, Any]:
    if organisation_id is None and actor is not None:
        organisation_id = actor.organisation_id
    return {
        "action": action,
        "actor_user_id": actor.user_id if actor else None,
        "actor_role": actor.role.value if actor else None,
        "organisation_id": organisation_id,
        "clinic_id": clinic_id,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "data": data or {},
    }
