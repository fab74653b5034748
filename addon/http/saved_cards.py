"""A card on file over HTTP: the patient's offer, consent, save and remove; staff's list and fees.

Handlers parse, call one service, publish its events after the commit, and answer.
"""

from __future__ import annotations

from aiohttp import web

from addon.appkeys import CLOCK, DB, DB_READ, GATEWAY, OUTBOX, SETTINGS
from addon.http.auth import principal
from addon.http.json import read_body, respond
from addon.publish import publish_after_commit
from addon.services import card_fees, card_on_file
from addon.wire.saved_cards import ChargeFeeBody, SavedCardSetupBody

NO_STORE = {"Cache-Control": "no-store"}


async def get_offer(request: web.Request) -> web.Response:
    caller = await principal(request)
    async with request.app[DB_READ]() as db:
        body = await card_on_file.offer_for(db, caller)
    response = respond(body)
    response.headers.update(NO_STORE)
    return response


async def start_setup(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = (await read_body(request, SavedCardSetupBody)).model_dump()
    app = request.app
    return respond(await card_on_file.start_setup(app[DB], app[GATEWAY], app[SETTINGS], caller, body))


async def decline(request: web.Request) -> web.Response:
    caller = await principal(request)
    async with request.app[DB].begin() as db:
        return respond(await card_on_file.decline(db, caller))


async def confirmation(request: web.Request) -> web.Response:
    caller = await principal(request)
    app = request.app
    return respond(await card_on_file.confirm_from_browser(app[DB], app[GATEWAY], caller))


async def remove(request: web.Request) -> web.Response:
    caller = await principal(request)
    app = request.app
    return respond(await card_on_file.remove(app[DB], app[GATEWAY], caller, request.match_info["id"]))


async def list_cards(request: web.Request) -> web.Response:
    caller = await principal(request)
    async with request.app[DB_READ]() as db:
        body = await card_fees.list_cards(db, caller, request.query)
    response = respond(body)
    response.headers.update(NO_STORE)
    return response


async def charge_fee(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = (await read_body(request, ChargeFeeBody)).model_dump(exclude_none=True)
    app = request.app
    outcome = await card_fees.charge_fee(
        app[DB], app[GATEWAY], caller, request.match_info["id"], body,
        clock=app[CLOCK], base_url=app[SETTINGS].public_url,
    )  # fmt: skip
    await publish_after_commit(app, outcome.events)
    if OUTBOX in app:
        app[OUTBOX].wake()  # the receipt or the link was queued in the transaction just committed
    return respond(outcome.body, status=201 if outcome.created else 200)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/saved-card", get_offer)
    app.router.add_post("/api/v1/saved-card/setup", start_setup)
    app.router.add_post("/api/v1/saved-card/decline", decline)
    app.router.add_post("/api/v1/saved-card/confirmation", confirmation)
    app.router.add_post("/api/v1/saved-cards/{id}/remove", remove)
    app.router.add_get("/api/v1/saved-cards", list_cards)
    app.router.add_post("/api/v1/saved-cards/{id}/fees", charge_fee)
