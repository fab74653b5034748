"""Reading JSON bodies with errors that say what to fix."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from addon.errors import InvalidInput

MAX_JSON_BYTES = 64 * 1024


async def read_json(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise InvalidInput("The request body is too large.")
    raw = await request.read()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise InvalidInput("The request body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise InvalidInput("The request body must be a JSON object.")
    return body
