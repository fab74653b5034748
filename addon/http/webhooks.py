"""``POST /stripe/webhook``: verify the signature on the raw body, then hand the event to the service."""

from __future__ import annotations

import logging

from aiohttp import web

from addon.appkeys import DB, GATEWAY
from addon.gateway import InvalidSignature
from addon.publish import publish_after_commit
from addon.services import stripe_events

log = logging.getLogger("callpay.webhooks")
MAX_EVENT_BYTES = 512 * 1024


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
    context = stripe_events.EventContext(gateway=gateway)
    await stripe_events.prepare(request.app[DB], event, context)
    async with request.app[DB].begin() as db:
        events = await stripe_events.handle(db, event, context)
    await publish_after_commit(request.app, events)
    return web.json_response({"received": True})


def setup(app: web.Application) -> None:
    app.router.add_post("/stripe/webhook", receive)
