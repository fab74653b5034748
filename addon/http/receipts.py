"""The receipt of a paid request, for the call's patient or the clinic's staff: as PDF, and as JSON for screens.

``GET /api/v1/payment-requests/{id}/receipt.pdf`` and ``GET /api/v1/payment-requests/{id}/receipt``.
"""

from __future__ import annotations

from aiohttp import web

from addon.appkeys import DB
from addon.http.auth import principal
from addon.http.json import respond
from addon.http.limits import limit
from addon.services import receipts
from addon.wire import receipts as wire


async def receipt_pdf(request: web.Request) -> web.Response:
    caller = await principal(request)
    await limit(request, ("download-user", str(caller.user_id)))
    async with request.app[DB]() as db:
        receipt = await receipts.receipt_for(db, caller, request.match_info["id"])
    pdf = await receipts.render_pdf(receipt)  # after the session closes: layout needs no database
    return web.Response(
        body=pdf,
        content_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{receipt.file_name}"',
            # A receipt names a patient's payment: never kept by shared caches or the browser's disk cache.
            "Cache-Control": "no-store",
        },
    )


async def receipt_json(request: web.Request) -> web.Response:
    caller = await principal(request)
    await limit(request, ("download-user", str(caller.user_id)))
    async with request.app[DB]() as db:
        receipt = await receipts.receipt_for(db, caller, request.match_info["id"])
    return respond(wire.Receipt.model_validate(receipt.to_json()))


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/payment-requests/{id}/receipt.pdf", receipt_pdf)
    app.router.add_get("/api/v1/payment-requests/{id}/receipt", receipt_json)
