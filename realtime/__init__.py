"""Socket.IO: connect auth, a room per call, events in and out.

Path ``/socket.io``, namespace ``/``. Services never see Socket.IO: they return :class:`addon.outbound.Outbound`
records, and this package's publisher (installed as ``app[PUBLISHER]``) delivers them after commit.
"""

from __future__ import annotations

from aiohttp import web

from addon import metrics
from realtime import handlers, server


def setup(app: web.Application) -> None:
    """Attach the Socket.IO server and its handlers; it opens and closes with the app."""
    sio = server.attach(app)
    handlers.register(sio, app)
    metrics.time_socket_actions(app, sio)
