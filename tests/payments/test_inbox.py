"""The webhook inbox: Stripe gets its 2xx as soon as the event is kept; the work happens after, exactly once,
on whichever worker claims it, and an operator can see and replay what arrived."""

from __future__ import annotations

import asyncio
import copy
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from addon import db
from addon.appkeys import DB, DB_READ, GATEWAY, INBOX
from addon.gateway import WebhookEvent, webhook_event
from addon.models import StripeEventInbox
from addon.outbound import Outbound
from addon.services import inbox, stripe_events
from tests.support.payflow import PayStack, build_stack, paid_intent, receipts_queued, request_row


def with_new_id(event: dict[str, Any]) -> dict[str, Any]:
    again = copy.deepcopy(event)
    again["id"] = "evt_" + uuid.uuid4().hex[:24]
    return again


async def keep(stack: PayStack, event: dict[str, Any], **row: Any) -> None:
    """Store an event as another worker's webhook would have, without waking this app's processor."""
    async with stack.app[DB].begin() as session:
        assert await inbox.record(session, webhook_event(event), json.dumps(event).encode())
        kept = await session.get_one(StripeEventInbox, event["id"])
        for key, value in row.items():
            setattr(kept, key, value)


async def test_the_answer_does_not_wait_for_the_work(connected: PayStack, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = connected
    doctor, _, _, pr, intent = await paid_intent(stack)
    release = asyncio.Event()
    original = stripe_events.prepare

    async def slow_stripe(*args: Any) -> None:
        await release.wait()  # Stripe answering slowly, or a long queue for the database
        await original(*args)

    monkeypatch.setattr(stripe_events, "prepare", slow_stripe)
    event = await stack.event(intent["id"], "payment_intent.succeeded")
    started = time.monotonic()
    assert await stack.deliver(event, settle=False) == 200
    assert time.monotonic() - started < 2.0
    async with stack.app[DB_READ]() as session:
        row = await session.get_one(StripeEventInbox, event["id"])
        assert row.processed_at is None and row.type == "payment_intent.succeeded" and row.account == stack.account
        assert f'"id": "{event["id"]}"' in row.payload  # the raw body as Stripe sent it
    assert (await request_row(stack, pr["id"])).status == "requested"
    release.set()
    received = await doctor.wait_count("payment_received", 1)
    assert received[0]["id"] == pr["id"]
    row = await stack.settled(event["id"])
    assert row.processed_at is not None and row.attempts == 1 and row.last_error is None
    assert (await request_row(stack, pr["id"])).status == "paid"


async def test_a_redelivery_is_kept_once_and_worked_on_once(connected: PayStack) -> None:
    stack = connected
    doctor, _, _, pr, intent = await paid_intent(stack)
    event = await stack.event(intent["id"], "payment_intent.succeeded")
    statuses = await asyncio.gather(*(stack.deliver(event) for _ in range(5)))
    assert statuses == [200] * 5
    await doctor.wait_count("payment_received", 1)
    await stack.webhooks_settled()  # the sandbox delivers this event (and the others) itself as well
    async with stack.app[DB_READ]() as session:
        entries = await inbox.entries(session)
    assert [(e.id, e.status, e.attempts) for e in entries if e.id == event["id"]] == [(event["id"], "processed", 1)]
    assert len(stack.published.of("payment_received")) == 1
    assert await receipts_queued(stack, pr["id"]) == 1


async def test_events_kept_by_a_worker_that_died_are_processed_by_another(connected: PayStack) -> None:
    """One event stored but never started, one whose worker died holding its lease: both are done, once."""
    stack = connected
    doctor, _, _, pr, intent = await paid_intent(stack)
    # Ids of their own: the sandbox delivers the real event by itself too, and may have kept it already.
    event = with_new_id(await stack.event(intent["id"], "payment_intent.succeeded"))
    stale = with_new_id(event)
    await keep(stack, event)
    await keep(stack, stale, attempts=1, locked_until=datetime.now(UTC) - timedelta(seconds=1))
    await doctor.wait_count("payment_received", 1, wait=10)  # found by the processor's poll, not woken
    for event_id in (event["id"], stale["id"]):
        assert (await stack.settled(event_id)).processed_at is not None
    assert len(stack.published.of("payment_received")) == 1
    assert (await request_row(stack, pr["id"])).status == "paid"


async def test_two_workers_on_one_database_process_each_event_exactly_once(connected: PayStack) -> None:
    stack = connected
    _, _, _, pr, intent = await paid_intent(stack)
    await stack.webhooks_settled()  # what the sandbox delivers by itself is done before the two workers start
    event = await stack.event(intent["id"], "payment_intent.succeeded")
    batch = [with_new_id(event) for _ in range(8)]
    # A second worker: its own engine and its own publisher, sharing the database.
    engine = db.create_engine(stack.settings.database_url)
    other_published: list[Outbound] = []

    async def other_publish(events: Any) -> None:
        other_published.extend(events)

    other = inbox.InboxProcessor(
        db.read_session_factory(engine), db.session_factory(engine), stack.app[GATEWAY], other_publish
    )
    ran: list[str] = []
    original = stripe_events.handle

    async def counting(session: Any, e: WebhookEvent, context: Any) -> list[Outbound]:
        ran.append(e.id)
        return await original(session, e, context)

    try:
        stack.app[INBOX].stop()  # this app's own loop steps aside; both "workers" run process_due by hand
        await asyncio.sleep(0.1)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(stripe_events, "handle", counting)
            for e in batch:
                await keep(stack, e)
            counts = await asyncio.gather(stack.app[INBOX].process_due(), other.process_due())
    finally:
        await engine.dispose()
    assert sum(counts) == len(batch)
    assert sorted(ran) == sorted(e["id"] for e in batch)  # each event dispatched once, by one worker or the other
    announced = stack.published.of("payment_received") + [e for e in other_published if e.event == "payment_received"]
    assert len(announced) == 1
    assert await receipts_queued(stack, pr["id"]) == 1
    assert (await request_row(stack, pr["id"])).status == "paid"


async def test_a_failing_event_is_retried_given_up_then_replayed(
    connected: PayStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = connected
    doctor, _, _, pr, intent = await paid_intent(stack)
    monkeypatch.setattr(inbox, "MAX_ATTEMPTS", 3)
    monkeypatch.setattr(inbox, "backoff", lambda _attempts: timedelta(0))
    original = stripe_events.handlers

    async def broken(*_args: Any) -> list[Outbound]:
        raise RuntimeError("a bug in the handler")

    monkeypatch.setattr(stripe_events, "handlers", lambda: {"payment_intent.succeeded": broken})
    event = await stack.event(intent["id"], "payment_intent.succeeded")
    assert await stack.deliver(event, settle=False) == 200

    async def given_up() -> inbox.InboxEntry:
        while True:
            async with stack.app[DB_READ]() as session:
                found = await inbox.entry(session, event["id"])
            if found is not None and found.status == "failed" and found.attempts == 3:
                return found
            await asyncio.sleep(0.02)

    failed = await asyncio.wait_for(given_up(), 10)
    assert failed.last_error == "RuntimeError: a bug in the handler" and failed.processed_at is None
    async with stack.app[DB_READ]() as session:
        assert [e.id for e in await inbox.entries(session, status="failed")] == [event["id"]]
    assert (await request_row(stack, pr["id"])).status == "requested"
    assert stack.published.of("payment_received") == []

    monkeypatch.setattr(stripe_events, "handlers", original)  # the bug is fixed and deployed
    async with stack.app[DB].begin() as session:
        assert await inbox.replay(session, event["id"])
        assert not await inbox.replay(session, "evt_not_kept")
    stack.app[INBOX].wake()
    await doctor.wait_count("payment_received", 1)
    row = await stack.settled(event["id"])
    assert row.processed_at is not None and row.last_error is None and row.attempts == 1
    assert (await request_row(stack, pr["id"])).status == "paid"


async def test_replaying_a_processed_event_applies_it_again_without_doubling_anything(connected: PayStack) -> None:
    stack = connected
    doctor, _, _, pr, intent = await paid_intent(stack)
    event = await stack.event(intent["id"], "payment_intent.succeeded")
    assert await stack.deliver(event) == 200
    await stack.webhooks_settled()  # nothing the sandbox delivers by itself can land inside the replay below
    first = await stack.settled(event["id"])
    await doctor.wait_count("payment_received", 1)
    ran: list[str] = []
    original = stripe_events.handle

    async def counting(session: Any, e: WebhookEvent, context: Any) -> list[Outbound]:
        ran.append(e.id)
        return await original(session, e, context)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stripe_events, "handle", counting)
        async with stack.app[DB].begin() as session:
            assert await inbox.replay(session, event["id"])
        stack.app[INBOX].wake()

        async def reprocessed() -> StripeEventInbox:
            while True:
                row = await stack.settled(event["id"])
                if row.processed_at is not None and row.processed_at > (first.processed_at or row.processed_at):
                    return row
                await asyncio.sleep(0.02)

        await asyncio.wait_for(reprocessed(), 10)
    assert ran == [event["id"]]  # the dispatch ran again rather than being skipped as a duplicate
    await asyncio.sleep(0.2)
    assert len(doctor.of("payment_received")) == 1
    assert len(stack.published.of("payment_received")) == 1
    assert await receipts_queued(stack, pr["id"]) == 1
    row = await request_row(stack, pr["id"])
    assert row.status == "paid" and row.receipt_number == "000001"


@pytest.fixture
async def web_only(
    sandbox: Any, database_url: str, aiohttp_client: Any, http: Any
) -> AsyncIterator[PayStack]:
    """A web worker as a busy deployment runs it (CALLPAY_BACKGROUND=off), receiving only the events a test sends."""
    built = await build_stack(sandbox, database_url, aiohttp_client, http, sandbox_delivers=False, background="off")
    assert built.settings.background is False
    await built.connect_clinic()
    yield built
    for user in built.sockets:
        await user.close()


async def test_a_web_worker_without_background_jobs_works_on_the_event_it_kept(web_only: PayStack) -> None:
    stack = web_only
    doctor, _, _, pr, intent = await paid_intent(stack)
    event = await stack.event(intent["id"], "payment_intent.succeeded")
    statuses = await asyncio.gather(*(stack.deliver(event, settle=False) for _ in range(3)))
    assert statuses == [200] * 3
    # No polling round runs in this process (see the next test): the pop-up is this worker's own doing.
    received = await doctor.wait_count("payment_received", 1, wait=10)
    assert received[0]["id"] == pr["id"]
    row = await stack.settled(event["id"])
    assert row.processed_at is not None and row.attempts == 1 and row.last_error is None
    await asyncio.sleep(0.3)
    assert len(stack.published.of("payment_received")) == 1
    assert await receipts_queued(stack, pr["id"]) == 1
    assert (await request_row(stack, pr["id"])).status == "paid"


async def test_a_web_worker_without_background_jobs_leaves_other_workers_events_to_the_worker(
    web_only: PayStack,
) -> None:
    """Retries and events another process kept are the inbox's polling round: `callpay worker`'s, not this one's."""
    stack = web_only
    _, _, _, pr, intent = await paid_intent(stack)
    event = with_new_id(await stack.event(intent["id"], "payment_intent.succeeded"))
    await keep(stack, event)
    await asyncio.sleep(inbox.POLL_INTERVAL + 0.5)
    async with stack.app[DB_READ]() as session:
        kept = await inbox.entry(session, event["id"])
    assert kept is not None and kept.status == "pending" and kept.attempts == 0
    assert (await request_row(stack, pr["id"])).status == "requested"
    # The background worker's round (the same processor class, on the same database) does it, once.
    assert await stack.app[INBOX].process_due() == 1
    assert (await stack.settled(event["id"])).processed_at is not None
    assert (await request_row(stack, pr["id"])).status == "paid"
