"""Clinic setup tests run the real app against the real Stripe sandbox, over HTTP, on real ports: the payment
flow's stack (tests.support.payflow), with the sandbox delivering its webhooks by itself and the admin's side of
Connect OAuth driven as a browser drives it.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web

from addon.app import create_app
from addon.appkeys import PUBLISHER
from addon.settings import Settings
from sandbox.stripe import RunningSandbox
from tests.conftest import session_from_page
from tests.support.payflow import PayStack, RecordingPublisher, build_stack


@pytest.fixture
def app(settings: Settings) -> web.Application:
    """The suite's app, with the realtime events it publishes recorded."""
    made = create_app(settings)
    made[PUBLISHER] = RecordingPublisher(made[PUBLISHER])
    return made


@pytest.fixture
def published(app: web.Application) -> RecordingPublisher:
    recorder = app[PUBLISHER]
    assert isinstance(recorder, RecordingPublisher)
    return recorder


class Stack(PayStack):
    """The stack as a clinic admin meets it: sessions default to an admin outside any call."""

    async def session(self, **claims: Any) -> dict[str, Any]:
        claims.setdefault("role", "team_admin")
        claims.setdefault("call", None)
        return await super().session(**claims)

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


@pytest.fixture
async def stack(
    sandbox: RunningSandbox, database_url: str, aiohttp_client: Callable[..., Any], http: aiohttp.ClientSession
) -> Stack:
    built = await build_stack(sandbox, database_url, aiohttp_client, http, kind=Stack, sandbox_delivers=True)
    assert isinstance(built, Stack)
    return built
