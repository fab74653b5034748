"""Liveness and readiness for the platform's load balancer."""

from __future__ import annotations

import logging

from aiohttp import web

from addon import db
from addon.appkeys import ENGINE, RECONCILED

log = logging.getLogger("callpay.health")


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    try:
        await db.ping(request.app[ENGINE])
    except Exception:
        log.warning("database not reachable", exc_info=True)
        return web.json_response({"status": "unavailable", "database": "unreachable"}, status=503)
    body: dict[str, object] = {"status": "ok", "database": "ok"}
    if RECONCILED in request.app:
        body["reconciled"] = request.app[RECONCILED].to_json()
    return web.json_response(body)


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
