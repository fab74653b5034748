"""The patient's payment calls: start checkout, say they are paying (or stopped), and report what Stripe.js said.

Each handler parses, calls one service (which keeps its transactions short and Stripe calls outside them),
publishes that service's events after the commit, and answers. Stripe and SQL stay in the services.
"""

from __future__ import annotations

from aiohttp import web

from addon.appkeys import DB, GATEWAY, SETTINGS
from addon.http.auth import principal
from addon.http.json import read_body, respond
from addon.http.limits import client_address, limit
from addon.publish import publish_after_commit
from addon.services import checkout, pay_all_offer, paying, payments
from addon.wire.payments import CallCheckoutBody, Checkout, CheckoutBody, PayAllOffer, PayingBody


async def limit_checkout(request: web.Request, user_id: int) -> None:
    """Each checkout may be a Stripe call: per patient and per address."""
    await limit(request, ("checkout-user", str(user_id)), ("checkout-ip", client_address(request)))


async def start_checkout(request: web.Request) -> web.Response:
    caller = await principal(request)
    await limit_checkout(request, caller.user_id)
    body = await read_body(request, CheckoutBody)
    app = request.app
    session = await checkout.checkout(
        app[DB], app[GATEWAY], app[SETTINGS], caller, request.match_info["id"], body.model_dump()
    )
    # Its clinician sees that the patient is paying now (the page goes on to say more, or that they stopped).
    async with app[DB].begin() as db:
        events = await paying.checkout_opened(db, caller, request.match_info["id"], seen=session.request)
    await publish_after_commit(app, events)
    return respond(Checkout(**session.to_json()))


async def report_paying(request: web.Request) -> web.Response:
    caller = await principal(request)
    # Each report may write the request and tell the call: the page sends a few a minute at most.
    await limit(request, ("paying-user", str(caller.user_id)))
    body = await read_body(request, PayingBody)
    app = request.app
    async with app[DB].begin() as db:
        outcome = await paying.report(db, caller, request.match_info["id"], body.step)
    await publish_after_commit(app, outcome.events)
    return respond(outcome.payment_request)


async def start_call_checkout(request: web.Request) -> web.Response:
    """Pay all: several open requests of the call with one PaymentIntent."""
    caller = await principal(request)
    await limit_checkout(request, caller.user_id)
    body = await read_body(request, CallCheckoutBody)
    app = request.app
    session = await checkout.checkout_call(
        app[DB], app[GATEWAY], app[SETTINGS], caller, request.match_info["call"], body.model_dump()
    )
    # As for one request: the clinician sees the patient paying each of them, so a cancel asks again.
    async with app[DB].begin() as db:
        events = await paying.set_opened(db, caller, body.payment_requests)
    await publish_after_commit(app, events)
    return respond(Checkout(**session.to_json()))


async def pay_all_offered(request: web.Request) -> web.Response:
    """What this patient may pay at once: read fresh (not from a replica), as it follows every change live."""
    caller = await principal(request)
    async with request.app[DB]() as db:
        found = await pay_all_offer.offer(db, caller, request.match_info["call"])
    return respond(
        PayAllOffer(
            payment_requests=found.payment_requests,
            count=found.count,
            amount=found.amount,
            currency=found.currency,
            amount_display=found.amount_display,
        )
    )


async def confirmation(request: web.Request) -> web.Response:
    caller = await principal(request)
    await limit_checkout(request, caller.user_id)
    app = request.app
    body, events = await payments.confirm_from_browser(app[DB], app[GATEWAY], caller, request.match_info["id"])
    await publish_after_commit(app, events)
    return respond(body)


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/payment-requests/{id}/checkout", start_checkout)
    app.router.add_post("/api/v1/payment-requests/{id}/confirmation", confirmation)
    app.router.add_post("/api/v1/payment-requests/{id}/paying", report_paying)
    app.router.add_post("/api/v1/calls/{call}/checkout", start_call_checkout)
    app.router.add_get("/api/v1/calls/{call}/pay-all", pay_all_offered)
