"""Opening a surface from the host platform: ``GET /<surface>?launch=<JWT>``.

The page handler verifies and consumes the launch itself, so a bad, expired, replayed or wrongly-signed one gets a
401 page saying what to do. A good one opens a session whose token is handed to the page once, inside the HTML
(never in a URL or cookie); the page's script keeps it in memory and strips the launch from the address bar.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from addon.auth.launch import LaunchUsed
from addon.auth.roles import Role
from addon.auth.sessions import IssuedSession
from addon.errors import Unauthenticated
from addon.http.limits import client_address
from addon.http.sessions import exchange_launch, session_json
from addon.pages import render_message_page

REFUSED_TITLE = "We couldn't open Callpay"
AGAIN_TITLE = "Open Callpay again"
# Pages drop their launch from the address bar once it is used, so a reload, Back, a bookmark or a copied address
# arrives with no launch (or a used one). Say why, and where this page opens from, so the way back is plain.
NO_LAUNCH = "For your security, this page can't be reloaded or opened on its own. Open it again from {where}."
USED_LAUNCH = (
    "This link has already been used, and for your security each one works only once. Open it again from {where}."
)
WRONG_ROLE = "This page isn't for your role. Close it and open the right tool from the video-call platform."
WHERE = {
    "/clinic-config": "Configure > Client Payments on the video-call platform",
    "/widget/clinician": "Apps & Tools in the call",
    "/widget/patient": "the video call",
    "/payment-centre": "Payments on the video-call platform",
}
PLATFORM = "the video-call platform"


def where_from(request: web.Request) -> str:
    """Where a person opens this surface again, in the platform's own words."""
    return WHERE.get(request.path, PLATFORM)


async def open_surface(request: web.Request, roles: Collection[Role]) -> IssuedSession | web.Response:
    """The session for this page's launch, or the 401 page to answer with."""
    token = request.query.get("launch", "")
    if not token:
        return launch_refused(request, NO_LAUNCH.format(where=where_from(request)), title=AGAIN_TITLE)
    try:
        issued = await exchange_launch(request.app, token, client=client_address(request))
    except LaunchUsed:
        return launch_refused(request, USED_LAUNCH.format(where=where_from(request)), title=AGAIN_TITLE)
    except Unauthenticated as exc:
        return launch_refused(request, exc.message)
    if issued.principal.role not in roles:
        return launch_refused(request, WRONG_ROLE)
    return issued


def launch_refused(request: web.Request, message: str, *, title: str = REFUSED_TITLE) -> web.Response:
    return render_message_page(request, title=title, message=message, status=401)


def script_safe_json(value: object) -> str:
    """JSON that can't end or comment out the <script> block it sits in, whatever a name contains.

    Escaping only "</" is not enough: "<!--<script>" in a name puts the HTML parser into a state where the rest of
    the page becomes script text. As Jinja's tojson does, <, > and & become JSON unicode escapes.
    """
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_surface(
    request: web.Request, template: str, issued: IssuedSession, context: dict[str, Any] | None = None
) -> web.Response:
    """Render a surface page with its session handed over in an inert JSON block."""
    values = dict(context or {})
    values["session_json"] = script_safe_json(session_json(issued).to_json())
    response = aiohttp_jinja2.render_template(template, request, values)
    response.headers["Cache-Control"] = "no-store"
    return response
