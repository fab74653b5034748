"""The outbox worker: sends queued emails exactly once, retrying with backoff, across restarts and workers.

Every fact lives in the ``outbox_emails`` row, so a restarted process simply carries on. A worker claims a row
with one conditional UPDATE (``locked_until`` empty or lapsed → now + lease); only the worker whose UPDATE changed
the row sends it, so two workers (or two processes) never send one email twice. The lease is longer than an SMTP
send can take, so it only lapses when a worker died mid-send; then another picks the row up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from addon.dbutil import rows_changed
from addon.mail import MailError, MailTransport
from addon.models import OutboxEmail
from addon.services import link_emails, plan_emails
from addon.services.receipts import build_receipt_email, load_receipt

log = logging.getLogger("callpay.outbox")

POLL_INTERVAL = 1.0
LEASE = timedelta(minutes=2)
BATCH = 20
MAX_ATTEMPTS = 12
BACKOFF_BASE = timedelta(seconds=15)
BACKOFF_CAP = timedelta(hours=2)


class Undeliverable(Exception):
    """The email can't be built (e.g. its payment is gone); retrying won't help."""


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    to_address: str
    payment_request_id: str | None
    attempts: int
    lease_until: datetime
    # What the email is about, as queued (e.g. "refund:rf_…" names the refund a refund email is for).
    dedupe_key: str = ""


# A builder reads what it needs in a session of its own and lays the message out after closing it.
MessageBuilder = Callable[[async_sessionmaker[AsyncSession], Claimed, str], Awaitable[EmailMessage]]


async def _receipt_message(sessions: async_sessionmaker[AsyncSession], row: Claimed, mail_from: str) -> EmailMessage:
    async with sessions() as db:
        receipt = await load_receipt(db, row.payment_request_id) if row.payment_request_id else None
    if receipt is None:
        raise Undeliverable("the payment has no receipt")
    # Building includes laying out the PDF: off the event loop.
    return await asyncio.to_thread(build_receipt_email, receipt, to_address=row.to_address, mail_from=mail_from)


async def _refund_message(sessions: async_sessionmaker[AsyncSession], row: Claimed, mail_from: str) -> EmailMessage:
    """A refund's email, with the refund receipt: the receipt as it stands, naming the refund it is about."""
    refund_id = row.dedupe_key.removeprefix("refund:")
    async with sessions() as db:
        receipt = (
            await load_receipt(db, row.payment_request_id, refund_id=refund_id) if row.payment_request_id else None
        )
    if receipt is None:
        raise Undeliverable("the refund has not gone through")
    return await asyncio.to_thread(build_receipt_email, receipt, to_address=row.to_address, mail_from=mail_from)


# The link and plan emails are built from what their dedupe key names (the link, the instalment).
KeyedBuilder = Callable[[async_sessionmaker[AsyncSession], str, str, str], Awaitable[EmailMessage]]


def _by_key(build: KeyedBuilder) -> MessageBuilder:
    """A keyed email's builder as the outbox calls it; one that can no longer be sent is undeliverable."""

    async def message(sessions: async_sessionmaker[AsyncSession], row: Claimed, mail_from: str) -> EmailMessage:
        try:
            return await build(sessions, row.dedupe_key, row.to_address, mail_from)
        except link_emails.NotSendable as exc:
            raise Undeliverable(str(exc)) from exc

    return message


BUILDERS: Mapping[str, MessageBuilder] = {
    "receipt": _receipt_message,
    "refund": _refund_message,
    "payment_link": _by_key(link_emails.link_message),
    "link_notice": _by_key(link_emails.notice_message),
    "instalment_reminder": _by_key(plan_emails.reminder_message),
    "instalment_schedule": _by_key(plan_emails.schedule_message),
}


def stable_message_id(row: Claimed, mail_from: str) -> str:
    """One Message-ID per queued email, the same across attempts, workers and restarts."""
    domain = mail_from.rpartition("@")[2].strip(" >") or "callpay.invalid"
    return f"<callpay.{row.kind}.{row.id}@{domain}>"


def stamp_message_id(message: EmailMessage, row: Claimed, mail_from: str) -> None:
    del message["Message-ID"]
    message["Message-ID"] = stable_message_id(row, mail_from)


def backoff(attempts: int, *, base: timedelta = BACKOFF_BASE, cap: timedelta = BACKOFF_CAP) -> timedelta:
    """15 s, 30 s, 1 min, 2 min … capped at 2 h: a mail server that is down for a while isn't hammered."""
    return min(base * (1 << max(attempts - 1, 0)), cap)


