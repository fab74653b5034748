"""``GET /clinic-config``, ``GET /org-admin`` and the Connect OAuth return, ``GET /clinic-config/oauth/callback``.

Each page opens from a launch (see ``addon.http.surfaces``) and gets the pages' one Content-Security-Policy
(``addon.pages.content_security_policy``, set by the middleware): this origin only, no inline script, no form posts.
"""

from __future__ import annotations

from aiohttp import web

from addon.appkeys import DB, GATEWAY, SETTINGS
from addon.auth.roles import CLINIC_ADMINS, Role
from addon.auth.sessions import IssuedSession
from addon.errors import Unauthenticated
from addon.http.surfaces import open_surface, render_surface
from addon.pages import render_message_page
from addon.publish import publish_after_commit
from addon.services import connect, onboarding

CALLBACK_PATH = "/clinic-config/oauth/callback"
NO_CLINIC = (
    "Configure > Client Payments belongs to one clinic, and this launch names none. "
    "Open it from the clinic's settings on the video-call platform."
)


def _render_config(request: web.Request, issued: IssuedSession, *, flash: dict[str, str] | None) -> web.Response:
    return render_surface(request, "clinic_config.html", issued, {"flash": flash})


async def clinic_config_page(request: web.Request) -> web.Response:
    opened = await open_surface(request, CLINIC_ADMINS)
    if isinstance(opened, web.Response):
        return opened
    if opened.principal.clinic_id is None:
        return _message(request, "Choose a clinic first", NO_CLINIC, status=400)
    return _render_config(request, opened, flash=None)


async def org_admin_page(request: web.Request) -> web.Response:
    opened = await open_surface(request, {Role.ORG_ADMIN})
    if isinstance(opened, web.Response):
        return opened
    return render_surface(request, "org_admin.html", opened)


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


async def onboarding_return(request: web.Request) -> web.Response:
    """Back from Stripe's hosted onboarding, finished or not: say what is left."""
    try:
        result = await onboarding.complete_return(
            request.app[DB], request.app[GATEWAY], state=request.query.get("state")
        )
    except (connect.OAuthStateRejected, Unauthenticated) as exc:
        return _message(request, "We couldn't match this return from Stripe", exc.message, status=exc.status)
    await publish_after_commit(request.app, result.events)
    kind = {"ready": "ok", "unfinished": "warn", "failed": "bad"}[result.outcome]
    return _render_config(request, result.issued, flash={"kind": kind, "message": result.message})


async def onboarding_refresh(request: web.Request) -> web.StreamResponse:
    """Stripe's link had expired or been used: straight on to a fresh one, or back to the page saying why not."""
    try:
        result = await onboarding.refresh(
            request.app[DB],
            request.app[GATEWAY],
            state=request.query.get("state"),
            public_url=request.app[SETTINGS].public_url,
        )
    except (connect.OAuthStateRejected, Unauthenticated) as exc:
        return _message(request, "We couldn't reopen Stripe", exc.message, status=exc.status)
    if result.url is not None:
        raise web.HTTPFound(result.url)
    return _render_config(request, result.issued, flash={"kind": "bad", "message": result.message or ""})


def _message(request: web.Request, title: str, message: str, *, status: int) -> web.Response:
    return render_message_page(request, title=title, message=message, status=status)


def setup(app: web.Application) -> None:
    app.router.add_get("/clinic-config", clinic_config_page)
    app.router.add_get("/org-admin", org_admin_page)
    app.router.add_get(CALLBACK_PATH, oauth_callback)
    app.router.add_get(onboarding.RETURN_PATH, onboarding_return)
    app.router.add_get(onboarding.REFRESH_PATH, onboarding_refresh)
