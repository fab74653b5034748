"""In-call surfaces: the clinician's Request payment panel and the patient's payment widget."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Register this part's routes and background work on the app."""
