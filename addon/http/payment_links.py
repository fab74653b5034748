"""Pay-later links over HTTP: staff's API, the patient's public API and page, and the platform's "call ended".

Handlers parse, call one service, publish its events after the commit, and answer. The public routes (the page
and ``/api/v1/pay/{token}``) need no session: the token is the authority, so they are rate limited per address
and per token, never cached, and send no referrer.
"""

from __future__ import annotations

import segno
from aiohttp import web

from addon.appkeys import CLOCK, DB, DB_READ, GATEWAY, RATE_LIMITS, SETTINGS
from addon.auth import platform
from addon.errors import Unauthenticated
from addon.http.auth import bearer_token, principal
from addon.http.json import read_body, respond
from addon.http.limits import client_address
from addon.publish import publish_after_commit
from addon.services import holds, payment_links, receipts
from addon.wire.links import PayLinkCheckoutBody, PaymentLinkBody, PaymentLinkRemindBody
from addon.wire.payments import Checkout

PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}
# Looking at a link, and trying to pay it: per address and per token (budgets in addon/ratelimit.py).
VIEW_LIMITS = ("pay-view-ip", "pay-view-token")
CHECKOUT_LIMITS = ("pay-checkout-ip", "pay-checkout-token")
DOWNLOAD_LIMITS = ("download-ip", "pay-view-token")


async def limit(request: web.Request, rules: tuple[str, str]) -> None:
    by_address, by_token = rules
    token = request.match_info.get("token", "")
    await request.app[RATE_LIMITS].check((by_address, client_address(request)), (by_token, token))


def private(response: web.StreamResponse) -> web.StreamResponse:
    response.headers.update(PRIVATE)
    return response


# --- Staff -------------------------------------------------------------------------------------------------


def _base_url(request: web.Request) -> str:
    return request.app[SETTINGS].public_url


async def create_link(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = (await read_body(request, PaymentLinkBody)).model_dump(exclude_none=True)
    app = request.app
    async with app[DB].begin() as db:
        made = await payment_links.create(db, caller, body, clock=app[CLOCK], base_url=_base_url(request))
    await publish_after_commit(app, made.events)
    return respond(made.body, status=201 if made.created else 200)


async def list_links(request: web.Request) -> web.Response:
    caller = await principal(request)
    async with request.app[DB_READ]() as db:
        page = await payment_links.list_links(db, caller, request.query, clock=request.app[CLOCK])
    return respond(page)


async def cancel_link(request: web.Request) -> web.Response:
    caller = await principal(request)
    app = request.app
    closed = await payment_links.cancel(app[DB], app[GATEWAY], caller, request.match_info["id"], clock=app[CLOCK])
    await publish_after_commit(app, closed.events)
    return respond(closed.body)


async def remind_link(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = (await read_body(request, PaymentLinkRemindBody)).model_dump(exclude_none=True)
    app = request.app
    async with app[DB].begin() as db:
        made = await payment_links.remind(db, caller, request.match_info["id"], body, clock=app[CLOCK])
    await publish_after_commit(app, made.events)
    return respond(made.body)


def qr_svg(url: str) -> str:
    """The link as a QR code, drawn here (no image service ever sees the link)."""
    code = segno.make(url, error="m")
    svg: str = code.svg_inline(scale=6, border=2, dark="#1a1f36", light="#ffffff")
    return svg


async def link_qr(request: web.Request) -> web.Response:
    caller = await principal(request)
    await request.app[RATE_LIMITS].check(("download-user", str(caller.user_id)))
    async with request.app[DB_READ]() as db:
        link = await payment_links._link_for_staff(db, caller, request.match_info["id"])
        url = link.url
    return web.Response(text=qr_svg(url), content_type="image/svg+xml", headers={"Cache-Control": "no-store"})


# --- The platform ------------------------------------------------------------------------------------------


async def call_ended(request: web.Request) -> web.Response:
    app = request.app
    try:
        token = bearer_token(request)
    except Unauthenticated as exc:
        raise platform.PlatformRejected(exc.message) from exc
    claims = platform.verify(token, app[SETTINGS].launch_secret.reveal())
    if claims.call != request.match_info["call"]:
        raise platform.PlatformRejected("The token is for another call than the address names.")
    async with app[DB].begin() as db:
        ended = await payment_links.call_ended(db, claims, clock=app[CLOCK], base_url=_base_url(request))
    await payment_links.cancel_intents(app[GATEWAY], ended.intents_to_cancel)
    await publish_after_commit(app, ended.events)
    # Card holds: each authorised hold is charged (in full, or the final amount its clinician set).
    charged, requests = await holds.charge_ended_call(app[DB], app[GATEWAY], claims)
    await publish_after_commit(app, charged)
    if requests is not None:
        ended.body = ended.body.model_copy(update={"payment_requests": requests})
    return respond(ended.body)


# --- The patient: the public API ---------------------------------------------------------------------------


async def public_view(request: web.Request) -> web.StreamResponse:
    await limit(request, VIEW_LIMITS)
    async with request.app[DB_READ]() as db:
        found = await payment_links.public(db, request.match_info["token"], clock=request.app[CLOCK])
    payment_links.refuse_unless_active(found)
    assert found.body is not None
    return private(respond(found.body))


async def public_checkout(request: web.Request) -> web.StreamResponse:
    await limit(request, CHECKOUT_LIMITS)
    body = (await read_body(request, PayLinkCheckoutBody)).model_dump(exclude_none=True)
    app = request.app
    session = await payment_links.checkout(
        app[DB], app[GATEWAY], app[SETTINGS], request.match_info["token"], body, clock=app[CLOCK]
    )
    return private(respond(Checkout(**session.to_json())))


async def public_confirmation(request: web.Request) -> web.StreamResponse:
    await limit(request, CHECKOUT_LIMITS)
    app = request.app
    body, events = await payment_links.confirmation(
        app[DB], app[GATEWAY], request.match_info["token"], clock=app[CLOCK]
    )
    await publish_after_commit(app, events)
    return private(respond(body))


async def public_receipt(request: web.Request) -> web.StreamResponse:
    await limit(request, DOWNLOAD_LIMITS)
    async with request.app[DB_READ]() as db:
        receipt = await payment_links.receipt(db, request.match_info["token"])
    pdf = await receipts.render_pdf(receipt)
    return private(
        web.Response(
            body=pdf,
            content_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{receipt.file_name}"'},
        )
    )


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/payment-links", create_link)
    app.router.add_get("/api/v1/payment-links", list_links)
    app.router.add_post("/api/v1/payment-links/{id}/cancel", cancel_link)
    app.router.add_post("/api/v1/payment-links/{id}/remind", remind_link)
    app.router.add_get("/api/v1/payment-links/{id}/qr.svg", link_qr)
    app.router.add_post("/api/v1/platform/calls/{call}/ended", call_ended)
    app.router.add_get("/api/v1/pay/{token}", public_view)
    app.router.add_post("/api/v1/pay/{token}/checkout", public_checkout)
    app.router.add_post("/api/v1/pay/{token}/confirmation", public_confirmation)
    app.router.add_get("/api/v1/pay/{token}/receipt.pdf", public_receipt)
