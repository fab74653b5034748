"""The JSON API behind the payment centre (``/api/v1``, Bearer session token).

``GET /api/v1/payments`` (``format=csv`` streams the export), ``GET /api/v1/payment-requests/{id}`` (with refunds
and the timeline), ``POST /api/v1/payment-requests/{id}/refunds`` and ``POST …/receipt/resend``. Each handler parses,
calls one service, publishes that service's events after the commit, and answers.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from addon.appkeys import DB, DB_READ, GATEWAY, OUTBOX
from addon.errors import InvalidInput
from addon.http.auth import principal
from addon.http.json import read_body, respond
from addon.http.limits import limit
from addon.publish import publish_after_commit
from addon.services import payment_detail, payment_listing, profile, receipts, refunds
from addon.wire.payments import ReceiptResent, RefundBody, RefundCreated, ResendReceiptBody
from addon.wire.profile import ProfileBody


def _query(request: web.Request) -> dict[str, list[str]]:
    return {key: request.query.getall(key) for key in request.query}


async def list_payments(request: web.Request) -> web.StreamResponse:
    caller = await principal(request)
    query = _query(request)
    if query.get("format", ["json"]) != ["json"]:
        return await _export(request, query)
    async with request.app[DB_READ]() as db:
        body = await payment_listing.list_payments(db, caller, query)
    return web.json_response(body.to_json(), headers={"Cache-Control": "no-store"})


async def _export(request: web.Request, query: dict[str, list[str]]) -> web.StreamResponse:
    caller = await principal(request)
    if query.pop("format") != ["csv"]:
        raise InvalidInput("'format' is json (the default) or csv.", field="format")
    await limit(request, ("export-user", str(caller.user_id)))
    async with request.app[DB_READ]() as db:
        scope, filters = await payment_listing.prepare_export(db, caller, query)
    day = datetime.now(UTC).date().isoformat()
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="payments-{day}.csv"',
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    async for chunk in payment_listing.export_csv(request.app[DB_READ], scope, filters):
        await response.write(chunk)
    await response.write_eof()
    return response


async def get_payment_request(request: web.Request) -> web.Response:
    caller = await principal(request)
    async with request.app[DB_READ]() as db:
        body = await payment_detail.detail_for(db, caller, request.match_info["id"])
    return respond(body)


async def create_refund(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = await read_body(request, RefundBody)
    app = request.app
    outcome = await refunds.refund(
        app[DB], app[GATEWAY], caller, request.match_info["id"], body.model_dump(exclude_unset=True)
    )
    await publish_after_commit(app, outcome.events)
    _wake_outbox(app)
    async with app[DB_READ]() as db:
        payment_request = await payment_detail.detail_for(db, caller, outcome.request_id)
    answer = RefundCreated.model_validate({"refund": outcome.refund, "payment_request": payment_request})
    return respond(answer, status=201 if outcome.created else 200)


async def resend_receipt(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = await read_body(request, ResendReceiptBody)
    async with request.app[DB].begin() as db:
        email = await receipts.resend(db, caller, request.match_info["id"], body.model_dump(exclude_unset=True))
    _wake_outbox(request.app)
    async with request.app[DB_READ]() as db:
        payment_request = await payment_detail.detail_for(db, caller, request.match_info["id"])
    return respond(ReceiptResent(email=email, payment_request=payment_request), status=202)


async def get_profile(request: web.Request) -> web.Response:
    caller = await principal(request)
    async with request.app[DB_READ]() as db:
        return respond(await profile.profile_for(db, caller))


async def patch_profile(request: web.Request) -> web.Response:
    caller = await principal(request)
    body = await read_body(request, ProfileBody)
    async with request.app[DB].begin() as db:
        return respond(await profile.update_profile(db, caller, body))


def _wake_outbox(app: web.Application) -> None:
    # The email was queued in the transaction just committed: send it now, not at the outbox's next poll.
    if OUTBOX in app:
        app[OUTBOX].wake()


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/payments", list_payments)
    app.router.add_get("/api/v1/payment-requests/{id}", get_payment_request)
    app.router.add_post("/api/v1/payment-requests/{id}/refunds", create_refund)
    app.router.add_post("/api/v1/payment-requests/{id}/receipt/resend", resend_receipt)
    app.router.add_get("/api/v1/profile", get_profile)
    app.router.add_patch("/api/v1/profile", patch_profile)
