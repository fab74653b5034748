"""``POST /api/v1/sessions``: exchange a launch for a session token."""

from __future__ import annotations

from aiohttp import web

from addon.appkeys import DB, SETTINGS
from addon.auth import launch
from addon.auth.sessions import IssuedSession, open_session
from addon.errors import InvalidInput
from addon.http.json import read_json
from addon.models import iso_utc


async def exchange_launch(app: web.Application, token: str) -> IssuedSession:
    """Verify and consume a launch, and open a session for it, in one transaction."""
    claims = launch.verify(token, app[SETTINGS].launch_secret.reveal())
    async with app[DB].begin() as db:
        consumed = await launch.consume(db, claims)
        return await open_session(db, consumed)


def session_json(issued: IssuedSession) -> dict[str, object]:
    p = issued.principal
    return {
        "token": issued.token,
        "expires_at": iso_utc(p.expires_at),
        "role": p.role.value,
        "user": {"id": p.user_external_id, "name": p.user_name},
        "org": p.org_external_id,
        "clinic": p.clinic_external_id,
        "call": p.call_external_id,
    }


async def create_session(request: web.Request) -> web.Response:
    body = await read_json(request)
    token = body.get("launch")
    if not isinstance(token, str) or not token:
        raise InvalidInput('Send the launch token as {"launch": "…"}.', field="launch")
    issued = await exchange_launch(request.app, token)
    return web.json_response(session_json(issued), status=201)


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/sessions", create_session)
