"""``GET /clinic-config``, ``GET /org-admin`` and the Connect OAuth return, ``GET /clinic-config/oauth/callback``.

Each page opens from a launch (see ``addon.http.surfaces``) and gets its own Content-Security-Policy: scripts,
styles and fetches from this origin only, no inline script, no plugins, no form posts anywhere. ``frame-ancestors *``
because the host platform frames these pages from origins Callpay isn't told in advance; a fixed allow-list would
need a setting per platform. The tradeoff is that any site may frame them; what keeps that from becoming
clickjacking is that a page only signs in from a launch signed with the platform's secret and usable once, which a
framing site can't mint, and removing an account still asks to confirm.
"""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from addon.appkeys import DB, GATEWAY
from addon.auth.roles import CLINIC_ADMINS, Role
from addon.auth.sessions import IssuedSession
from addon.errors import Unauthenticated
from addon.http.surfaces import open_surface, render_surface
from addon.outbound import publish_after_commit
from addon.services import connect

CALLBACK_PATH = "/clinic-config/oauth/callback"
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'none'; frame-ancestors *; base-uri 'none'; object-src 'none'"
)
NO_CLINIC = (
    "Configure > Client Payments belongs to one clinic, and this launch names none. "
    "Open it from the clinic's settings on the video-call platform."
)


def _with_csp(response: web.Response) -> web.Response:
    response.headers["Content-Security-Policy"] = PAGE_CSP
    return response


def _render_config(request: web.Request, issued: IssuedSession, *, flash: dict[str, str] | None) -> web.Response:
    return _with_csp(render_surface(request, "clinic_config.html", issued, {"flash": flash}))


async def clinic_config_page(request: web.Request) -> web.Response:
    opened = await open_surface(request, CLINIC_ADMINS)
    if isinstance(opened, web.Response):
        return _with_csp(opened)
    if opened.principal.clinic_id is None:
        return _message(request, "Choose a clinic first", NO_CLINIC, status=400)
    return _render_config(request, opened, flash=None)


async def org_admin_page(request: web.Request) -> web.Response:
    opened = await open_surface(request, {Role.ORG_ADMIN})
    if isinstance(opened, web.Response):
        return _with_csp(opened)
    return _with_csp(render_surface(request, "org_admin.html", opened))


async def oauth_callback(request: web.Request) -> web.Response:
    query = request.query
    try:
        result = await connect.complete_oauth(
            request.app[DB],
            request.app[GATEWAY],
            state=query.get("state"),
            code=query.get("code"),
            error=query.get("error"),
        )
    except (connect.OAuthStateRejected, Unauthenticated) as exc:
        return _message(request, "We couldn't link Stripe", exc.message, status=exc.status)
    await publish_after_commit(request.app, result.events)
    kind = "ok" if result.outcome == "connected" else "bad"
    return _render_config(request, result.issued, flash={"kind": kind, "message": result.message})


def _message(request: web.Request, title: str, message: str, *, status: int) -> web.Response:
    response = aiohttp_jinja2.render_template(
        "message.html", request, {"title": title, "message": message}, status=status
    )
    response.headers["Cache-Control"] = "no-store"
    return _with_csp(response)


def setup(app: web.Application) -> None:
    app.router.add_get("/clinic-config", clinic_config_page)
    app.router.add_get("/org-admin", org_admin_page)
    app.router.add_get(CALLBACK_PATH, oauth_callback)
