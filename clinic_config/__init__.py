"""Configure > Client Payments and the org-admin page: Connect OAuth, account status, clinic settings."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from clinic_config import api, pages

STATIC = Path(__file__).parent / "static"


def setup(app: web.Application) -> None:
    """Register this part's routes and background work on the app."""
    app.router.add_static("/clinic-config/static/", STATIC, append_version=False)
    pages.setup(app)
    api.setup(app)
