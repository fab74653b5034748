"""Server-rendered pages: one Jinja environment for every package's templates."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

TEMPLATE_FOLDERS = [
    Path(__file__).parent / "templates",
    Path(__file__).parent.parent / "clinic_config" / "templates",
    Path(__file__).parent.parent / "widget" / "templates",
    Path(__file__).parent.parent / "payment_centre" / "templates",
]


def setup_templates(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader([str(p) for p in TEMPLATE_FOLDERS if p.exists()]),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    env.globals["static"] = lambda path: f"/static/{path}"


def render_message_page(request: web.Request, *, title: str, message: str, status: int) -> web.Response:
    response = aiohttp_jinja2.render_template(
        "message.html", request, {"title": title, "message": message}, status=status
    )
    # Says what went wrong with one visit (a used launch, a failed return from Stripe): never worth keeping.
    response.headers["Cache-Control"] = "no-store"
    return response


def content_security_policy(
    host: str, *, scripts: Sequence[str] = (), frames: Sequence[str] = (), connects: Sequence[str] = ()
) -> str:
    """The one Content-Security-Policy of Callpay's pages: this origin only, plus what a page names.

    No inline script, no plugins, no form posts. The Socket.IO WebSocket is named explicitly, since some browsers
    don't count ws: as 'self'. ``frame-ancestors *`` because the host platform frames these pages from origins
    Callpay isn't told in advance (a fixed allow-list would need a setting per platform); any site may frame
    them, and what keeps that from becoming clickjacking is that a page only signs in from a launch signed with the
    platform's secret and usable once, which a framing site can't mint, and removing an account asks to confirm.
    """

    def directive(name: str, *sources: str) -> str:
        return " ".join((name, *sources))

    parts = [
        "default-src 'self'",
        directive("script-src", "'self'", *scripts),
        "style-src 'self'",
        "img-src 'self' data: blob:",
        directive("connect-src", "'self'", f"ws://{host}", f"wss://{host}", *connects),
    ]
    if frames:
        parts.append(directive("frame-src", *frames))
    parts += ["form-action 'none'", "frame-ancestors *", "base-uri 'none'", "object-src 'none'"]
    return "; ".join(parts)
