"""The app for a process manager: ``gunicorn 'addon.wsgi:app' --worker-class aiohttp.GunicornWebWorker -w N``.

Each gunicorn worker awaits :func:`app` once: settings from ``CALLPAY_*`` (a missing one stops the worker naming
it), the database checked current, the app built as ``callpay serve`` builds it. Workers share PostgreSQL and, with
``CALLPAY_REDIS_URL``, Socket.IO rooms; gunicorn's ``--graceful-timeout`` gives each worker's cleanup (sockets
closed, background jobs finishing their round) time to finish on SIGTERM.
"""

from __future__ import annotations

from aiohttp import web

from addon import db, logs
from addon.app import create_app
from addon.settings import Settings


async def app() -> web.Application:
    logs.configure()
    settings = Settings.from_env()
    engine = db.create_engine(settings.database_url)
    try:
        await db.require_current(engine)
    finally:
        await engine.dispose()
    return create_app(settings, long_lived=True)
