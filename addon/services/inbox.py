"""The Stripe event inbox: a verified event is kept first and worked on after Stripe has its 2xx.

Stripe wants a 2xx quickly and sends again past its timeout, so the webhook only verifies the signature and stores
the raw event here (one row per event id: a redelivery stores nothing). :class:`InboxProcessor` does the work
after, exactly once:

- A processor claims a due row with one conditional UPDATE (no live lease → a lease of its own), so several
  workers, or a worker and an operator's replay, never run one event at once. A lease lapses only when its worker
  died mid-event; then another takes the row up.
- It runs the existing dispatch (:mod:`addon.services.stripe_events`: prepare outside the transaction, then dedupe
  by event id and apply) and marks the row processed *in the dispatch's own transaction*, so the row says
  processed exactly when the change was committed. The realtime events go out after that commit.
- A failure rolls the whole change back, keeps the error on the row and retries with backoff; after
  :data:`MAX_ATTEMPTS` the row waits for an operator (``callpay events list --failed``, ``callpay events replay``).

:meth:`InboxProcessor.run` is the one entry point a process needs: the app runs it as a background task, and a
separate worker process can run the same loop against the same database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import BindParameter, ColumnElement, bindparam, delete, or_, select, update
from sqlalchemy.exc import SQLAlchemyError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from addon.dbutil import insert_ignoring_conflict, rows_changed, table_of
from addon.gateway import StripeGateway, WebhookEvent, webhook_event
from addon.models import ProcessedStripeEvent, StripeEventInbox
from addon.outbound import Outbound
from addon.services import stripe_events

log = logging.getLogger("callpay.webhooks")

POLL_INTERVAL = 2.0
# Longer than a Stripe read with the SDK's retries and a transaction can take.
LEASE = timedelta(minutes=2)
# Events worked on at once by one process: a burst of payments isn't served one Stripe round trip at a time.
CONCURRENCY = 8
MAX_ATTEMPTS = 20
BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_CAP = timedelta(hours=1)
ERROR_LENGTH = 1000

Publish = Callable[[Sequence[Outbound]], Awaitable[None]]


class LeaseLost(Exception):
    """This processor's lease lapsed and the row was taken by another: its work is rolled back, the other's stands."""


@dataclass(frozen=True)
class Claimed:
    event: WebhookEvent
    attempts: int
    lease_until: datetime


@dataclass(frozen=True)
class InboxEntry:
    """One stored event as an operator sees it."""

    id: str
    type: str
    account: str | None
    received_at: datetime
    processed_at: datetime | None
    attempts: int
    next_attempt_at: datetime
    last_error: str | None

    @property
    def status(self) -> str:
        if self.processed_at is not None:
            return "processed"
        if self.attempts >= MAX_ATTEMPTS:
            return "failed"
        return "retrying" if self.attempts else "pending"


async def record(db: AsyncSession, event: WebhookEvent, payload: bytes, *, now: datetime | None = None) -> bool:
    """Keep a verified event, in the caller's transaction; False when its id is kept already (a redelivery)."""
    now = now or datetime.now(UTC)
    return await insert_ignoring_conflict(
        db,
        StripeEventInbox,
        {
            "id": event.id,
            "type": event.type,
            "account": event.account,
            "payload": payload.decode("utf-8"),
            "received_at": now,
            "attempts": 0,
            "next_attempt_at": now,
        },
        ["id"],
    )


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s … capped at an hour: Stripe or a bug that is down for a while isn't hammered."""
    return min(BACKOFF_BASE * (1 << min(max(attempts - 1, 0), 20)), BACKOFF_CAP)


def describe(exc: BaseException) -> str:
    """What went wrong, for the row and the log: a database error's statement and parameters (patients' emails,
    client secrets) are left out."""
    if isinstance(exc, StatementError) and exc.orig is not None:
        return f"{type(exc).__name__} ({type(exc.orig).__name__})"
    if isinstance(exc, SQLAlchemyError):
        return type(exc).__name__
    return f"{type(exc).__name__}: {exc}"[:ERROR_LENGTH]


