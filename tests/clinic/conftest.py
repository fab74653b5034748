"""Clinic setup tests run the real app against the real Stripe sandbox, over HTTP, on real ports.

The app listens on a port chosen up front because two things must know its address before it starts: Stripe's
``redirect_uri`` (``CALLPAY_PUBLIC_URL``) and the sandbox's webhook endpoint, whose signing secret the app's
settings then carry.
"""

from __future__ import annotations

import html
import json
import re
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from addon.app import create_app
from addon.outbound import PUBLISHER, Outbound
from addon.settings import Settings
from sandbox.stripe import RunningSandbox, start_sandbox
from tests.conftest import bearer, free_port, launch_token, make_settings

SESSION_BLOCK = re.compile(r'<script type="application/json" id="callpay-session">(.*?)</script>', re.S)


def session_from_page(text: str) -> dict[str, Any]:
    """The session a surface page handed over in its inert JSON block."""
    found = SESSION_BLOCK.search(text)
    assert found, "the page carries no session block"
    body: dict[str, Any] = json.loads(found.group(1))
    return body


class CapturingPublisher:
    """Records what would go out over Socket.IO, so tests can assert exact events and counts."""

    def __init__(self) -> None:
        self.events: list[Outbound] = []

    async def publish(self, events: Any) -> None:
        self.events.extend(events)

    def of(self, name: str) -> list[Outbound]:
        return [e for e in self.events if e.event == name]


@pytest.fixture
def published() -> CapturingPublisher:
    return CapturingPublisher()


@pytest.fixture
def app(settings: Settings, published: CapturingPublisher) -> web.Application:
    """The suite's app, with realtime events captured instead of sent."""
    made = create_app(settings)
    made[PUBLISHER] = published
    return made


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    running = await start_sandbox(webhook_retry_base=0.02, webhook_max_attempts=3)
    yield running
    await running.close()


@dataclass
class Stack:
    """The app, wired to a sandbox platform account whose connected accounts' events reach the app's webhook."""

    client: TestClient[Any, Any]
    app: web.Application
    settings: Settings
    sandbox: RunningSandbox
    platform_key: str
    base: str
    http: aiohttp.ClientSession
    published: CapturingPublisher

    async def session(self, **claims: Any) -> dict[str, Any]:
        claims.setdefault("role", "team_admin")
        claims.setdefault("call", None)
        response = await self.client.post("/api/v1/sessions", json={"launch": launch_token(**claims)})
        assert response.status == 201, await response.text()
        body: dict[str, Any] = await response.json()
        return body

    async def api(self, method: str, path: str, session: dict[str, Any] | None = None, **kw: Any) -> Any:
        headers = bearer(session) if session else {}
        response = await self.client.request(method, path, headers=headers, **kw)
        return response.status, await response.json()

    async def start_oauth(self, session: dict[str, Any]) -> str:
        status, body = await self.api("POST", "/api/v1/clinic/stripe/connect", session)
        assert status == 201, body
        url: str = body["authorize_url"]
        return url

    async def consent(self, authorize_url: str, *, action: str = "authorize", name: str = "Harbour Physio") -> str:
        """Open Stripe's consent page as a browser would and press a button; returns where Stripe sends us."""
        async with self.http.get(authorize_url) as page:
            assert page.status == 200
            assert 'data-testid="oauth-authorize"' in await page.text()
        query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
        form = {**query, "account": "new", "business_name": name, "country": "AU", "currency": "aud", "action": action}
        async with self.http.post(f"{self.sandbox.url}/oauth/authorize", data=form, allow_redirects=False) as answer:
            assert answer.status == 302, await answer.text()
            return answer.headers["Location"]

    async def follow(self, url: str) -> tuple[int, str]:
        async with self.http.get(url) as page:
            return page.status, await page.text()

    async def connect(self, session: dict[str, Any], *, name: str = "Harbour Physio") -> dict[str, Any]:
        """The whole dance; returns the session the page came back with."""
        back = await self.consent(await self.start_oauth(session), name=name)
        status, text = await self.follow(back)
        assert status == 200, text
        assert "is linked to this clinic" in html.unescape(text)
        return session_from_page(text)

    async def sandbox_post(self, path: str, body: dict[str, Any]) -> Any:
        async with self.http.post(f"{self.sandbox.url}{path}", json=body) as answer:
            assert answer.status < 300, await answer.text()
            return await answer.json()

    async def flush_webhooks(self) -> None:
        await self.sandbox_post("/_sandbox/webhooks/flush", {"timeout": 10})


StackFactory = Callable[..., Any]


@pytest.fixture
async def stack(sandbox: RunningSandbox, database_url: str, aiohttp_client: Callable[..., Any]) -> AsyncIterator[Stack]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    token = secrets.token_hex(8)
    key = f"sk_test_{token}"
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{sandbox.url}/v1/webhook_endpoints",
            data={"url": f"{base}/stripe/webhook", "enabled_events[]": "*", "connect": "true"},
            headers={"Authorization": f"Bearer {key}"},
        ) as answer:
            assert answer.status == 200, await answer.text()
            secret = (await answer.json())["secret"]
        settings = make_settings(
            database_url,
            stripe_secret_key=key,
            stripe_publishable_key=f"pk_test_{token}",
            stripe_connect_client_id=f"ca_{token}",
            stripe_webhook_secret=secret,
            stripe_api_base=sandbox.url,
            stripe_connect_base=sandbox.url,
            public_url=base,
        )
        app = create_app(settings)
        published = CapturingPublisher()
        app[PUBLISHER] = published
        client = await aiohttp_client(app, server_kwargs={"port": port})
        yield Stack(client, app, settings, sandbox, key, base, http, published)
