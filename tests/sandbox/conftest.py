"""Fixtures for the Stripe sandbox's tests: a fresh sandbox per test (``http`` comes from tests/conftest.py), SDK
clients, a webhook receiver."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import stripe
from aiohttp import web

from sandbox.stripe import RunningSandbox, start_sandbox

REAL_KEY = os.environ.get("STRIPE_TEST_SECRET_KEY")


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    """The suite's sandbox, allowing one more delivery attempt: the retry tests count four. Retries start 0.1 s
    apart, so the doubling the retry test checks (0.1 s, then 0.2 s) stands well clear of a loaded CI's jitter."""
    running = await start_sandbox(webhook_retry_base=0.1, webhook_max_attempts=4)
    yield running
    await running.close()


def new_platform_key() -> str:
    return "sk_test_" + secrets.token_hex(8)


ClientFactory = Callable[..., stripe.StripeClient]


@pytest.fixture
async def make_client(sandbox: RunningSandbox) -> AsyncIterator[ClientFactory]:
    """StripeClients on the async aiohttp transport, against the sandbox or (with the env key) real Stripe."""
    http_clients: list[stripe.AIOHTTPClient] = []
    base = None if REAL_KEY else sandbox.url

    def make(key: str, *, retries: int = 0) -> stripe.StripeClient:
        http_client = stripe.AIOHTTPClient()
        http_clients.append(http_client)
        addresses: Any = {} if base is None else {"api": base, "connect": base}
        return stripe.StripeClient(key, http_client=http_client, base_addresses=addresses, max_network_retries=retries)

    yield make
    for http_client in http_clients:
        await http_client.close_async()  # type: ignore[no-untyped-call]


@pytest.fixture
def platform_key() -> str:
    return REAL_KEY or new_platform_key()


@pytest.fixture
def client(make_client: ClientFactory, platform_key: str) -> stripe.StripeClient:
    return make_client(platform_key)


async def connect_account(
    http: aiohttp.ClientSession, base: str, platform_key: str, *, business_name: str = "Harbour Physio"
) -> dict[str, Any]:
    """Walk the OAuth dance as a browser and the platform would: consent page, redirect, code for token."""
    token = platform_key.removeprefix("sk_test_")
    redirect = "https://platform.example/callback"
    query = {
        "response_type": "code",
        "client_id": f"ca_{token}",
        "scope": "read_write",
        "redirect_uri": redirect,
        "state": "xyz",
    }
    async with http.get(f"{base}/oauth/authorize", params=query) as page:
        assert page.status == 200
        assert 'data-testid="oauth-authorize"' in await page.text()
    form = {
        **query,
        "account": "new",
        "business_name": business_name,
        "country": "AU",
        "currency": "aud",
        "action": "authorize",
    }
    async with http.post(f"{base}/oauth/authorize", data=form, allow_redirects=False) as answer:
        assert answer.status == 302
        location = answer.headers["Location"]
    assert location.startswith(redirect)
    values = parse_qs(urlsplit(location).query)
    assert values["state"] == ["xyz"]
    async with http.post(
        f"{base}/oauth/token",
        data={"grant_type": "authorization_code", "code": values["code"][0]},
        headers={"Authorization": f"Bearer {platform_key}"},
    ) as answer:
        assert answer.status == 200
        body: dict[str, Any] = await answer.json()
    return body


@pytest.fixture
async def connected_account(platform_key: str, sandbox: RunningSandbox, http: aiohttp.ClientSession) -> str:
    """An account connected to the platform: made through OAuth on the sandbox, or named by the environment."""
    if REAL_KEY:
        account = os.environ.get("STRIPE_TEST_CONNECTED_ACCOUNT")
        if not account:
            pytest.fail(
                "set STRIPE_TEST_CONNECTED_ACCOUNT (a test-mode account connected to your platform) "
                "to run Connect tests against Stripe"
            )
        return account
    token = await connect_account(http, sandbox.url, platform_key)
    return str(token["stripe_user_id"])


@dataclass
class Receiver:
    """A real HTTP server that records webhook deliveries and answers with scripted statuses."""

    url: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered in turn; 200 once used up
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        self.arrived.set()
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status, text="ok")

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]

    async def wait_for(self, count: int, seconds: float = 5.0) -> None:
        async def enough() -> None:
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(enough(), seconds)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    recorded = Receiver()
    app = web.Application()
    app.router.add_post("/hook", recorded.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    recorded.url = f"http://127.0.0.1:{port}/hook"
    yield recorded
    await runner.cleanup()


Control = Callable[..., Awaitable[Any]]


@pytest.fixture
def control(sandbox: RunningSandbox, http: aiohttp.ClientSession) -> Control:
    """Call a ``/_sandbox/`` control: ``await control("POST", "/_sandbox/faults", {...})``."""

    async def call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async with http.request(method, sandbox.url + path, json=body) as answer:
            assert answer.status < 300, await answer.text()
            return await answer.json()

    return call
