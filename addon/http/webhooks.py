"""``POST /stripe/webhook``: verify the signature on the raw body, keep the event in the inbox, answer 2xx.

The work (a Stripe read, a transaction, the pop-up) happens after, in the inbox processor this module runs with
the app, so Stripe's answer never waits for it: a burst of payments can't push answers past Stripe's timeout and
get every event sent again. If the event can't be stored the answer is a 500, and Stripe sends it again.
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
    if stored and INBOX in request.app:
        request.app[INBOX].wake()
    return web.json_response({"received": True})


def setup(app: web.Application) -> None:
    app.router.add_post("/stripe/webhook", receive)
    background.job(app, _inbox_processor)


async def _inbox_processor(app: web.Application) -> AsyncIterator[None]:
    async def publish(events: Sequence[Outbound]) -> None:
        await publish_after_commit(app, events)

    processor = inbox.InboxProcessor(app[DB_READ], app[DB], app[GATEWAY], publish)
    app[INBOX] = processor
    # Events stored before a restart (or by a worker that died) are picked up on the first round.
    task = asyncio.create_task(processor.run(), name="callpay-stripe-inbox")
    try:
        yield
    finally:
        processor.stop()
        try:
            await asyncio.wait_for(asyncio.shield(task), SHUTDOWN_GRACE)
        except TimeoutError:
            # Cut off mid-event, its transaction rolls back and its lease lapses: it is processed after a restart.
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
