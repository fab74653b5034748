"""Configure > Client Payments and the org-admin page: Connect OAuth, account status, clinic settings."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Register this part's routes and background work on the app."""
