"""``GET /api/v1/payment-requests/{id}/receipt.pdf``: the receipt of a paid request, for its patient or clinic staff."""

from __future__ import annotations

from aiohttp import web

from addon.appkeys import DB
from addon.http.auth import principal
from addon.services import receipts


async def receipt_pdf(request: web.Request) -> web.Response:
    caller = await principal(request)
    async with request.app[DB]() as db:
        file_name, pdf = await receipts.receipt_pdf_for(db, caller, request.match_info["id"])
    return web.Response(
        body=pdf,
        content_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{file_name}"',
            # A receipt names a patient's payment: never kept by shared caches or the browser's disk cache.
            "Cache-Control": "no-store",
        },
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/payment-requests/{id}/receipt.pdf", receipt_pdf)
