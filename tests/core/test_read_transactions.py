"""Reads never take SQLite's write lock; writes still take it up front.

Every write transaction begins IMMEDIATE (see addon/db.py), so writers queue on busy_timeout instead of failing
half-way. Read-only sessions begin DEFERRED: a reader neither waits behind a writer nor holds one up, and it can't
write by mistake.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, OperationalError

from addon import db
from addon.models import ProcessedStripeEvent
from tests.core.test_transactions import any_database

__all__ = ["any_database"]


async def test_a_read_does_not_wait_for_a_writer_holding_the_lock(database_url: str) -> None:
    engine = db.create_engine(database_url)
    writes, reads = db.session_factory(engine), db.read_session_factory(engine)
    try:
        async with writes.begin() as writer:
            writer.add(ProcessedStripeEvent(id="evt_held", type="payment_intent.succeeded"))
            await writer.flush()  # the write lock is held from BEGIN IMMEDIATE until this block commits
            started = time.monotonic()
            async with reads() as reader:
                seen = list(await reader.scalars(select(ProcessedStripeEvent.id)))
            assert time.monotonic() - started < 1.0  # busy_timeout is 30 s: a reader that queued would show it
            assert seen == []  # its snapshot is the last commit, not the writer's work in progress
        async with reads() as reader:
            assert await reader.get(ProcessedStripeEvent, "evt_held") is not None
    finally:
        await engine.dispose()


async def test_a_second_writer_still_queues_for_the_lock_and_gets_it(database_url: str) -> None:
    engine = db.create_engine(database_url)
    writes = db.session_factory(engine)
    order: list[str] = []
    try:
        release, holding = asyncio.Event(), asyncio.Event()

        async def first() -> None:
            async with writes.begin() as session:
                session.add(ProcessedStripeEvent(id="evt_1", type="t"))
                await session.flush()
                order.append("first holds")
                holding.set()
                await release.wait()
            order.append("first committed")

        async def second() -> None:
            async with writes.begin() as session:
                await session.execute(text("SELECT 1"))  # the transaction begins with its first statement
                order.append("second began")
                session.add(ProcessedStripeEvent(id="evt_2", type="t"))

        holder = asyncio.create_task(first())
        await holding.wait()
        waiter = asyncio.create_task(second())
        await asyncio.sleep(0.3)
        try:
            assert order == ["first holds"]  # BEGIN IMMEDIATE waits for the lock, even to read
        finally:
            release.set()
        await asyncio.gather(holder, waiter)
        assert order == ["first holds", "first committed", "second began"]
    finally:
        await engine.dispose()


async def test_a_read_only_session_refuses_to_write(any_database: str) -> None:
    engine = db.create_engine(any_database)
    reads, writes = db.read_session_factory(engine), db.session_factory(engine)
    try:
        with pytest.raises((OperationalError, DBAPIError)):
            async with reads.begin() as reader:
                reader.add(ProcessedStripeEvent(id="evt_sneaky", type="t"))
        # The same pooled connection, used for writing next, writes again.
        async with writes.begin() as writer:
            writer.add(ProcessedStripeEvent(id="evt_fine", type="t"))
        async with reads() as reader:
            assert await reader.get(ProcessedStripeEvent, "evt_sneaky") is None
            assert await reader.get(ProcessedStripeEvent, "evt_fine") is not None
            assert (await reader.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await engine.dispose()
