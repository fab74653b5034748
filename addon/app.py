"""The one app factory. Nothing opens at import time: the engine, the Stripe client, the Socket.IO server and
background tasks open and close with the app, in ``cleanup_ctx``."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

import clinic_config
import payment_centre
import realtime
import widget
from addon import __version__, background, db, loop_health, metrics, middleware
from addon.appkeys import (
    AFTER_COMMIT,
    CLOCK,
    DB,
    DB_READ,
    ENGINE,
    GATEWAY,
    HOLDS_SOCKETS,
    PUBLISHER,
    RATE_LIMITS,
    SETTINGS,
    SOCKETS,
)
from addon.clock import SYSTEM
from addon.gateway import StripeGateway
from addon.http import (
    health,
    openapi,
    payment_links,
    payments,
    plans,
    receipts,
    saved_cards,
    sessions,
    webhooks,
)
from addon.observability import init_sentry
from addon.outbound import DroppingPublisher, NoSockets
from addon.pages import serve_static, setup_templates
from addon.ratelimit import RateLimits, redis_prefix
from addon.settings import Settings

log = logging.getLogger("callpay")
STATIC = Path(__file__).parent / "static"
FAVICON = STATIC / "icons" / "request-payment.svg"
MAX_BODY = 1024 * 1024


def create_app(
    settings: Settings, *, require_migrated: bool = True, long_lived: bool = False, holds_sockets: bool = True
) -> web.Application:
    """The app. ``long_lived`` (``callpay serve``) also tunes the process's garbage collector once it has started,
    for a server that holds thousands of sockets for hours (see addon/loop_health.py); tests and tools leave the
    collector as it is. ``holds_sockets`` is False for ``callpay worker``, which no client's socket reaches: it
    publishes its events to the web workers and hears none of theirs."""
    init_sentry(settings, release=__version__)
    app = web.Application(
        middlewares=[middleware.request_context, middleware.security_headers, middleware.errors],
        client_max_size=MAX_BODY,
    )
    app[SETTINGS] = settings
    app[PUBLISHER] = DroppingPublisher()
    app[SOCKETS] = NoSockets()
    app[HOLDS_SOCKETS] = holds_sockets
    app[AFTER_COMMIT] = []
    app[CLOCK] = SYSTEM
    app[RATE_LIMITS] = rate_limits(settings)
    setup_templates(app)
    metrics.setup(app)
    app.cleanup_ctx.append(_database(require_migrated))
    app.cleanup_ctx.append(_stripe_gateway)
    app.cleanup_ctx.append(_rate_limits)
    app.cleanup_ctx.append(_loop_watch(long_lived))
    health.setup(app)
    sessions.setup(app)
    webhooks.setup(app)
    payments.setup(app)
    openapi.setup(app)
    receipts.setup(app)
    payment_links.setup(app)
    saved_cards.setup(app)
    plans.setup(app)
    background.setup(app)
    serve_static(app, "/static/", STATIC)
    app.router.add_get("/favicon.ico", _favicon)
    # Each part of the product registers its own routes and background work.
    for part in _PARTS:
        part(app)
    openapi.check_described(app)
    if long_lived:
        # Last, so every other cleanup context has opened and what they made is frozen with the rest.
        app.cleanup_ctx.append(_long_lived_collector)
    return app


_PARTS: list[Callable[[web.Application], None]] = [
    clinic_config.setup,
    widget.setup,
    realtime.setup,
    payment_centre.setup,
]


async def _favicon(_request: web.Request) -> web.FileResponse:
    # Pages name their icon in <head>; this answers browsers and tools that ask for /favicon.ico regardless.
    return web.FileResponse(
        FAVICON, headers={"Content-Type": "image/svg+xml", "Cache-Control": "public, max-age=86400"}
    )


def _database(require_migrated: bool) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        engine = db.create_engine(app[SETTINGS].database_url)
        try:
            if require_migrated:
                await db.require_current(engine)
            app[ENGINE] = engine
            app[DB] = db.session_factory(engine)
            app[DB_READ] = db.read_session_factory(engine)
            yield
        finally:
            await engine.dispose()

    return context


def rate_limits(settings: Settings) -> RateLimits:
    """In memory with one worker; in Redis (keys per database) when several workers share counts."""
    return RateLimits(
        dict(settings.rate_limits),
        enabled=settings.rate_limits_enabled,
        redis_url=settings.redis_url,
        key_prefix=redis_prefix(settings.database_url),
    )


async def _rate_limits(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[RATE_LIMITS].close()


async def _stripe_gateway(app: web.Application) -> AsyncIterator[None]:
    gateway = StripeGateway(app[SETTINGS])
    await gateway.open()
    app[GATEWAY] = gateway
    yield
    await gateway.close()


def _loop_watch(long_lived: bool) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(_app: web.Application) -> AsyncIterator[None]:
        watch = loop_health.LoopWatch()
        task = asyncio.create_task(watch.run(), name="callpay-loop-watch")
        loop = asyncio.get_running_loop()
        if long_lived:
            # `kill -USR1 <pid>`: log the loop's health now (and start a new window for its longest stall).
            # `kill -USR2 <pid>`: free reference cycles that died after they were frozen (one full pause).
            loop.add_signal_handler(signal.SIGUSR1, watch.summary)
            loop.add_signal_handler(signal.SIGUSR2, loop_health.compact)
        try:
            yield
        finally:
            if long_lived:
                loop.remove_signal_handler(signal.SIGUSR1)
                loop.remove_signal_handler(signal.SIGUSR2)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            watch.summary()

    return context


async def _long_lived_collector(_app: web.Application) -> AsyncIterator[None]:
    loop_health.tune_collector()
    log.info("garbage collector tuned for a long-lived server", extra={"frozen": gc.get_freeze_count()})
    clock = asyncio.create_task(loop_health.collector_clock(), name="callpay-collector-clock")
    yield
    clock.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await clock
