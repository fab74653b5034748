"""Who is in a call now: one row per open patient socket, for the clinician's "who pays" picker.

A row is made when a patient's socket connects and removed when it disconnects, so the picker follows people as
they join and leave. Sockets live in one web worker each; every worker renews its own rows' ``seen_at`` every
:data:`RENEW_EVERY` and removes them when it stops, and rows not renewed for :data:`LAPSE` are not counted, so a
worker that died (and could say nothing) leaves no ghosts in anyone's picker for long.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from addon.auth.roles import Role
from addon.auth.sessions import Principal
from addon.dbutil import table_of
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


# Core on the tables, built once: a connect and a disconnect each run these, and building a statement (or an ORM
# unit of work for one row) cost more CPU than SQLite spent running it.
_PRESENCE, _SESSIONS, _USERS = (table_of(model) for model in (SocketPresence, Session, User))
_JOIN = insert(_PRESENCE)
_LEAVE = (
    delete(_PRESENCE)
    .where(_PRESENCE.c.worker == bindparam("worker"), _PRESENCE.c.sid == bindparam("sid"))
    .returning(_PRESENCE.c.call_id)
)
_LIVE = select(_PRESENCE.c.user_id).where(
    _PRESENCE.c.call_id == bindparam("call_id"), _PRESENCE.c.seen_at >= bindparam("since")
)
_JOINED = func.min(_SESSIONS.c.created_at).label("joined")
_PRESENT = (
    select(_USERS.c.external_id, _USERS.c.name, _JOINED)
    .select_from(_USERS.join(_SESSIONS, _SESSIONS.c.user_id == _USERS.c.id))
    .where(
        _SESSIONS.c.call_id == bindparam("call_id"),
        _SESSIONS.c.role == Role.PATIENT.value,
        _USERS.c.id.in_(_LIVE.scalar_subquery()),
    )
    .group_by(_USERS.c.id, _USERS.c.external_id, _USERS.c.name)
    .order_by(_JOINED, _USERS.c.external_id)
)


async def joined(db: AsyncSession, worker: str, sid: str, principal: Principal) -> None:
    assert principal.call_id is not None
    now = utcnow()
    await db.execute(
        _JOIN,
        {
            "worker": worker,
            "sid": sid,
            "call_id": principal.call_id,
            "user_id": principal.user_id,
            "connected_at": now,
            "seen_at": now,
        },
    )


async def left(db: AsyncSession, worker: str, sid: str) -> int | None:
    """Forget a socket that closed; the call it was in, or None when it wasn't a patient's."""
    result = await db.execute(_LEAVE, {"worker": worker, "sid": sid})
    return result.scalar_one_or_none()


async def renew(db: AsyncSession, worker: str) -> None:
    await db.execute(update(SocketPresence).where(SocketPresence.worker == worker).values(seen_at=utcnow()))


async def forget_worker(db: AsyncSession, worker: str) -> None:
    await db.execute(delete(SocketPresence).where(SocketPresence.worker == worker))


async def present(db: AsyncSession, call_id: int, now: datetime | None = None) -> list[Person]:
    """The call's patients with a socket open now, in the order they first joined the call."""
    since = (now or utcnow()) - LAPSE
    rows = (await db.execute(_PRESENT, {"call_id": call_id, "since": since})).all()
    return [Person(id=sub, name=name or SOMEONE) for sub, name, _ in rows]
