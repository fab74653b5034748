"""The Socket.IO server: made and attached when the app is built, opened and closed with it.

With ``CALLPAY_REDIS_URL`` set, rooms are shared through Redis so any worker can reach a client connected to
another. The Redis channel is named after the database: room names carry database ids, so only workers sharing a
database may share rooms (and test runs, each with its own database, never hear each other).

Each socket also joins its session's room (:func:`addon.outbound.session_room`). Ending a session closes that room
through the manager, which on every worker holding one of its sockets disconnects them (see :class:`RedisManager`):
a signed-out or revoked session stops hearing its call's events at once, everywhere, not only when it next acts.

On a graceful stop (SIGTERM) the worker has stopped listening before its shutdown hooks run; :func:`drain` then
drops every socket's transport, so each client reconnects at once, through the load balancer, to a worker still
running (and gets its snapshot there), instead of holding this worker's shutdown until its timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import engineio
import socketio
from aiohttp import web

from addon.appkeys import HOLDS_SOCKETS, PUBLISHER, SETTINGS, SOCKETS
from addon.outbound import SESSION_ROOM_PREFIX, Outbound, session_room
from addon.settings import Settings, origin_of
from realtime.events import check_all
from realtime.socket_queue import SocketQueue

log = logging.getLogger("callpay.realtime")
PATH = "socket.io"
# The app's Socket.IO server: what it serves (its event handlers) is read from here by the authorization tests.
SERVER: web.AppKey[Any] = web.AppKey("socketio_server")
PING_INTERVAL = 20  # seconds: short enough that a dropped call-window connection is noticed within a minute


class OriginPolicy:
    """Which browser pages may open a socket: Callpay's own, at its public address or the address it was reached at.

    A request with no Origin header is let through. Browsers send Origin on every WebSocket handshake and every
    cross-origin request, so a missing one means a same-origin polling request or a non-browser client. Neither can
    ride on a patient's browser: sockets authenticate with a session token from the connect payload, which only
    Callpay's own pages hold (in memory, never in a cookie), so there are no ambient credentials to hijack.
    """

    def __init__(self, public_url: str) -> None:
        self.public_origin = origin_of(public_url)

    def __call__(self, origin: str | None, environ: Mapping[str, Any]) -> bool:
        if origin is None:
            return True
        own = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
        allowed = origin in (self.public_origin, own)
        if not allowed:
            log.warning("socket refused: origin not allowed", extra={"origin": origin[:200]})
        return allowed


def redis_channel(settings: Settings) -> str:
    return "callpay:" + hashlib.sha256(settings.database_url.encode()).hexdigest()[:16]


NAMESPACE = "/"


async def disconnect_here(server: Any, room: str, namespace: str = NAMESPACE) -> int:
    """Disconnect this worker's sockets in ``room`` (a Socket.IO disconnect: the client hears "io server disconnect",
    which the pages show as a session that has ended, and does not retry); how many there were."""
    members = [sid for sid, _eio_sid in server.manager.get_participants(namespace, room)]
    for sid in members:
        await server.disconnect(sid, namespace=namespace, ignore_queue=True)
    return len(members)


class LocalManager(socketio.AsyncManager):  # type: ignore[misc]
    """One worker: closing a session's room disconnects its sockets."""

    async def close_room(self, room: str, namespace: str) -> None:
        if room.startswith(SESSION_ROOM_PREFIX):
            await disconnect_here(self.server, room, namespace)
        await super().close_room(room, namespace)


class RedisManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    """Several workers: a session room's close is published on the Redis channel and handled by every worker
    (this one included), each disconnecting the session's sockets it holds.

    Every worker subscribed to the channel is sent every message published on it, its own included, and
    python-socketio decodes each (a whole event's JSON) before dropping the ones it sent itself: with one worker
    holding a call's sockets, that was a decode thrown away for every event. So each message here names its sender
    first, and the copy that comes back is dropped on its first bytes. The JSON is the same object, its keys in
    another order, so a worker of any version reads it. A ``callback`` names the worker it is *for*, never dropped.

    A process that holds no sockets (``callpay worker``) is ``write_only``: it publishes and subscribes to nothing.
    """

    _own: bytes = b""
    _answer_to_own: bytes = b""

    def initialize(self) -> None:
        super().initialize()
        # Made with the JSON module the manager publishes with (the server's, set before initialize).
        first = self.json.dumps({"host_id": self.host_id, "method": "callback"})
        self._answer_to_own = first[:-1].encode()
        self._own = first[: first.index('"callback"')].encode()

    def sent_here(self, message: object) -> bool:
        """Whether ``message`` (as Redis delivers it) was published by this worker, and so is not for it."""
        return (
            bool(self._own)
            and isinstance(message, bytes)
            and message.startswith(self._own)
            and not message.startswith(self._answer_to_own)
        )

    async def _publish(self, data: dict[str, Any]) -> Any:
        # The sender first (a dict keeps the position of its first key): see the class's docstring.
        return await super()._publish({"host_id": data.get("host_id"), **data})

    async def _listen(self) -> AsyncIterator[Any]:
        async for message in super()._listen():
            if not self.sent_here(message):
                yield message

    async def _handle_close_room(self, message: dict[str, Any]) -> None:
        room, namespace = message.get("room"), message.get("namespace") or NAMESPACE
        if isinstance(room, str) and room.startswith(SESSION_ROOM_PREFIX):
            await disconnect_here(self.server, room, namespace)
        await super()._handle_close_room(message)


