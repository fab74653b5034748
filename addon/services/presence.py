"""Who is in a call now: one row per open patient socket, for the clinician's "who pays" picker.

A row is made when a patient's socket connects and removed when it disconnects, so the picker follows people as
they join and leave. Sockets live in one web worker each; every worker renews its own rows' ``seen_at`` every
:data:`RENEW_EVERY` and removes them when it stops, and rows not renewed for :data:`LAPSE` are not counted, so a
worker that died (and could say nothing) leaves no ghosts in anyone's picker for long.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from addon.auth.roles import Role
from addon.auth.sessions import Principal
from addon.models import Session, SocketPresence, User, utcnow
from addon.wire.common import Person

RENEW_EVERY = timedelta(seconds=30)
LAPSE = timedelta(seconds=90)
SOMEONE = "Someone in the call"


def new_worker_id() -> str:
    return secrets.token_hex(8)


def counts(principal: Principal) -> bool:
    """Whose sockets make them present: the patients of a call (a patient, a carer, a guardian), who can pay."""
    return principal.role is Role.PATIENT and principal.call_id is not None


async def joined(db: AsyncSession, worker: str, sid: str, principal: Principal) -> None:
    assert principal.call_id is not None
    now = utcnow()
    db.add(
        SocketPresence(
            worker=worker, sid=sid, call_id=principal.call_id, user_id=principal.user_id, connected_at=now, seen_at=now
        )
    )
    await db.flush()


async def left(db: AsyncSession, worker: str, sid: str) -> int | None:
    """Forget a socket that closed; the call it was in, or None when it wasn't a patient's."""
    result = await db.execute(
        delete(SocketPresence)
        .where(SocketPresence.worker == worker, SocketPresence.sid == sid)
        .returning(SocketPresence.call_id)
    )
    return result.scalar_one_or_none()


async def renew(db: AsyncSession, worker: str) -> None:
    await db.execute(update(SocketPresence).where(SocketPresence.worker == worker).values(seen_at=utcnow()))


async def forget_worker(db: AsyncSession, worker: str) -> None:
    await db.execute(delete(SocketPresence).where(SocketPresence.worker == worker))


async def present(db: AsyncSession, call_id: int, now: datetime | None = None) -> list[Person]:
    """The call's patients with a socket open now, in the order they first joined the call."""
    since = (now or utcnow()) - LAPSE
    live = select(SocketPresence.user_id).where(SocketPresence.call_id == call_id, SocketPresence.seen_at >= since)
    rows = (
        await db.execute(
            select(User.external_id, User.name, func.min(Session.created_at).label("joined"))
            .join(Session, Session.user_id == User.id)
            .where(Session.call_id == call_id, Session.role == Role.PATIENT.value, User.id.in_(live))
            .group_by(User.id, User.external_id, User.name)
            .order_by("joined", User.external_id)
        )
    ).all()
    return [Person(id=sub, name=name or SOMEONE) for sub, name, _ in rows]
