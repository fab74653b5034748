"""``GET /api/v1/openapi.json``: the OpenAPI 3.1 document, generated from the wire contract's models.

It lists exactly the ``/api/v1`` routes this app serves, each described in :mod:`addon.wire.routes`; a route the
app serves that the contract doesn't describe is a start-up error, so nothing is served undocumented.
"""

from __future__ import annotations

from aiohttp import web

from addon.wire.document import Operation, document
from addon.wire.routes import route

PREFIX = "/api/v1/"


def served_operations(app: web.Application) -> frozenset[Operation]:
    operations = set()
    for candidate in app.router.routes():
        resource = candidate.resource
        if resource is None or not resource.canonical.startswith(PREFIX) or candidate.method in ("HEAD", "OPTIONS"):
            continue
        operations.add((resource.canonical, candidate.method.lower()))
    return frozenset(operations)


def check_described(app: web.Application) -> None:
    """Refuse to start with an ``/api/v1`` route that :mod:`addon.wire.routes` doesn't describe."""
    for path, method in served_operations(app):
        route(method, path)  # type: ignore[arg-type]


async def serve(request: web.Request) -> web.Response:
    return web.json_response(document(served_operations(request.app)))


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/openapi.json", serve)
