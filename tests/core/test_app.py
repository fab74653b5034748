from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from addon.app import create_app
from addon.errors import InvalidInput
from addon.settings import Settings


async def test_healthz_and_readyz(client: TestClient[Any, Any]) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}
    response = await client.get("/readyz")
    assert response.status == 200
    assert (await response.json())["database"] == "ok"


async def test_readyz_says_unavailable_when_the_database_is_unreachable(aiohttp_client: Any) -> None:
    from tests.conftest import make_settings

    # Nothing listens on port 1: the database is unreachable, while the process itself is up.
    app = create_app(make_settings("postgresql+asyncpg://callpay@127.0.0.1:1/callpay"), require_migrated=False)
    client = await aiohttp_client(app)
    assert (await client.get("/healthz")).status == 200
    response = await client.get("/readyz")
    assert response.status == 503
    assert await response.json() == {"status": "unavailable", "database": "unreachable"}


async def test_unknown_api_route_is_a_json_404_in_the_contract_shape(client: TestClient[Any, Any]) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.status == 404
    body = await response.json()
    assert body["error"]["code"] == "not_found"
    assert "nothing at this address" in body["error"]["message"]


async def test_unknown_page_is_a_readable_html_404(client: TestClient[Any, Any]) -> None:
    response = await client.get("/no-such-page", headers={"Accept": "text/html"})
    assert response.status == 404
    assert response.content_type == "text/html"
    text = await response.text()
    assert "nothing at this address" in text
    assert "Content-Security-Policy" in response.headers


async def test_every_response_carries_a_request_id_and_security_headers(client: TestClient[Any, Any]) -> None:
    response = await client.get("/healthz", headers={"X-Request-Id": "req-from-platform-1"})
    assert response.headers["X-Request-Id"] == "req-from-platform-1"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    response = await client.get("/healthz")
    assert len(response.headers["X-Request-Id"]) == 16


async def _boom(_request: web.Request) -> web.Response:
    raise RuntimeError("secret internals: sk_test_leak patient@example.com")


async def _invalid(_request: web.Request) -> web.Response:
    raise InvalidInput("Enter an amount, such as 80.00.", field="amount")


async def test_unexpected_errors_are_a_generic_500_that_leaks_nothing(
    aiohttp_client: Any, settings: Settings, caplog: Any
) -> None:
    app = create_app(settings)
    app.router.add_get("/api/v1/boom", _boom)
    app.router.add_get("/api/v1/invalid", _invalid)
    client = await aiohttp_client(app)
    response = await client.get("/api/v1/boom")
    assert response.status == 500
    body = await response.json()
    assert body == {
        "error": {"code": "internal_error", "message": "Something went wrong on our side. Please try again."}
    }
    assert "unhandled error" in caplog.text
    response = await client.get("/api/v1/invalid")
    assert response.status == 400
    assert await response.json() == {
        "error": {"code": "invalid", "message": "Enter an amount, such as 80.00.", "field": "amount"}
    }


async def test_malformed_json_body_gets_a_clear_error(client: TestClient[Any, Any]) -> None:
    response = await client.post("/api/v1/sessions", data=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert (await response.json())["error"]["message"] == "The request body is not valid JSON."
