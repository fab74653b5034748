"""Server-rendered pages: one Jinja environment, to which each part of the product adds its own templates.

The core knows only its own folder; clinic_config, widget and payment_centre call :func:`register_part` with theirs
(and their static files), so no package's layout is written down anywhere but in that package.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from addon.integrity import SCRIPTS, Scripts

CORE_TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE_LOADER = web.AppKey("template_loader", jinja2.FileSystemLoader)


def setup_templates(app: web.Application) -> None:
    loader = jinja2.FileSystemLoader([str(CORE_TEMPLATES)])
    env = aiohttp_jinja2.setup(
        app,
        loader=loader,
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
        # Templates ship with the code: each is compiled once, not checked against its file on every render.
        auto_reload=False,
    )
    env.globals["static"] = lambda path: f"/static/{path}"
    scripts = app[SCRIPTS] = Scripts()
    # A payment page's own module and everything it imports, integrity-checked (addon/integrity.py).
    env.globals["module_script"] = scripts.tags
    app[TEMPLATE_LOADER] = loader


def register_part(
    app: web.Application, *, templates: Path | None = None, static: tuple[str, Path] | None = None
) -> None:
    """A part of the product brings its templates (their names are unique across parts) and its static files,
    served under its own prefix (``("/widget/static/", folder)``)."""
    if templates is not None:
        app[TEMPLATE_LOADER].searchpath.append(str(templates))
    if static is not None:
        serve_static(app, *static)


def serve_static(app: web.Application, prefix: str, folder: Path) -> None:
    app.router.add_static(prefix, folder, append_version=False)
    app[SCRIPTS].serve(prefix, folder)


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
