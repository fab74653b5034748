"""The JSON API behind the payment centre (``/api/v1``, Bearer session token).

``GET /api/v1/payments`` (``format=csv`` streams the export), ``GET /api/v1/payment-requests/{id}`` (with refunds
and the timeline), ``POST /api/v1/payment-requests/{id}/refunds`` and ``POST …/receipt/resend``. Each handler parses,
calls one service, publishes that service's events after the commit, and answers.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from addon.appkeys import DB_READ
from addon.errors import InvalidInput
from addon.http.auth import principal
from addon.services import payment_listing


def _query(request: web.Request) -> dict[str, list[str]]:
    return {key: request.query.getall(key) for key in request.query}


async def list_payments(request: web.Request) -> web.StreamResponse:
    caller = await principal(request)
    query = _query(request)
    if query.get("format", ["json"]) != ["json"]:
        return await _export(request, query)
    async with request.app[DB_READ]() as db:
        body = await payment_listing.list_payments(db, caller, query)
    return web.json_response(body, headers={"Cache-Control": "no-store"})


async def _export(request: web.Request, query: dict[str, list[str]]) -> web.StreamResponse:
    caller = await principal(request)
    if query.pop("format") != ["csv"]:
        raise InvalidInput("'format' is json (the default) or csv.", field="format")
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


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/payments", list_payments)
