"""Log lines are JSON, and a line written while serving a request carries that request's id."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

from aiohttp import web

from addon import logs
from addon.app import create_app
from addon.settings import Settings


async def test_a_log_line_written_in_a_request_carries_its_request_id(aiohttp_client: Any, settings: Settings) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("callpay.test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    async def noisy(_request: web.Request) -> web.Response:
        logger.info("request payment", extra={"payment_request": "pr_123"})
        return web.json_response({})

    app = create_app(settings)
    app.router.add_get("/api/v1/noisy", noisy)
    client = await aiohttp_client(app)
    try:
        response = await client.get("/api/v1/noisy", headers={"X-Request-Id": "platform-req-42"})
    finally:
        logger.removeHandler(handler)
    assert response.status == 200
    line = json.loads(stream.getvalue().strip())
    assert line["request_id"] == "platform-req-42"
    assert line["message"] == "request payment"
    assert line["payment_request"] == "pr_123"
    assert line["level"] == "info"


def test_outside_a_request_there_is_no_request_id() -> None:
    record = logging.makeLogRecord({"msg": "started", "levelno": logging.INFO, "levelname": "INFO"})
    assert "request_id" not in json.loads(logs.JsonFormatter().format(record))
