"""The patient's two payment calls: start checkout, and report what Stripe.js said.

Each handler parses, calls one service inside one transaction, publishes that service's events after the commit,
and answers. Stripe and SQL stay in the services.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from addon.appkeys import DB, GATEWAY, OUTBOX, SETTINGS
from addon.http.auth import principal
from addon.http.json import read_json
from addon.outbound import Outbound, publish_after_commit
from addon.services import checkout, payments


def wake_outbox(app: web.Application, events: Sequence[Outbound]) -> None:
    """A payment announced means its receipt was queued in the transaction just committed: send it now, not at the
    outbox's next poll."""
    if OUTBOX in app and any(event.event == "payment_received" for event in events):
        app[OUTBOX].wake()


async def start_checkout(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = await read_json(request)
    app = request.app
    session = await checkout.checkout(app[DB], app[GATEWAY], app[SETTINGS], caller, request.match_info["id"], body)
    return web.json_response(session.to_json())


async def confirmation(request: web.Request) -> web.Response:
    caller = await principal(request)
    app = request.app
    body, events = await payments.confirm_from_browser(app[DB], app[GATEWAY], caller, request.match_info["id"])
    await publish_after_commit(app, events)
    wake_outbox(app, events)
    return web.json_response(body)


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/payment-requests/{id}/checkout", start_checkout)
    app.router.add_post("/api/v1/payment-requests/{id}/confirmation", confirmation)
