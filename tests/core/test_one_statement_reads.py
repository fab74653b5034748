"""A one-statement read (the session lookup on every request and socket action, a page's read of its clinic) runs
on SQLite outside any transaction: one trip to the database's thread, no BEGIN and no ROLLBACK. It is still a read:
it can't write, it doesn't wait for a writer holding the lock, and it sees only what was committed. On PostgreSQL it
is the read-only transaction every read is."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from addon import db
from addon.auth import sessions
from addon.auth.roles import Role
from addon.errors import Unauthenticated
from addon.models import Organisation, ProcessedStripeEvent, User
from addon.models import Session as SessionRow
from addon.sqlite_one_hop import OneHopConnection, OneHopCursor
from tests.core.test_transactions import any_database

__all__ = ["any_database"]


@contextmanager
def trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The calls made on SQLite connections' own threads (statements, and the driver's commit and rollback)."""
    made: list[str] = []
    real_statement = OneHopCursor._statement
    real_rollback = OneHopConnection.rollback

    async def statement(self: OneHopCursor, operation: str, parameters: Any, *, many: bool) -> None:
        made.append(operation.split(None, 1)[0].upper())
        await real_statement(self, operation, parameters, many=many)

    def rollback(self: OneHopConnection) -> None:
        if self._one_in_transaction:
            made.append("ROLLBACK")
        real_rollback(self)

    monkeypatch.setattr(OneHopCursor, "_statement", statement)
    monkeypatch.setattr(OneHopConnection, "rollback", rollback)
    yield made


async def _a_session(engine: AsyncEngine) -> str:
    now = datetime.now(UTC)
    async with db.session_factory(engine).begin() as session:
        org = (
            await session.execute(insert(Organisation).values(platform="p", external_id="o").returning(Organisation.id))
        ).scalar_one()
        user = (
            await session.execute(insert(User).values(platform="p", external_id="u", name="Dr A").returning(User.id))
        ).scalar_one()
        token = "a-session-token"
        await session.execute(
            insert(SessionRow).values(
                token_hash=sessions.hash_token(token),
                user_id=user,
                role=Role.TEAM_MEMBER.value,
                organisation_id=org,
                expires_at=now + timedelta(hours=1),
                created_at=now,
                last_seen_at=now,
            )
        )
    return token


async def test_the_session_lookup_is_one_trip_on_sqlite(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = db.create_engine(database_url)
    read, write = db.read_session_factory(engine), db.session_factory(engine)
    try:
        token = await _a_session(engine)
        await sessions.authenticate(read, write, token)  # the pool has its connection, query_only set
        with trips(monkeypatch) as made:
            found = await sessions.authenticate(read, write, token)
        assert found.user_name == "Dr A"
        assert made == ["SELECT"]  # no BEGIN before it, no ROLLBACK after it, no touch (seen just now)
        # The same read in a read-only session: its transaction's ROLLBACK is a trip of its own.
        with trips(monkeypatch) as made:
            async with read() as session:
                await session.execute(select(SessionRow.token_hash))
        assert made == ["SELECT", "ROLLBACK"]
        with pytest.raises(Unauthenticated):
            await sessions.authenticate(read, write, "not-a-token")
    finally:
        await engine.dispose()


async def test_a_one_statement_read_cannot_write(any_database: str) -> None:
    engine = db.create_engine(any_database)
    one_read = db.one_read_session_factory(db.read_session_factory(engine))
    try:
        with pytest.raises((OperationalError, DBAPIError)):
            async with one_read() as session:
                await session.execute(insert(ProcessedStripeEvent).values(id="evt_sneaky", type="t"))
                await session.commit()
        async with db.read_session_factory(engine)() as session:
            assert await session.get(ProcessedStripeEvent, "evt_sneaky") is None
    finally:
        await engine.dispose()


async def test_a_one_statement_read_neither_waits_for_a_writer_nor_sees_its_work(database_url: str) -> None:
    engine = db.create_engine(database_url)
    writes = db.session_factory(engine)
    one_read = db.one_read_session_factory(db.read_session_factory(engine))
    try:
        async with writes.begin() as writer:
            writer.add(ProcessedStripeEvent(id="evt_held", type="payment_intent.succeeded"))
            await writer.flush()  # the write lock is held from BEGIN IMMEDIATE until this block commits
            started = time.monotonic()
            async with one_read() as reader:
                seen = list(await reader.scalars(select(ProcessedStripeEvent.id)))
            assert time.monotonic() - started < 1.0  # busy_timeout is 30 s: a reader that queued would show it
            assert seen == []
        async with one_read() as reader:
            assert (await reader.execute(text("SELECT count(*) FROM processed_stripe_events"))).scalar_one() == 1
    finally:
        await engine.dispose()
