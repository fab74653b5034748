"""Bearer tokens on the JSON API, resolved to a :class:`Principal`."""

from __future__ import annotations

from aiohttp import web

from addon.appkeys import DB, DB_READ
from addon.auth import sessions
from addon.auth.sessions import Principal
from addon.errors import Unauthenticated

PRINCIPAL = web.RequestKey("principal", Principal)


def bearer_token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(
            "Sign-in is missing: send the session token as 'Authorization: Bearer …'.", code="session_missing"
        )
    return token.strip()


async def principal(request: web.Request) -> Principal:
    """The caller, resolved once per request."""
    if PRINCIPAL in request:
        return request[PRINCIPAL]
    token = bearer_token(request)
    found = await sessions.authenticate(request.app[DB_READ], request.app[DB], token)
    request[PRINCIPAL] = found
    return found
