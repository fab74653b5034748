"""Socket.IO: connect auth, a room per call, events in and out."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Register this part's routes and background work on the app."""
