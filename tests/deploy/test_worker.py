"""``callpay worker`` as an operator runs it: real processes on one PostgreSQL database, each receipt sent once,
and web workers with background work off leave it to them."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from addon import db as dbmod
from addon.app import create_app
from addon.models import OutboxEmail
from addon.services.receipts import enqueue_receipt
from sandbox.mailbox import RunningMailbox
from tests.conftest import BASE_ENV, make_settings
from tests.receipts.conftest import make_paid_request

RECEIPTS = 6


@pytest.fixture
async def pg_sessions(migrated_postgres_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = dbmod.create_engine(migrated_postgres_url)
    try:
        yield dbmod.session_factory(engine)
    finally:
        await engine.dispose()


async def queue_receipts(sessions: async_sessionmaker[AsyncSession], count: int) -> None:
    for n in range(count):
        request = await make_paid_request(
            sessions,
            org=f"org-{n}",
            clinic=f"clinic-{n}",
            call=f"call-{n}",
            request_id=f"pr_{n}",
            email=f"pat{n}@example.com",
            clinician=f"doc-{n}",
        )
        async with sessions.begin() as db:
            assert await enqueue_receipt(db, request)


async def statuses(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as db:
        return sorted((await db.scalars(select(OutboxEmail.status))).all())


@pytest.mark.postgres
async def test_two_worker_processes_send_each_receipt_once(
    migrated_postgres_url: str, pg_sessions: async_sessionmaker[AsyncSession], mailbox: RunningMailbox
) -> None:
    await queue_receipts(pg_sessions, RECEIPTS)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CALLPAY_")},
        **BASE_ENV,
        "CALLPAY_DATABASE_URL": migrated_postgres_url,
        "CALLPAY_SMTP_URL": mailbox.smtp_url,
    }
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "addon.cli",
            "worker",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    try:
        for process in workers:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), 60)
            assert line.startswith(b"Callpay worker running"), line
        await mailbox.mailbox.wait_for(RECEIPTS, within=60)
        await asyncio.sleep(1.0)  # room for a second send of any of them, were a claim not exclusive
        recipients = sorted(m.recipients[0] for m in mailbox.mailbox.messages)
        assert recipients == sorted(f"pat{n}@example.com" for n in range(RECEIPTS))
        assert await statuses(pg_sessions) == ["sent"] * RECEIPTS
    finally:
        for process in workers:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        codes = [await asyncio.wait_for(process.wait(), 30) for process in workers]
    assert codes == [0, 0]


async def test_a_web_worker_with_background_off_leaves_receipts_queued(
    aiohttp_client: Any, database_url: str, mailbox: RunningMailbox
) -> None:
    engine = dbmod.create_engine(database_url)
    try:
        await queue_receipts(dbmod.session_factory(engine), 1)
        settings = make_settings(database_url, smtp_url=mailbox.smtp_url, background="off")
        assert settings.background is False
        client = await aiohttp_client(create_app(settings))
        await asyncio.sleep(1.5)
        assert mailbox.mailbox.messages == []
        assert (await client.get("/readyz")).status == 200
        await client.close()
        assert await statuses(dbmod.session_factory(engine)) == ["pending"]
    finally:
        await engine.dispose()
