"""``GET /payment-centre?launch=…``: team admins see their clinic, clinicians their own requests, org admins every
clinic of their organisation. The page holds no data itself; its script asks the JSON API with the session."""

from __future__ import annotations

from aiohttp import web

from addon.appkeys import DB_READ
from addon.auth.roles import STAFF
from addon.http.surfaces import open_surface, render_surface
from addon.services import payment_listing


async def payment_centre_page(request: web.Request) -> web.Response:
    opened = await open_surface(request, STAFF)
    if isinstance(opened, web.Response):
        return opened
    async with request.app[DB_READ]() as db:
        context = await payment_listing.page_context(db, opened.principal)
    return render_surface(request, "payment_centre.html", opened, {"centre": context})


def setup(app: web.Application) -> None:
    app.router.add_get("/payment-centre", payment_centre_page)
