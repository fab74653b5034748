"""``callpay worker``: the process that runs the background jobs, so web workers serve only requests and sockets.

It builds the same app as ``callpay serve`` with ``background`` on (the receipt outbox, the Stripe inbox's polling
round, the sweepers, reconciliation: every job registered with :func:`addon.background.job`) and runs it until
SIGTERM or SIGINT, then closes each job within its grace. Events the jobs publish (a ``payment_received`` pop-up)
reach the web workers' sockets through Redis (``CALLPAY_REDIS_URL``), as any worker's would. Several worker
processes may run at once: the jobs claim their rows with leases, so each receipt and each Stripe event is
worked on once.

With ``--port`` it also answers ``/healthz`` and ``/readyz`` for a process manager; without it, it listens on
nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal

from aiohttp import web

from addon.app import create_app
from addon.settings import Settings

log = logging.getLogger("callpay.worker")


def run(settings: Settings, *, host: str = "127.0.0.1", port: int | None = None) -> int:
    asyncio.run(_run(dataclasses.replace(settings, background=True), host=host, port=port))
    return 0


async def _run(settings: Settings, *, host: str, port: int | None) -> None:
    runner = web.AppRunner(create_app(settings, long_lived=True, holds_sockets=False), handle_signals=False)
    await runner.setup()
    if port is not None:
        site = web.TCPSite(runner, host, port)
        await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info("background worker running", extra={"health_port": port})
    print(
        "Callpay worker running" + (f" (health on http://{host}:{port}/healthz)" if port is not None else ""),
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        log.info("background worker stopping")
        await runner.cleanup()
