"""Sentry gets the error and nothing personal: a real local endpoint stands in for Sentry's ingest."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sentry_sdk
from aiohttp import web
from aiohttp.test_utils import TestServer

from addon.app import create_app
from addon.observability import scrub
from tests.conftest import make_settings

PATIENT_EMAIL = "jane.citizen@example.com"
PATIENT_NAME = "Jane Citizen"
CLIENT_SECRET = "pi_3Abc123_secret_XyZ987"
TOKEN = "tok_sessiontoken_abcdefghijklmnop"


class Ingest:
    def __init__(self) -> None:
        self.envelopes: list[str] = []
        self.arrived = asyncio.Event()

    async def envelope(self, request: web.Request) -> web.Response:
        raw = await request.read()  # aiohttp has already undone any Content-Encoding
        self.envelopes.append(raw.decode())
        self.arrived.set()
        return web.json_response({})


@pytest.fixture
async def ingest() -> AsyncIterator[tuple[Ingest, str]]:
    sink = Ingest()
    app = web.Application()
    app.router.add_post("/api/1/envelope/", sink.envelope)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield sink, f"http://publickey@127.0.0.1:{server.port}/1"
    finally:
        sentry_sdk.get_client().close(timeout=2)
        sentry_sdk.init()  # back to a disabled client for the rest of the run
        await server.close()


async def _fails_with_patient_data(request: web.Request) -> web.Response:
    body = await request.json()
    logging.getLogger("callpay.test").info(
        "checkout started", extra={"patient_name": PATIENT_NAME, "email": body["email"]}
    )
    raise RuntimeError(f"could not charge {body['email']} with {CLIENT_SECRET}")


async def test_an_error_reaches_sentry_with_no_email_name_or_secret(
    aiohttp_client: Any, database_url: str, ingest: tuple[Ingest, str]
) -> None:
    sink, dsn = ingest
    app = create_app(make_settings(database_url, sentry_dsn=dsn))
    app.router.add_post("/api/v1/explode", _fails_with_patient_data)
    client = await aiohttp_client(app)

    response = await client.post(
        f"/api/v1/explode?launch=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig&email={PATIENT_EMAIL}",
        json={"email": PATIENT_EMAIL, "name": PATIENT_NAME},
        headers={"Authorization": f"Bearer {TOKEN}", "Cookie": f"session={TOKEN}"},
    )
    assert response.status == 500
    assert PATIENT_EMAIL not in await response.text()

    await asyncio.to_thread(sentry_sdk.flush, 5)
    await asyncio.wait_for(sink.arrived.wait(), timeout=10)
    sent = "\n".join(sink.envelopes)
    events = [json.loads(line) for line in sent.splitlines() if '"exception"' in line]
    assert len(events) == 1
    assert events[0]["exception"]["values"][0]["type"] == "RuntimeError"
    assert "[Filtered]" in events[0]["exception"]["values"][0]["value"]
    for leaked in (PATIENT_EMAIL, PATIENT_NAME, CLIENT_SECRET, TOKEN, "eyJhbGciOiJIUzI1NiJ9", "sk_test_callpay"):
        assert leaked not in sent, f"{leaked!r} reached Sentry"


def test_scrub_keeps_structure_and_removes_personal_values() -> None:
    event = {
        "message": f"paid by {PATIENT_EMAIL}",
        "extra": {"receipt_email": PATIENT_EMAIL, "amount": 8000, "client_secret": CLIENT_SECRET},
        "breadcrumbs": {"values": [{"message": f"Authorization: Bearer {TOKEN}", "data": {"user_name": "x"}}]},
    }
    cleaned = scrub(event)
    assert cleaned["message"] == "paid by [Filtered]"
    assert cleaned["extra"] == {"receipt_email": "[Filtered]", "amount": 8000, "client_secret": "[Filtered]"}
    assert cleaned["breadcrumbs"]["values"][0]["message"] == "Authorization: [Filtered]"
    assert cleaned["breadcrumbs"]["values"][0]["data"] == {"user_name": "[Filtered]"}
