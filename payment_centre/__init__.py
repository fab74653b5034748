"""The payment centre: every payment of a clinic (or an organisation) after the call, with filters, totals, the
export, refunds and receipts. ``GET /payment-centre?launch=…`` and the JSON API behind it."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from addon.pages import register_part
from payment_centre import api, pages

STATIC = Path(__file__).parent / "static"
TEMPLATES = Path(__file__).parent / "templates"


def setup(app: web.Application) -> None:
    """Register this part's routes on the app."""
    register_part(app, templates=TEMPLATES, static=("/payment-centre/static/", STATIC))
    pages.setup(app)
    api.setup(app)