class OutboxWorker:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        transport: MailTransport,
        *,
        mail_from: str,
        poll_interval: float = POLL_INTERVAL,
        lease: timedelta = LEASE,
        batch: int = BATCH,
        max_attempts: int = MAX_ATTEMPTS,
        backoff_base: timedelta = BACKOFF_BASE,
    ) -> None:
        self._sessions = sessions
        self._transport = transport
        self._mail_from = mail_from
        self._poll_interval = poll_interval
        self._lease = lease
        self._batch = batch
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """Look for due emails now rather than at the next poll (e.g. right after a payment)."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the email in hand, then return from :meth:`run`: a send is never cut off between SMTP's
        acceptance and the row being marked sent (which would send it again after the lease)."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Poll until stopped. A failure of one round is logged and the next round tries again."""
        while not self._stopping:
            try:
                await self.send_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox round failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval)

    async def send_due(self, *, now: datetime | None = None) -> int:
        """Send every due email this worker manages to claim; the number sent."""
        sent = 0
        for row_id in await self.due_ids(now=now):
            if self._stopping:
                break
            claimed = await self.claim(row_id, now=now)
            if claimed is not None and await self.deliver(claimed):
                sent += 1
        return sent

    async def due_ids(self, *, now: datetime | None = None) -> list[int]:
        now = now or datetime.now(UTC)
        async with self._sessions() as db:
            result = await db.execute(
                select(OutboxEmail.id)
                .where(*_due(now))
                .order_by(OutboxEmail.next_attempt_at, OutboxEmail.id)
                .limit(self._batch)
            )
            return list(result.scalars())

    async def claim(self, row_id: int, *, now: datetime | None = None) -> Claimed | None:
        """Take the row for this worker, or None when another worker holds it or it is no longer due."""
        now = now or datetime.now(UTC)
        lease_until = now + self._lease
        async with self._sessions.begin() as db:
            result = await db.execute(
                update(OutboxEmail).where(OutboxEmail.id == row_id, *_due(now)).values(locked_until=lease_until)
            )
            if rows_changed(result) != 1:
                return None
            row = await db.get_one(OutboxEmail, row_id)
            return Claimed(
                id=row.id,
                kind=row.kind,
                to_address=row.to_address,
                payment_request_id=row.payment_request_id,
                attempts=row.attempts,
                lease_until=lease_until,
                dedupe_key=row.dedupe_key,
            )

    async def deliver(self, row: Claimed) -> bool:
        """Build and send one claimed email, then record the outcome; True when it was sent."""
        try:
            builder = BUILDERS.get(row.kind)
            if builder is None:
                raise Undeliverable(f"no builder for {row.kind!r} emails")
            try:
                message = await builder(self._sessions, row, self._mail_from)
            except ValueError as exc:
                # e.g. a header that can't be encoded: no retry will change that, so don't make one twelve times.
                raise Undeliverable(f"the message can't be built: {exc}") from exc
            # The same Message-ID on every attempt: a copy sent again after a crash between SMTP's acceptance and
            # the row being marked sent is the same message, which mail systems drop as a duplicate.
            stamp_message_id(message, row, self._mail_from)
            await self._transport.send(message)
        except Undeliverable as exc:
            log.error("outbox email can't be sent", extra={"outbox_id": row.id, "reason": str(exc)})
            await self._finish(row, status="failed", error=str(exc))
            return False
        except MailError as exc:
            await self._retry_later(row, str(exc))
            return False
        except Exception as exc:
            log.exception("outbox email failed", extra={"outbox_id": row.id})
            await self._retry_later(row, type(exc).__name__)
            return False
        await self._finish(row, status="sent", error=None)
        log.info("outbox email sent", extra={"outbox_id": row.id, "kind": row.kind})
        return True

    async def _retry_later(self, row: Claimed, error: str) -> None:
        attempts = row.attempts + 1
        if attempts >= self._max_attempts:
            log.error("outbox email given up", extra={"outbox_id": row.id, "attempts": attempts, "reason": error})
            await self._finish(row, status="failed", error=error, attempts=attempts)
            return
        delay = backoff(attempts, base=self._backoff_base)
        log.warning(
            "outbox email will be retried",
            extra={"outbox_id": row.id, "attempts": attempts, "retry_in_s": delay.total_seconds(), "reason": error},
        )
        async with self._sessions.begin() as db:
            await db.execute(
                update(OutboxEmail)
                .where(OutboxEmail.id == row.id, OutboxEmail.locked_until == row.lease_until)
                .values(
                    attempts=attempts,
                    last_error=error,
                    next_attempt_at=datetime.now(UTC) + delay,
                    locked_until=None,
                )
            )

    async def _finish(self, row: Claimed, *, status: str, error: str | None, attempts: int | None = None) -> None:
        now = datetime.now(UTC)
        async with self._sessions.begin() as db:
            # Conditional on still holding the lease, so a worker that stalled past it can't overwrite the outcome.
            await db.execute(
                update(OutboxEmail)
                .where(OutboxEmail.id == row.id, OutboxEmail.locked_until == row.lease_until)
                .values(
                    status=status,
                    attempts=attempts if attempts is not None else row.attempts + 1,
                    last_error=error,
                    sent_at=now if status == "sent" else None,
                    locked_until=None,
                )
            )


def _due(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Pending, its time come, and no live lease: what a worker may take (and re-checks as it takes it)."""
    return (
        OutboxEmail.status == "pending",
        OutboxEmail.next_attempt_at <= now,
        or_(OutboxEmail.locked_until.is_(None), OutboxEmail.locked_until < now),
    )
