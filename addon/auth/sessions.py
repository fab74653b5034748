"""Server-side sessions behind opaque bearer tokens.

The token (256 random bits) is given to the page once and kept in memory there; only its SHA-256 is stored. A
session ends at an absolute expiry, after an idle period, or when revoked.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from addon.auth.launch import Launch
from addon.auth.roles import Role
from addon.db import one_read_engine, write_engine
from addon.dbutil import table_of
from addon.errors import Unauthenticated
from addon.models import Call, Clinic, Organisation, User
from addon.models import Session as SessionRow

ABSOLUTE_LIFETIME = timedelta(hours=12)
IDLE_TIMEOUT = timedelta(hours=2)
# Writing last_seen on every request would make each read a write; a minute's precision is plenty.
TOUCH_EVERY = timedelta(minutes=1)
EXPIRED = "Your session has ended. Close this and open it again from the video-call platform."


@dataclass(frozen=True)
class Principal:
    """The person behind a session, and the organisation, clinic and call it is scoped to."""

    token_hash: str
    user_id: int
    user_external_id: str
    user_name: str
    role: Role
    platform: str
    organisation_id: int
    org_external_id: str
    clinic_id: int | None
    clinic_external_id: str | None
    call_id: int | None
    call_external_id: str | None
    expires_at: datetime

    @property
    def is_staff(self) -> bool:
        return self.role is not Role.PATIENT


@dataclass(frozen=True)
class IssuedSession:
    token: str
    principal: Principal


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def open_session(db: AsyncSession, launch: Launch, *, now: datetime | None = None) -> IssuedSession:
    now = now or datetime.now(UTC)
    claims = launch.claims
    expires_at = now + ABSOLUTE_LIFETIME
    token = await _insert(
        db,
        user_id=launch.user_id,
        role=claims.role.value,
        organisation_id=launch.organisation_id,
        clinic_id=launch.clinic_id,
        call_id=launch.call_id,
        expires_at=expires_at,
        now=now,
    )
    # Everything the principal holds is in the launch just consumed: no need to read back what was just written.
    principal = Principal(
        token_hash=hash_token(token),
        user_id=launch.user_id,
        user_external_id=claims.user_external_id,
        user_name=claims.name,
        role=claims.role,
        platform=claims.platform,
        organisation_id=launch.organisation_id,
        org_external_id=claims.org,
        clinic_id=launch.clinic_id,
        clinic_external_id=claims.clinic,
        call_id=launch.call_id,
        call_external_id=claims.call,
        expires_at=min(expires_at, now + IDLE_TIMEOUT),
    )
    return IssuedSession(token=token, principal=principal)


async def reopen(db: AsyncSession, token_hash: str, *, now: datetime | None = None) -> IssuedSession | None:
    """A new token for a live session's exact scope (user, role, org, clinic, call), or None if it has ended.

    Used where a page had to leave its in-memory token behind (the Connect OAuth round trip through Stripe) and the
    caller has proved possession of the original session another way. The new session ends no later than the
    original, so a round trip can never lengthen a sign-in.
    """
    now = now or datetime.now(UTC)
    if await _load(db, token_hash, now) is None:
        return None
    original = await db.get_one(SessionRow, token_hash)
    scope = SessionRow(
        user_id=original.user_id,
        role=original.role,
        organisation_id=original.organisation_id,
        clinic_id=original.clinic_id,
        call_id=original.call_id,
        expires_at=original.expires_at,
    )
    return await _issue(db, scope, now)


async def _issue(db: AsyncSession, row: SessionRow, now: datetime) -> IssuedSession:
    """Mint a token for a session row's scope; only the token's hash is stored."""
    token = await _insert(
        db,
        user_id=row.user_id,
        role=row.role,
        organisation_id=row.organisation_id,
        clinic_id=row.clinic_id,
        call_id=row.call_id,
        expires_at=row.expires_at,
        now=now,
    )
    principal = await _load(db, hash_token(token), now)
    assert principal is not None
    return IssuedSession(token=token, principal=principal)


async def _insert(db: AsyncSession, *, now: datetime, **scope: object) -> str:
    token = secrets.token_urlsafe(32)
    await db.execute(_INSERT, {"token_hash": hash_token(token), "created_at": now, "last_seen_at": now, **scope})
    return token


async def resolve(db: AsyncSession, token: str, *, now: datetime | None = None) -> Principal:
    """The live session for a bearer token, or :class:`Unauthenticated`; touches ``last_seen_at`` in ``db``."""
    now = now or datetime.now(UTC)
    token_hash = _hash_of(token)
    found = await _load_with_last_seen(db, token_hash, now)
    if found is None:
        raise Unauthenticated(EXPIRED, code="session_invalid")
    await _touch(db, token_hash, now)
    return found[0]


async def authenticate(
    read: async_sessionmaker[AsyncSession],
    write: async_sessionmaker[AsyncSession],
    token: str,
    *,
    now: datetime | None = None,
) -> Principal:
    """:func:`resolve` for every request and socket: the lookup is one read-only statement (on SQLite outside any
    transaction, see addon/db.py's one_read_engine), and the write that keeps the session from going idle is its
    own short transaction, taken at most once a minute per session.

    So the common case never takes SQLite's write lock, nor waits behind someone else's. (The touch can race
    another request's; both write the same minute, and the conditional UPDATE makes the second a no-op.) Both go
    through a Core connection, not an ORM session: nothing here needs the unit of work.
    """
    now = now or datetime.now(UTC)
    token_hash = _hash_of(token)
    async with one_read_engine(read).connect() as connection:
        found = await _load_with_last_seen(connection, token_hash, now)
    if found is None:
        raise Unauthenticated(EXPIRED, code="session_invalid")
    principal, last_seen_at = found
    if last_seen_at < now - TOUCH_EVERY:
        async with write_engine(write).begin() as connection:
            await _touch(connection, token_hash, now)
    return principal


def _hash_of(token: str) -> str:
    if not token or len(token) > 200:
        raise Unauthenticated(EXPIRED, code="session_invalid")
    return hash_token(token)


async def _touch(db: AsyncSession | AsyncConnection, token_hash: str, now: datetime) -> None:
    await db.execute(_TOUCH, {"hash": token_hash, "touched_before": now - TOUCH_EVERY, "now": now})


async def revoke(db: AsyncSession, token_hash: str, *, now: datetime | None = None) -> None:
    await db.execute(
        update(SessionRow).where(SessionRow.token_hash == token_hash).values(revoked_at=now or datetime.now(UTC))
    )


LIVE_AMONG_CHUNK = 500


async def live_among(db: AsyncSession, token_hashes: Iterable[str], *, now: datetime | None = None) -> set[str]:
    """Which of these sessions are still live (not revoked, not expired, not idle): for a worker checking the
    sessions behind its open sockets. Asked in chunks, so a worker holding thousands stays within any database's
    limit on bound parameters."""
    now = now or datetime.now(UTC)
    wanted = sorted(set(token_hashes))
    live: set[str] = set()
    for start in range(0, len(wanted), LIVE_AMONG_CHUNK):
        chunk = wanted[start : start + LIVE_AMONG_CHUNK]
        found = await db.scalars(
            select(SessionRow.token_hash).where(
                SessionRow.token_hash.in_(chunk),
                SessionRow.revoked_at.is_(None),
                SessionRow.expires_at > now,
                SessionRow.last_seen_at > now - IDLE_TIMEOUT,
            )
        )
        live.update(found)
    return live


# An open socket counts as activity (its window is open in a call), written at most this often per session.
KEEP_ALIVE_EVERY = timedelta(minutes=10)


async def keep_alive(db: AsyncSession, token_hashes: Iterable[str], *, now: datetime | None = None) -> None:
    """Mark these sessions, whose sockets are open, as in use: a clinician or patient who sits in a long call
    without pressing anything is not signed out by the idle timeout mid-call. A session already idle, revoked or
    past its absolute expiry stays ended (that is checked in the same statement)."""
    now = now or datetime.now(UTC)
    wanted = sorted(set(token_hashes))
    for start in range(0, len(wanted), LIVE_AMONG_CHUNK):
        await db.execute(
            update(SessionRow)
            .where(
                SessionRow.token_hash.in_(wanted[start : start + LIVE_AMONG_CHUNK]),
                SessionRow.revoked_at.is_(None),
                SessionRow.expires_at > now,
                SessionRow.last_seen_at > now - IDLE_TIMEOUT,
                SessionRow.last_seen_at < now - KEEP_ALIVE_EVERY,
            )
            .values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )


async def _load(db: AsyncSession, token_hash: str, now: datetime) -> Principal | None:
    found = await _load_with_last_seen(db, token_hash, now)
    return found[0] if found is not None else None


# Core on the models' tables, not ORM attributes: the ORM builds no objects and sets up no ORM result for what is
# read once and dropped. Built once, with the values bound per call: it runs for every request and socket action,
# and building it cost more CPU than running it.
_S, _U, _O, _C, _K = (table_of(model).c for model in (SessionRow, User, Organisation, Clinic, Call))
_LIVE_SESSION = (
    select(
        _S.role,
        _S.expires_at,
        _S.last_seen_at,
        _U.id,
        _U.external_id,
        _U.name,
        _O.id,
        _O.platform,
        _O.external_id,
        _C.id,
        _C.external_id,
        _K.id,
        _K.external_id,
    )
    .select_from(
        SessionRow.__table__.join(User.__table__, _U.id == _S.user_id)
        .join(Organisation.__table__, _O.id == _S.organisation_id)
        .outerjoin(Clinic.__table__, _C.id == _S.clinic_id)
        .outerjoin(Call.__table__, _K.id == _S.call_id)
    )
    .where(
        _S.token_hash == bindparam("token_hash"),
        _S.revoked_at.is_(None),
        _S.expires_at > bindparam("now"),
        _S.last_seen_at > bindparam("idle_since"),
    )
)
_SESSIONS = table_of(SessionRow)
_TOUCH = (
    update(_SESSIONS)
    .where(_S.token_hash == bindparam("hash"), _S.last_seen_at < bindparam("touched_before"))
    .values(last_seen_at=bindparam("now"))
)
_INSERT = insert(_SESSIONS)


async def _load_with_last_seen(
    db: AsyncSession | AsyncConnection, token_hash: str, now: datetime
) -> tuple[Principal, datetime] | None:
    params = {"token_hash": token_hash, "now": now, "idle_since": now - IDLE_TIMEOUT}
    found = (await db.execute(_LIVE_SESSION, params)).one_or_none()
    if found is None:
        return None
    (role, expires_at, last_seen_at, user_id, user_ext, user_name, org_id, platform, org_ext, clinic_id, clinic_ext,
     call_id, call_ext) = found  # fmt: skip
    principal = Principal(
        token_hash=token_hash,
        user_id=user_id,
        user_external_id=user_ext,
        user_name=user_name,
        role=Role(role),
        platform=platform,
        organisation_id=org_id,
        org_external_id=org_ext,
        clinic_id=clinic_id,
        clinic_external_id=clinic_ext,
        call_id=call_id,
        call_external_id=call_ext,
        expires_at=min(expires_at, now + IDLE_TIMEOUT),
    )
    return principal, last_seen_at
