"""``POST /api/v1/sessions``: exchange a launch for a session token; ``DELETE /api/v1/sessions/current``: sign out."""

from __future__ import annotations

from aiohttp import web

from addon.appkeys import DB, RATE_LIMITS, SETTINGS, SOCKETS
from addon.auth import launch, sessions
from addon.auth.sessions import IssuedSession, open_session
from addon.errors import Unauthenticated
from addon.http.auth import principal
from addon.http.json import read_body, respond
from addon.http.limits import client_address
from addon.models import iso_utc
from addon.wire.sessions import Session, SessionBody, SessionUser


async def exchange_launch(app: web.Application, token: str, *, client: str | None = None) -> IssuedSession:
    """Verify and consume a launch, and open a session for it, in one transaction.

    ``client`` (the caller's address) is rate limited: launches per address, and bad launches per address (once
    those are spent, every launch from there waits, so guessing at launches gets nowhere)."""
    limits = app[RATE_LIMITS]
    if client is not None:
        await limits.refuse_if_spent(("bad-launch-ip", client))
        await limits.check(("launch-ip", client))
    try:
        claims = launch.verify(token, app[SETTINGS].launch_secret.reveal())
        async with app[DB].begin() as db:
            consumed = await launch.consume(db, claims)
            return await open_session(db, consumed)
    except Unauthenticated:
        if client is not None:
            await limits.count(("bad-launch-ip", client))
        raise


def session_json(issued: IssuedSession) -> Session:
    p = issued.principal
    return Session(
        token=issued.token,
        expires_at=iso_utc(p.expires_at),
        role=p.role.value,
        user=SessionUser(id=p.user_external_id, name=p.user_name),
        org=p.org_external_id,
        clinic=p.clinic_external_id,
        call=p.call_external_id,
    )


async def create_session(request: web.Request) -> web.Response:
    body = await read_body(request, SessionBody)
    issued = await exchange_launch(request.app, body.launch, client=client_address(request))
    return respond(session_json(issued), status=201)


async def end_session(request: web.Request) -> web.Response:
    """Sign out: the caller's session ends now, and every socket it holds, on any worker, is disconnected."""
    caller = await principal(request)
    async with request.app[DB].begin() as db:
        await sessions.revoke(db, caller.token_hash)
    await request.app[SOCKETS].end_sessions([caller.token_hash])
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/sessions", create_session)
    app.router.add_delete("/api/v1/sessions/current", end_session)
