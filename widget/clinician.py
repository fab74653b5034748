"""The clinician's Request payment panel (Apps & Tools > Request payment)."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Register this surface's routes."""
