"""The patient's payment widget in the call window."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Register this surface's routes."""
