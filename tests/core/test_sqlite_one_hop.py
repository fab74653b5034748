"""The SQLite driver makes one trip to the connection's thread per statement, and none for nothing, with the same
results, errors and transactions as SQLAlchemy's stock aiosqlite adapter (see addon/sqlite_one_hop.py)."""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from addon import db
from addon.models import ProcessedStripeEvent


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[collections.Counter[str]]:
    """Every call aiosqlite queues for a connection's thread, by the function's name."""
    counted: collections.Counter[str] = collections.Counter()
    queue = aiosqlite.Connection._execute

    async def counting(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        counted[getattr(fn, "__name__", repr(fn))] += 1
        return await queue(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counting)
    yield counted


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(database_url)
    async with engine.connect() as warm:  # the connection's set-up (pragmas) is not what is counted
        await warm.execute(text("SELECT 1"))
    yield engine
    await engine.dispose()


async def test_a_read_transaction_is_two_trips_begin_select_and_rollback(
    engine: AsyncEngine, trips: collections.Counter[str]
) -> None:
    async with db.read_session_factory(engine)() as session:
        found = (await session.execute(select(ProcessedStripeEvent.id))).all()
    assert found == []
    # BEGIN (and the query_only switch) ride with the SELECT; the pool's reset after the rollback costs nothing.
    assert dict(trips) == {"_run": 1, "rollback": 1}


async def test_a_write_transaction_commits_what_it_wrote_in_one_trip_per_statement(
    engine: AsyncEngine, trips: collections.Counter[str]
) -> None:
    async with db.session_factory(engine).begin() as session:
        await session.execute(insert(ProcessedStripeEvent).values(id="evt_a", type="t"))
        changed = await session.execute(
            update(ProcessedStripeEvent).where(ProcessedStripeEvent.id == "evt_a").values(type="u")
        )
        assert changed.rowcount == 1  # type: ignore[attr-defined]
    assert dict(trips) == {"_run": 2, "commit": 1}
    async with db.read_session_factory(engine)() as session:
        assert (await session.execute(select(ProcessedStripeEvent.type))).scalars().all() == ["u"]


async def test_an_empty_transaction_costs_no_trip(engine: AsyncEngine, trips: collections.Counter[str]) -> None:
    async with db.session_factory(engine).begin():
        pass
    async with db.read_session_factory(engine)():
        pass
    assert sum(trips.values()) == 0


async def test_a_failed_statement_rolls_back_the_whole_transaction(engine: AsyncEngine) -> None:
    writes = db.session_factory(engine)
    async with writes.begin() as session:
        session.add(ProcessedStripeEvent(id="evt_kept", type="t"))
    with pytest.raises(IntegrityError):
        async with writes.begin() as session:
            await session.execute(insert(ProcessedStripeEvent).values(id="evt_new", type="t"))
            await session.execute(insert(ProcessedStripeEvent).values(id="evt_kept", type="t"))
    async with db.read_session_factory(engine)() as session:
        assert (await session.execute(select(ProcessedStripeEvent.id))).scalars().all() == ["evt_kept"]


async def test_returning_many_rows_and_executemany_work(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(insert(ProcessedStripeEvent), [{"id": f"evt_{n}", "type": "t"} for n in range(5)])
        returned = await connection.execute(
            update(ProcessedStripeEvent).values(type="v").returning(ProcessedStripeEvent.id)
        )
        assert sorted(returned.scalars()) == [f"evt_{n}" for n in range(5)]
        streamed = await connection.stream(select(ProcessedStripeEvent.id).order_by(ProcessedStripeEvent.id))
        assert [row.id async for row in streamed] == [f"evt_{n}" for n in range(5)]
