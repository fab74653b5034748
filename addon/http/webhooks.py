"""``POST /stripe/webhook``: verify the signature on the raw body, keep the event in the inbox, answer 2xx.

The work (a Stripe read, a transaction, the pop-up) happens after, so Stripe's answer never waits for it: a burst
of payments can't push answers past Stripe's timeout and get every event sent again. If the event can't be stored
the answer is a 500, and Stripe sends it again.

The process that kept an event works on it itself, once the answer is on its way (:meth:`InboxProcessor.take`),
whether or not it runs background jobs: a web worker started with ``CALLPAY_BACKGROUND=off`` still turns a
payment into the clinician's pop-up at once, without a poll or a hand-off to ``callpay worker``. The inbox's
polling loop (events kept by a worker that died, retries) is a background job like the others. Both claim the row
before working on it, so an event is worked on once whichever gets to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from addon import background, metrics
from addon.appkeys import DB, DB_READ, GATEWAY, INBOX
from addon.gateway import InvalidSignature, MalformedEvent
from addon.outbound import Outbound
from addon.publish import publish_after_commit
from addon.services import inbox

log = logging.getLogger("callpay.webhooks")
MAX_EVENT_BYTES = 512 * 1024
# Longer than one event's Stripe read and transaction normally take, shorter than a platform's stop timeout.
SHUTDOWN_GRACE = 10.0


async def receive(request: web.Request) -> web.Response:
    if request.content_length is not None and request.content_length > MAX_EVENT_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_EVENT_BYTES, actual_size=request.content_length)
    payload = await request.read()
    gateway = request.app[GATEWAY]
    try:
        event = gateway.parse_webhook(payload, request.headers.get("Stripe-Signature"))
    except InvalidSignature as exc:
        log.warning("stripe webhook refused", extra={"reason": str(exc)})
        return web.json_response(
            {"error": {"code": "bad_signature", "message": "The Stripe-Signature header does not verify."}}, status=400
        )
    except MalformedEvent as exc:
        log.warning("stripe webhook refused", extra={"reason": str(exc)})
        return web.json_response(
            {"error": {"code": "invalid", "message": "The body is signed but is not a Stripe event."}}, status=400
        )
    metrics.webhook_received(request.app, event.created)
    async with request.app[DB].begin() as db:
        stored = await inbox.record(db, event, payload)
    if stored:
        # Scheduled now, it starts once this handler has returned the answer to aiohttp.
        request.app[INBOX].take(event)
    return web.json_response({"received": True})


def setup(app: web.Application) -> None:
    app.router.add_post("/stripe/webhook", receive)
    app.cleanup_ctx.append(_inbox)
    background.job(app, _inbox_poller)


async def _inbox(app: web.Application) -> AsyncIterator[None]:
    """Every process has the processor: it works on the events this process keeps (see the module's notes)."""

    async def publish(events: Sequence[Outbound]) -> None:
        await publish_after_commit(app, events)

    processor = inbox.InboxProcessor(app[DB_READ], app[DB], app[GATEWAY], publish)
    app[INBOX] = processor
    try:
        yield
    finally:
        processor.stop()
        # Cut off mid-event, its transaction rolls back and its lease lapses: another worker, or this one after a
        # restart, processes it; one not yet claimed is due already.
        await processor.drain(SHUTDOWN_GRACE)


async def _inbox_poller(app: web.Application) -> AsyncIterator[None]:
    """The background round: events stored before a restart, by a worker that died, or waiting for a retry."""
    processor = app[INBOX]
    task = asyncio.create_task(processor.run(), name="callpay-stripe-inbox")
    try:
        yield
    finally:
        processor.stop()
        try:
            await asyncio.wait_for(asyncio.shield(task), SHUTDOWN_GRACE)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
