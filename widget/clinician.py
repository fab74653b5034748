"""The clinician's Request payment panel (Apps & Tools > Request payment): ``GET /widget/clinician?launch=…``."""

from __future__ import annotations

from aiohttp import web

from addon.appkeys import DB_READ
from addon.auth.roles import CLINICIANS
from addon.db import one_read_session_factory
from addon.http.surfaces import open_surface, render_surface
from addon.services import refunds


async def clinician_page(request: web.Request) -> web.Response:
    opened = await open_surface(request, CLINICIANS)
    if isinstance(opened, web.Response):
        return opened
    # One read (of the clinic): on SQLite it needs no transaction of its own.
    async with one_read_session_factory(request.app[DB_READ])() as db:
        context = await refunds.clinician_panel(db, opened.principal)
    return render_surface(request, "clinician.html", opened, context)


def setup(app: web.Application) -> None:
    """Register this surface's routes."""
    app.router.add_get("/widget/clinician", clinician_page)
