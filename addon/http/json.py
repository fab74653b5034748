"""Reading JSON bodies into the wire contract's models, and answering with them."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from addon import input_limits
from addon.errors import InvalidInput
from addon.wire.base import In, Outgoing, parse

MAX_JSON_BYTES = 64 * 1024


async def read_json(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise InvalidInput("The request body is too large.")
    raw = await request.read()
    if not raw:
        return {}
    body = input_limits.loads(raw)
    if not isinstance(body, dict):
        raise InvalidInput("The request body must be a JSON object.")
    return body


async def read_body(request: web.Request, model: type[In]) -> In:
    """The request's JSON body as ``model``: unknown fields and wrong types are a 400 naming the field."""
    return parse(model, await read_json(request))


def respond(body: Outgoing, *, status: int = 200) -> web.Response:
    return web.json_response(body.to_json(), status=status)
