"""The outbox against a real local SMTP server: exactly once, retried, and carried across restarts."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from aiosmtpd.smtp import Envelope
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from addon.app import create_app
from addon.mail import SmtpTransport
from addon.models import OutboxEmail, PaymentRequest
from addon.services.outbox import Claimed, OutboxWorker, backoff
from addon.services.receipts import enqueue_receipt
from sandbox.mailbox import RunningMailbox, start_mailbox
from tests.conftest import make_settings
from tests.receipts.conftest import make_paid_request


async def queue_receipt(sessions: async_sessionmaker[AsyncSession], **kwargs: Any) -> PaymentRequest:
    request = await make_paid_request(sessions, **kwargs)
    async with sessions.begin() as db:
        assert await enqueue_receipt(db, request)
    return request


async def outbox_rows(sessions: async_sessionmaker[AsyncSession]) -> list[OutboxEmail]:
    async with sessions() as db:
        return list((await db.execute(select(OutboxEmail))).scalars())


def worker(sessions: async_sessionmaker[AsyncSession], mailbox: RunningMailbox, **kwargs: Any) -> OutboxWorker:
    return OutboxWorker(
        sessions, SmtpTransport(mailbox.smtp_url), mail_from="Callpay <receipts@callpay.test>", **kwargs
    )


async def test_a_queued_receipt_is_sent_once_with_its_pdf(
    sessions: async_sessionmaker[AsyncSession], mailbox: RunningMailbox
) -> None:
    await queue_receipt(sessions)
    sender = worker(sessions, mailbox)
    assert await sender.send_due() == 1
    assert await sender.send_due() == 0
    (message,) = mailbox.mailbox.messages
    assert message.recipients == ("pat@example.com",)
    assert message.subject == "Your receipt from Harbour Telehealth Pty Ltd — A$80.00"
    (pdf,) = message.attachments
    assert pdf.content_type == "application/pdf" and pdf.data.startswith(b"%PDF-")
    (row,) = await outbox_rows(sessions)
    assert row.status == "sent" and row.sent_at is not None and row.attempts == 1 and row.locked_until is None


async def test_queueing_twice_sends_once(sessions: async_sessionmaker[AsyncSession], mailbox: RunningMailbox) -> None:
    request = await queue_receipt(sessions)
    async with sessions.begin() as db:
        assert not await enqueue_receipt(db, request)
    assert await worker(sessions, mailbox).send_due() == 1
    assert len(mailbox.mailbox.messages) == 1


class PausingWorker(OutboxWorker):
    """Stops between finding a row and claiming it, so both racers see it as due before either claims."""

    def __init__(self, *args: Any, gate: asyncio.Barrier, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = gate

    async def claim(self, row_id: int, *, now: datetime | None = None) -> Claimed | None:
        await self.gate.wait()
        return await super().claim(row_id, now=now)


async def test_two_racing_workers_send_exactly_once(
    sessions: async_sessionmaker[AsyncSession], mailbox: RunningMailbox
) -> None:
    await queue_receipt(sessions)
    gate = asyncio.Barrier(2)
    first, second = (
        PausingWorker(sessions, SmtpTransport(mailbox.smtp_url), mail_from="r@callpay.test", gate=gate)
        for _ in range(2)
    )
    assert (await first.due_ids()) == (await second.due_ids())
    results = await asyncio.gather(first.send_due(), second.send_due())
    assert sorted(results) == [0, 1]
    await asyncio.sleep(0.1)
    assert len(mailbox.mailbox.messages) == 1


async def test_many_workers_many_receipts_each_sent_once(
    sessions: async_sessionmaker[AsyncSession], mailbox: RunningMailbox
) -> None:
    for n in range(5):
        await queue_receipt(
            sessions,
            org=f"org-{n}",
            clinic=f"clinic-{n}",
            call=f"call-{n}",
            request_id=f"pr_{n}",
            email=f"pat{n}@example.com",
            clinician=f"doc-{n}",
        )
    workers = [worker(sessions, mailbox) for _ in range(4)]
    results = await asyncio.gather(*(w.send_due() for w in workers))
    assert sum(results) == 5
    assert sorted(m.recipients[0] for m in mailbox.mailbox.messages) == [f"pat{n}@example.com" for n in range(5)]


async def test_a_refused_send_is_retried_with_backoff(sessions: async_sessionmaker[AsyncSession]) -> None:
    refusals = 0

    async def refuse_first(_envelope: Envelope) -> str | None:
        nonlocal refusals
        refusals += 1
        return "451 4.3.0 Try again later" if refusals == 1 else None

    running = await start_mailbox(http_port=None, gate=refuse_first)
    try:
        await queue_receipt(sessions)
        sender = worker(sessions, running, backoff_base=timedelta(seconds=30))
        assert await sender.send_due() == 0
        (row,) = await outbox_rows(sessions)
        assert row.status == "pending" and row.attempts == 1 and row.locked_until is None
        assert row.last_error is not None and "451" in row.last_error
        assert row.next_attempt_at > datetime.now(UTC) + timedelta(seconds=20)
        assert await sender.send_due() == 0  # not due yet
        assert await sender.send_due(now=datetime.now(UTC) + timedelta(seconds=31)) == 1
        (message,) = running.mailbox.messages
        assert message.recipients == ("pat@example.com",)
        (row,) = await outbox_rows(sessions)
        assert row.status == "sent" and row.attempts == 2
    finally:
        await running.close()


async def test_an_unreachable_server_is_retried(sessions: async_sessionmaker[AsyncSession]) -> None:
    running = await start_mailbox(http_port=None)
    url = running.smtp_url
    await running.close()  # nothing listens there any more
    await queue_receipt(sessions)
    sender = OutboxWorker(sessions, SmtpTransport(url, timeout=2), mail_from="r@callpay.test")
    assert await sender.send_due() == 0
    (row,) = await outbox_rows(sessions)
    assert row.status == "pending" and row.attempts == 1 and row.last_error


async def test_gives_up_after_the_last_attempt(sessions: async_sessionmaker[AsyncSession]) -> None:
    async def refuse(_envelope: Envelope) -> str | None:
        return "554 5.7.1 Rejected"

    running = await start_mailbox(http_port=None, gate=refuse)
    try:
        await queue_receipt(sessions)
        sender = worker(sessions, running, max_attempts=2, backoff_base=timedelta(0))
        await sender.send_due()
        await sender.send_due()
        (row,) = await outbox_rows(sessions)
        assert row.status == "failed" and row.attempts == 2
    finally:
        await running.close()


async def test_a_lapsed_lease_lets_another_worker_take_over(
    sessions: async_sessionmaker[AsyncSession], mailbox: RunningMailbox
) -> None:
    """A worker that died mid-send holds its row only until its lease runs out."""
    await queue_receipt(sessions)
    (row,) = await outbox_rows(sessions)
    dead = worker(sessions, mailbox)
    assert await dead.claim(row.id) is not None
    alive = worker(sessions, mailbox)
    assert await alive.send_due() == 0
    assert await alive.send_due(now=datetime.now(UTC) + timedelta(minutes=3)) == 1


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [15, 30, 60, 120]
    assert backoff(30) == timedelta(hours=2)


async def test_a_pending_receipt_is_sent_by_a_new_app_after_a_restart(
    aiohttp_client: Any, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await queue_receipt(sessions)
    # The first app has no SMTP: the receipt stays queued in the database when it stops.
    first = await aiohttp_client(create_app(make_settings(database_url)))
    await first.close()
    (row,) = await outbox_rows(sessions)
    assert row.status == "pending"

    running = await start_mailbox(http_port=None)
    try:
        app = create_app(make_settings(database_url, smtp_url=running.smtp_url))
        client: TestClient[Any, Any] = await aiohttp_client(app)
        (message,) = await running.mailbox.wait_for(1)
        assert message.recipients == ("pat@example.com",)
        await client.close()
    finally:
        await running.close()
    (row,) = await outbox_rows(sessions)
    assert row.status == "sent"


async def test_without_smtp_the_app_says_so_once_at_start(
    aiohttp_client: Any, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="callpay.outbox")
    app: web.Application = create_app(make_settings(database_url))
    client = await aiohttp_client(app)
    await client.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "callpay.outbox"]
    assert lines == ["CALLPAY_SMTP_URL is not set: receipt emails are queued but not sent."]


@pytest.mark.postgres
async def test_two_racing_workers_send_exactly_once_on_postgres(
    migrated_postgres_url: str, mailbox: RunningMailbox
) -> None:
    from addon import db as dbmod

    engine = dbmod.create_engine(migrated_postgres_url)
    try:
        pg_sessions = dbmod.session_factory(engine)
        await queue_receipt(pg_sessions)
        gate = asyncio.Barrier(2)
        racers = [
            PausingWorker(pg_sessions, SmtpTransport(mailbox.smtp_url), mail_from="r@callpay.test", gate=gate)
            for _ in range(2)
        ]
        results = await asyncio.gather(*(w.send_due() for w in racers))
        assert sorted(results) == [0, 1]
        assert len(mailbox.mailbox.messages) == 1
        (row,) = await outbox_rows(pg_sessions)
        assert row.status == "sent"
    finally:
        await engine.dispose()


async def test_a_message_that_cant_be_built_fails_once_instead_of_retrying(
    sessions: async_sessionmaker[AsyncSession], mailbox: RunningMailbox
) -> None:
    """Settings saved before line breaks were refused can still hold one; a header can't carry it, ever."""
    from addon.models import Clinic

    await queue_receipt(sessions)
    async with sessions.begin() as db:
        clinic = (await db.execute(select(Clinic))).scalar_one()
        clinic.receipt_business_name = "Harbour\nTelehealth"
    sender = worker(sessions, mailbox)
    assert await sender.send_due() == 0
    (row,) = await outbox_rows(sessions)
    assert row.status == "failed" and row.attempts == 1
    assert row.last_error is not None and "can't be built" in row.last_error
    assert mailbox.mailbox.messages == []
