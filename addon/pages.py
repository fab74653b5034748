"""Server-rendered pages: one Jinja environment for every package's templates."""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

TEMPLATE_FOLDERS = [
    Path(__file__).parent / "templates",
    Path(__file__).parent.parent / "clinic_config" / "templates",
    Path(__file__).parent.parent / "widget" / "templates",
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
    return aiohttp_jinja2.render_template(
        "message.html", request, {"title": title, "message": message}, status=status
    )
