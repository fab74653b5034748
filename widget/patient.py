"""The patient's payment widget in the call window: ``GET /widget/patient?launch=…``."""

from __future__ import annotations

from collections.abc import Sequence

import aiohttp_jinja2
from aiohttp import web

from addon import pages
from addon.appkeys import DB_READ, SETTINGS
from addon.auth.roles import Role
from addon.db import one_read_session_factory
from addon.http.surfaces import AGAIN_TITLE, NO_LAUNCH, open_surface, render_surface, where_from
from addon.integrity import SCRIPTS
from addon.services.patients import patient_view
from addon.settings import Settings, origin_of

ENTRY = "/widget/static/patient.js"  # the page's one module of ours (patient.html's module_script)


async def patient_page(request: web.Request) -> web.Response:
    if not request.query.get("launch"):
        return resumable_page(request)
    opened = await open_surface(request, {Role.PATIENT})
    if isinstance(opened, web.Response):
        return opened
    # One read (of the clinic): on SQLite it needs no transaction of its own.
    async with one_read_session_factory(request.app[DB_READ])() as db:
        view = await patient_view(db, opened.principal)
    context = {"clinic_name": view.clinic_name, "timezone": view.timezone, "reopen": None}
    response = render_surface(request, "patient.html", opened, context)
    response.headers["Content-Security-Policy"] = page_policy(request, ENTRY)
    return response


def resumable_page(request: web.Request) -> web.Response:
    """The widget with no session in it, for a reload of the patient's frame (the page took its launch out of the
    address). Its script resumes the session this tab kept (in the frame's sessionStorage, never a cookie or the
    address), or shows how to open the page again. 401: this request carries no session.

    A used launch is still refused by ``open_surface``: a launch opens one session, once.
    """
    context = {
        "clinic_name": "",
        "session_json": None,
        "reopen": {"title": AGAIN_TITLE, "message": NO_LAUNCH.format(where=where_from(request))},
    }
    response = aiohttp_jinja2.render_template("patient.html", request, context, status=401)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = page_policy(request, ENTRY)
    return response


def page_policy(request: web.Request, entry: str) -> str:
    """A payment page's policy: Stripe.js, our scripts, and the inline import map that pins ``entry``'s modules."""
    return content_security_policy(
        request.app[SETTINGS], request.host, inline=(request.app[SCRIPTS].csp_source(entry),)
    )


def content_security_policy(settings: Settings, host: str, *, inline: Sequence[str] = ()) -> str:
    """The pages' policy plus Stripe.js: its script, its card and 3-D Secure frames, and its API calls; ``inline``
    are hash sources of the inline scripts the page may run (its import map, see addon/integrity.py).

    Stripe.js comes from wherever settings say (Stripe, or the sandbox in the demo and tests), so its origins are
    derived from the same settings rather than written here.
    """
    js = origin_of(settings.stripe_js_url)
    api = origin_of(settings.stripe_api_base)
    # Stripe's own Stripe.js also loads scripts and frames from its subdomains (Stripe's CSP guidance lists
    # https://*.js.stripe.com and https://hooks.stripe.com for the Payment Element and 3-D Secure).
    on_stripe = js == "https://js.stripe.com"
    subdomains = ["https://*.js.stripe.com"] if on_stripe else []
    hooks = ["https://hooks.stripe.com"] if on_stripe else []
    return pages.content_security_policy(
        host, scripts=[js, *subdomains, *inline], frames=[js, *subdomains, *hooks], connects=[api, js]
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/widget/patient", patient_page)
