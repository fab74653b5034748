"""The clinician's Request payment panel (Apps & Tools > Request payment): ``GET /widget/clinician?launch=…``."""

from __future__ import annotations

from aiohttp import web

from addon.appkeys import DB
from addon.auth.roles import CLINICIANS
from addon.http.surfaces import open_surface, render_surface
from addon.services.payment_requests import panel_context


async def clinician_page(request: web.Request) -> web.Response:
    opened = await open_surface(request, CLINICIANS)
    if isinstance(opened, web.Response):
        return opened
    async with request.app[DB]() as db:
        context = await panel_context(db, opened.principal)
    response = render_surface(request, "clinician.html", opened, context)
    # Socket.IO's WebSocket is named explicitly: some browsers don't count ws: as 'self'.
    host = request.host
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; connect-src 'self' ws://{host} wss://{host}; img-src 'self' data:; "
        "frame-ancestors *; base-uri 'none'; form-action 'none'"
    )
    return response


def setup(app: web.Application) -> None:
    """Register this surface's routes."""
    app.router.add_get("/widget/clinician", clinician_page)
