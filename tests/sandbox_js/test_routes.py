"""How the sandbox serves the Stripe.js stand-in (no browser needed)."""

from __future__ import annotations

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient

from sandbox.stripe.js import add_js_routes


@pytest.fixture
def js_app() -> web.Application:
    app = web.Application()
    add_js_routes(app)
    return app


@pytest.mark.parametrize("path", ["/v3", "/v3/", "/v3/stripe.js"])
async def test_script_is_served_as_javascript(
    aiohttp_client: AiohttpClient, js_app: web.Application, path: str
) -> None:
    client = await aiohttp_client(js_app)
    response = await client.get(path)
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/javascript; charset=utf-8"
    assert "window.Stripe = Stripe" in await response.text()


async def test_framed_pages_only_run_their_own_code(aiohttp_client: AiohttpClient, js_app: web.Application) -> None:
    client = await aiohttp_client(js_app)
    for page in ("elements-inner.html", "three-d-secure.html"):
        response = await client.get(f"/v3/{page}")
        assert response.status == 200
        assert response.content_type == "text/html"
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy
        assert "connect-src 'self'" in policy
        assert "frame-ancestors *" in policy  # any site may embed the card fields, as with Stripe


@pytest.mark.parametrize("path", ["/v3/nope.js", "/v3/..%2F__init__.py", "/v3/static", "/v3/elements-inner.js/x"])
async def test_nothing_else_is_served(aiohttp_client: AiohttpClient, js_app: web.Application, path: str) -> None:
    client = await aiohttp_client(js_app)
    response = await client.get(path)
    assert response.status == 404