class InboxProcessor:
    def __init__(
        self,
        read_sessions: async_sessionmaker[AsyncSession],
        sessions: async_sessionmaker[AsyncSession],
        gateway: StripeGateway,
        publish: Publish,
        *,
        poll_interval: float = POLL_INTERVAL,
        lease: timedelta = LEASE,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self._read = read_sessions
        self._sessions = sessions
        self._gateway = gateway
        self._publish = publish
        self._poll_interval = poll_interval
        self._lease = lease
        self._concurrency = concurrency
        self._wake = asyncio.Event()
        self._stopping = False
        self._in_flight: set[asyncio.Task[bool]] = set()
        # Events this process kept and works on itself (:meth:`take`), ``concurrency`` at once.
        self._taken: set[asyncio.Task[bool]] = set()
        self._room = asyncio.Semaphore(concurrency)

    def wake(self) -> None:
        """Look for due events now rather than at the next poll (a webhook just stored one)."""
        self._wake.set()

    def stop(self) -> None:
        """Take no new event; :meth:`run` returns once the events in hand are done."""
        self._stopping = True
        self._wake.set()

    def take(self, event: WebhookEvent) -> None:
        """Work on an event this process has just kept, in a task of its own: claimed first, like any other, so a
        poller that got to it first (or a second delivery's) leaves it to that one."""
        task = asyncio.create_task(self._take(event), name=f"callpay-event-{event.id}")
        self._taken.add(task)
        task.add_done_callback(self._taken.discard)

    async def _take(self, event: WebhookEvent) -> bool:
        async with self._room:
            if self._stopping:
                return False  # due, and left for the next process's round
            try:
                claimed = await self.claim(event.id, known=event)
            except Exception:
                log.exception(
                    "claiming a stripe event failed; left for the next round", extra={"stripe_event": event.id}
                )
                return False
            if claimed is None:
                return False
            done = await self.process(claimed)
            if not done:
                self._wake.set()  # a retry due at once is the polling round's (where one runs) to take
            return done

    async def drain(self, grace: float) -> None:
        """Wait up to ``grace`` seconds for the events taken with :meth:`take`, then cut off what is left."""
        if not self._taken:
            return
        _done, pending = await asyncio.wait(set(self._taken), timeout=grace)
        for late in pending:
            late.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def run(self) -> None:
        """Claim and process due events until stopped, up to ``concurrency`` at once, so one slow Stripe call never
        holds up the events behind it. A failed round is logged and the next one tries again."""
        while not self._stopping:
            self._wake.clear()
            try:
                room = self._concurrency - len(self._in_flight)
                for claimed in await self.claim_due(limit=room) if room > 0 else []:
                    task = asyncio.create_task(self.process(claimed), name=f"callpay-event-{claimed.event.id}")
                    self._in_flight.add(task)
                    task.add_done_callback(self._done)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("stripe event inbox round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval)
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    def _done(self, task: asyncio.Task[bool]) -> None:
        self._in_flight.discard(task)
        self._wake.set()  # room for another, and there may be more due

    async def process_due(self, *, now: datetime | None = None) -> int:
        """Process every event due now, once each; the number processed. (A round of :meth:`run`, for a one-off.)"""
        processed = 0
        while claimed := await self.claim_due(limit=self._concurrency, now=now):
            results = await asyncio.gather(*(self.process(c) for c in claimed))
            processed += sum(results)
        return processed

    async def claim_due(self, *, limit: int, now: datetime | None = None) -> list[Claimed]:
        now = now or datetime.now(UTC)
        async with self._read() as db:
            ids = list(
                await db.scalars(
                    select(StripeEventInbox.id)
                    .where(*_due(now))
                    .order_by(StripeEventInbox.next_attempt_at, StripeEventInbox.received_at)
                    .limit(limit)
                )
            )
        claimed = [await self.claim(event_id, now=now) for event_id in ids]
        return [c for c in claimed if c is not None]

    async def claim(
        self, event_id: str, *, now: datetime | None = None, known: WebhookEvent | None = None
    ) -> Claimed | None:
        """Take the event for this processor, or None when another holds it or it is no longer due. One statement:
        the conditional UPDATE hands back what the processor needs (the stored event, unless ``known``: the one
        this process has just verified and kept)."""
        now = now or datetime.now(UTC)
        lease_until = now + self._lease
        statement = _CLAIM_KNOWN if known is not None else _CLAIM
        async with self._sessions.begin() as db:
            taken = (
                await db.execute(statement, {"event_id": event_id, "now": now, "lease_until": lease_until})
            ).one_or_none()
        if taken is None:
            return None
        attempts = cast(int, taken[0])
        if known is not None:
            return Claimed(event=known, attempts=attempts, lease_until=lease_until)
        try:
            event = webhook_event(json.loads(str(taken[1])))
        except (ValueError, KeyError, TypeError) as exc:
            # It verified and parsed when it arrived, so this is a stored row damaged since: no retry mends it.
            await self._give_up(event_id, lease_until, describe(exc))
            return None
        return Claimed(event=event, attempts=attempts, lease_until=lease_until)

    async def process(self, claimed: Claimed) -> bool:
        """Run the dispatch for one claimed event and mark it processed with it; True when it was processed."""
        event = claimed.event
        context = stripe_events.EventContext(gateway=self._gateway)
        try:
            # Preparers only read (and call Stripe), so their sessions can't take the write lock.
            await stripe_events.prepare(self._read, event, context)
            async with self._sessions.begin() as db:
                events = await stripe_events.handle(db, event, context)
                marked = await db.execute(
                    _MARK_PROCESSED,
                    {"event_id": event.id, "lease_until": claimed.lease_until, "done_at": datetime.now(UTC)},
                )
                if rows_changed(marked) != 1:
                    raise LeaseLost(event.id)
        except LeaseLost:
            log.warning("stripe event lease lapsed; left to its new holder", extra={"stripe_event": event.id})
            return False
        except Exception as exc:
            await self._retry_later(claimed, exc)
            return False
        log.info("stripe event processed", extra={"stripe_event": event.id, "type": event.type})
        if events:
            try:
                await self._publish(events)
            except Exception:
                log.exception("publishing a stripe event's changes failed", extra={"stripe_event": event.id})
        return True

    async def _retry_later(self, claimed: Claimed, exc: Exception) -> None:
        error = describe(exc)
        delay = backoff(claimed.attempts)
        level = logging.ERROR if claimed.attempts >= MAX_ATTEMPTS else logging.WARNING
        log.log(
            level,
            "stripe event failed" + (", given up until replayed" if level == logging.ERROR else ", will retry"),
            extra={
                "stripe_event": claimed.event.id,
                "type": claimed.event.type,
                "attempts": claimed.attempts,
                "retry_in_s": delay.total_seconds(),
                "reason": error,
            },
            exc_info=(type(exc), exc, exc.__traceback__) if not isinstance(exc, SQLAlchemyError) else None,
        )
        async with self._sessions.begin() as db:
            await db.execute(
                update(StripeEventInbox)
                .where(StripeEventInbox.id == claimed.event.id, StripeEventInbox.locked_until == claimed.lease_until)
                .values(last_error=error, next_attempt_at=datetime.now(UTC) + delay, locked_until=None)
            )

    async def _give_up(self, event_id: str, lease_until: datetime, error: str) -> None:
        log.error("stored stripe event unreadable", extra={"stripe_event": event_id, "reason": error})
        async with self._sessions.begin() as db:
            await db.execute(
                update(StripeEventInbox)
                .where(StripeEventInbox.id == event_id, StripeEventInbox.locked_until == lease_until)
                .values(last_error=error, attempts=MAX_ATTEMPTS, locked_until=None)
            )


def _due(now: datetime | BindParameter[datetime]) -> tuple[ColumnElement[bool], ...]:
    """Not processed, its time come, attempts left, and no live lease: what a processor may take."""
    return (
        _INBOX.c.processed_at.is_(None),
        _INBOX.c.next_attempt_at <= now,
        _INBOX.c.attempts < MAX_ATTEMPTS,
        or_(_INBOX.c.locked_until.is_(None), _INBOX.c.locked_until < now),
    )


# A payment's webhook runs these every time: Core statements built once, with bound values (building the ORM
# statement on every call cost more CPU than SQLite spent running it).
_INBOX = table_of(StripeEventInbox)
_NOW = bindparam("now", type_=_INBOX.c.next_attempt_at.type)
_LEASE = bindparam("lease_until", type_=_INBOX.c.locked_until.type)
_ONE = _INBOX.c.id == bindparam("event_id", type_=_INBOX.c.id.type)
_CLAIM_KNOWN = (
    update(_INBOX)
    .where(_ONE, *_due(_NOW))
    .values(locked_until=_LEASE, attempts=_INBOX.c.attempts + 1)
    .returning(_INBOX.c.attempts)
)
_CLAIM = _CLAIM_KNOWN.returning(_INBOX.c.payload)
_MARK_PROCESSED = (
    update(_INBOX)
    .where(_ONE, _INBOX.c.locked_until == _LEASE)
    .values(processed_at=bindparam("done_at", type_=_INBOX.c.processed_at.type), locked_until=None, last_error=None)
)


# --- For operators ---------------------------------------------------------------------------------------------


def _entry(row: StripeEventInbox) -> InboxEntry:
    return InboxEntry(
        id=row.id,
        type=row.type,
        account=row.account,
        received_at=row.received_at,
        processed_at=row.processed_at,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
    )


async def entries(db: AsyncSession, *, status: str | None = None, limit: int = 50) -> list[InboxEntry]:
    """The newest stored events, optionally only those ``pending`` (not processed yet) or ``failed`` (given up)."""
    query = select(StripeEventInbox).order_by(StripeEventInbox.received_at.desc()).limit(limit)
    if status == "pending":
        query = query.where(StripeEventInbox.processed_at.is_(None), StripeEventInbox.attempts < MAX_ATTEMPTS)
    elif status == "failed":
        query = query.where(StripeEventInbox.processed_at.is_(None), StripeEventInbox.attempts >= MAX_ATTEMPTS)
    return [_entry(row) for row in await db.scalars(query)]


async def entry(db: AsyncSession, event_id: str) -> InboxEntry | None:
    row = await db.get(StripeEventInbox, event_id)
    return _entry(row) if row is not None else None


async def payload_of(db: AsyncSession, event_id: str) -> str | None:
    row = await db.get(StripeEventInbox, event_id)
    return row.payload if row is not None else None


async def replay(db: AsyncSession, event_id: str, *, now: datetime | None = None) -> bool:
    """Queue a stored event to be processed again, whatever happened to it before; False when it isn't stored.

    Its processed-id mark goes in the same transaction, so the dispatch runs again rather than being skipped as a
    duplicate. That is safe by construction: every handler changes state with conditional UPDATEs and payments are
    re-read from Stripe, so a replay applies what is true now and announces, numbers or emails nothing twice.
    """
    now = now or datetime.now(UTC)
    queued = await db.execute(
        update(StripeEventInbox)
        .where(StripeEventInbox.id == event_id)
        .values(processed_at=None, attempts=0, next_attempt_at=now, locked_until=None, last_error=None)
    )
    if rows_changed(queued) != 1:
        return False
    await db.execute(delete(ProcessedStripeEvent).where(ProcessedStripeEvent.id == event_id))
    return True
