"""Instalment plans over HTTP: offer one for a request, list and read them, cancel one (the clinic's staff).

Handlers parse, call one service, publish its events after the commit, and answer.
"""

from __future__ import annotations

from aiohttp import web

from addon.appkeys import CLOCK, DB, DB_READ, GATEWAY
from addon.http.auth import principal
from addon.http.json import read_body, respond
from addon.publish import publish_after_commit
from addon.services import plans
from addon.wire.plans import OfferPlanBody

NO_STORE = {"Cache-Control": "no-store"}


async def offer(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = (await read_body(request, OfferPlanBody)).model_dump()
    app = request.app
    outcome = await plans.offer(app[DB], app[GATEWAY], caller, request.match_info["id"], body, clock=app[CLOCK])
    await publish_after_commit(app, outcome.events)
    return respond(outcome.body, status=201 if outcome.created else 200)


async def list_plans(request: web.Request) -> web.Response:
    caller = await principal(request)
    async with request.app[DB_READ]() as db:
        body = await plans.list_plans(db, caller, request.query)
    response = respond(body)
    response.headers.update(NO_STORE)
    return response


async def detail(request: web.Request) -> web.Response:
    caller = await principal(request)
    async with request.app[DB_READ]() as db:
        body = await plans.detail(db, caller, request.match_info["id"])
    response = respond(body)
    response.headers.update(NO_STORE)
    return response


async def cancel(request: web.Request) -> web.Response:
    caller = await principal(request)
    app = request.app
    async with app[DB].begin() as db:
        outcome = await plans.cancel(db, caller, request.match_info["id"], clock=app[CLOCK])
    await publish_after_commit(app, outcome.events)
    return respond(outcome.body)


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/payment-requests/{id}/plan", offer)
    app.router.add_get("/api/v1/plans", list_plans)
    app.router.add_get("/api/v1/plans/{id}", detail)
    app.router.add_post("/api/v1/plans/{id}/cancel", cancel)
