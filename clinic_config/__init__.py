"""Configure > Client Payments and the org-admin page: Connect OAuth, account status, clinic settings."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from addon.pages import register_part
from clinic_config import api, pages

STATIC = Path(__file__).parent / "static"
TEMPLATES = Path(__file__).parent / "templates"


def setup(app: web.Application) -> None:
    """Register this part's routes and background work on the app."""
    register_part(app, templates=TEMPLATES, static=("/clinic-config/static/", STATIC))
    pages.setup(app)
    api.setup(app)
