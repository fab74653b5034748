"""A transaction is all or nothing on both databases, savepoints included.

SQLite's Python driver, left to itself, sends no BEGIN before a SAVEPOINT, so a savepoint that opens a
transaction commits on its own at RELEASE. The webhook's dedupe row is written that way; if it committed alone, a
handler failure would leave the event marked processed and Stripe's retry would be ignored.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from addon import db
from addon.app import create_app
from addon.appkeys import DB, DB_READ, INBOX
from addon.gateway import WebhookEvent
from addon.models import ProcessedStripeEvent, StripeEventInbox
from addon.outbound import Outbound
from addon.services import inbox, stripe_events
from tests.conftest import make_settings, stripe_signature


@pytest.fixture(params=["sqlite", "postgres"])
def any_database(request: pytest.FixtureRequest) -> str:
    name = "database_url" if request.param == "sqlite" else "migrated_postgres_url"
    url: str = request.getfixturevalue(name)
    return url


async def test_a_savepoint_that_opens_a_transaction_rolls_back_with_it(any_database: str) -> None:
    engine = db.create_engine(any_database)
    sessions = db.session_factory(engine)
    try:
        with pytest.raises(RuntimeError):
            async with sessions.begin() as session:
                async with session.begin_nested():
                    session.add(ProcessedStripeEvent(id="evt_savepoint", type="payment_intent.succeeded"))
                raise RuntimeError("the work after the savepoint failed")
        async with sessions() as session:
            assert await session.get(ProcessedStripeEvent, "evt_savepoint") is None
    finally:
        await engine.dispose()


async def test_a_webhook_whose_handler_fails_is_handled_again_by_the_inbox(
    any_database: str, aiohttp_client: Callable[..., Awaitable[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stripe has its 2xx at once; the failed attempt rolls back whole (the dedupe row included, which is what the
    savepoint test above guards), so the inbox's retry runs the handler again, and a redelivery doesn't."""
    attempts: list[str] = []

    async def fails_once(
        _db: AsyncSession, event: WebhookEvent, _context: stripe_events.EventContext
    ) -> list[Outbound]:
        attempts.append(event.id)
        if len(attempts) == 1:
            raise RuntimeError("a passing failure inside the handler")
        return []

    monkeypatch.setattr(stripe_events, "handlers", lambda: {"payment_intent.succeeded": fails_once})
    monkeypatch.setattr(inbox, "backoff", lambda _attempts: timedelta(0))
    app = create_app(make_settings(any_database))
    client = await aiohttp_client(app)
    event = {
        "id": "evt_retry_1",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": 1,
        "account": "acct_1",
        "data": {"object": {"id": "pi_1", "object": "payment_intent"}},
    }
    body = json.dumps(event).encode()
    signature = stripe_signature(body, "whsec_test_secret")

    first = await client.post("/stripe/webhook", data=body, headers={"Stripe-Signature": signature})
    assert first.status == 200  # kept: the work is the inbox's now, not Stripe's retry
    row = await _settled(app, "evt_retry_1")
    assert row.processed_at is not None and row.last_error is None and row.attempts == 2
    duplicate = await client.post("/stripe/webhook", data=body, headers={"Stripe-Signature": signature})
    assert duplicate.status == 200
    assert await app[INBOX].process_due() == 0
    assert attempts == ["evt_retry_1", "evt_retry_1"]  # the retry ran the handler; the duplicate did not
    async with app[DB]() as session:
        assert await session.get(ProcessedStripeEvent, "evt_retry_1") is not None


async def _settled(app: web.Application, event_id: str) -> StripeEventInbox:
    async def until() -> StripeEventInbox:
        while True:
            async with app[DB_READ]() as session:
                row = await session.get(StripeEventInbox, event_id)
            if row is not None and row.processed_at is not None:
                return row
            await asyncio.sleep(0.02)

    return await asyncio.wait_for(until(), 10)