class SocketSessions:
    """Ends the sockets of sessions that ended, on every worker (installed as ``app[SOCKETS]``)."""

    def __init__(self, server: Any) -> None:
        self._server = server

    async def end_sessions(self, token_hashes: Sequence[str]) -> None:
        """Best effort, after the session has ended in the database: should Redis be unreachable now, each worker's
        sweep still finds the sockets (within ``session_sweep_seconds``), and the caller is not failed for it."""
        for token_hash in token_hashes:
            try:
                await self._server.close_room(session_room(token_hash), namespace=NAMESPACE)
            except Exception:
                log.exception("could not close an ended session's room; the sweep will disconnect its sockets")


class _EngineIOServer(engineio.AsyncServer):  # type: ignore[misc]
    """Engine.IO as python-socketio makes it, with each socket's packet queue a :class:`SocketQueue`."""

    def create_queue(self, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs:  # a bounded queue, which Engine.IO itself never asks for
            return super().create_queue(*args, **kwargs)
        return SocketQueue()


class _SocketIOServer(socketio.AsyncServer):  # type: ignore[misc]
    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return _EngineIOServer


def build_server(settings: Settings, *, holds_sockets: bool = True) -> Any:
    """``holds_sockets``: False for a process no client connects to (``callpay worker``), which only publishes."""
    manager: socketio.AsyncManager = LocalManager()
    if settings.redis_url:
        manager = RedisManager(settings.redis_url, channel=redis_channel(settings), write_only=not holds_sockets)
    return _SocketIOServer(
        async_mode="aiohttp",
        client_manager=manager,
        cors_allowed_origins=OriginPolicy(settings.public_url),
        ping_interval=PING_INTERVAL,
        logger=False,
        engineio_logger=False,
    )


class SocketPublisher:
    """The Publisher the services' events go out through, after their transaction commits."""

    def __init__(self, server: Any) -> None:
        self._server = server

    async def publish(self, events: Sequence[Outbound]) -> None:
        check_all(events)
        for event in events:
            await self._server.emit(event.event, event.data.to_json(), room=event.room)


def lifecycle(server: Any) -> Any:
    async def context(app: web.Application) -> AsyncIterator[None]:
        manager = server.manager
        if isinstance(manager, socketio.AsyncRedisManager):
            # Subscribe now rather than on the first connection, so this worker hears other workers' events from
            # the start. (python-socketio would otherwise do this lazily on the first connect.)
            server.manager_initialized = True
            manager.initialize()
        yield
        await server.shutdown()
        listener = getattr(manager, "thread", None)
        if isinstance(listener, asyncio.Task):
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener
        redis = getattr(manager, "redis", None)
        if redis is not None:
            await redis.aclose()

    return context


async def drain(server: Any) -> int:
    """Drop every connection's transport; how many there were.

    A transport closed under the client, not a Socket.IO or Engine.IO disconnect: the browser client treats the
    server's "io server disconnect" as the end of the session and would not come back, and python-socketio's client
    does the same on Engine.IO's CLOSE packet. A dropped transport is what both retry, as after any network blip."""
    eio = server.eio
    sockets = list(eio.sockets.items())
    for sid, socket in sockets:
        # Marks it closed and runs the disconnect handlers (participants updated for the others in the call) without
        # sending a CLOSE packet; the None ends its writer (or its pending long-poll), which closes the WebSocket.
        await socket.close(wait=False, abort=True)
        socket.queue.put_nowait(None)
        eio.sockets.pop(sid, None)
    if sockets:
        log.info("sockets drained for shutdown", extra={"sockets": len(sockets)})
    return len(sockets)


def attach(app: web.Application) -> Any:
    server = build_server(app[SETTINGS], holds_sockets=app[HOLDS_SOCKETS])
    server.attach(app, socketio_path=PATH)
    app[SERVER] = server
    app[PUBLISHER] = SocketPublisher(server)
    app[SOCKETS] = SocketSessions(server)
    app.cleanup_ctx.append(lifecycle(server))

    async def on_shutdown(_app: web.Application) -> None:
        await drain(server)

    app.on_shutdown.append(on_shutdown)
    return server
