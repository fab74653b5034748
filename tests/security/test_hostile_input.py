"""Hostile input as an attacker on the internet sends it: every answer is a 4xx in the contract's error shape.

Each case runs on SQLite and on PostgreSQL (which refuses NUL bytes and over-wide values where SQLite stores
them), through the API as a signed-in clinic admin and as nobody.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from addon.app import create_app
from tests.conftest import bearer, launch_token, make_settings, open_session, stripe_signature

DEEP = b'{"launch":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
BODIES: list[tuple[str, bytes]] = [
    ("lone surrogate", b'{"launch":"\\ud800"}'),
    ("NUL", b'{"launch":"a\\u0000b"}'),
    ("deep nesting", DEEP),
    ("NaN", b'{"launch":NaN}'),
    ("Infinity", b'{"launch":Infinity}'),
    ("huge integer", b'{"launch":' + b"9" * 4000 + b"}"),
    ("invalid UTF-8", b'{"launch":"\xff\xfe"}'),
    ("not an object", b"[1,2,3]"),
    ("string too long", b'{"launch":"' + b"a" * 30_000 + b'"}'),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def any_database(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("database_url" if request.param == "sqlite" else "migrated_postgres_url")
    return url


@pytest.fixture
async def hostile(aiohttp_client: Callable[..., Any], any_database: str) -> AsyncIterator[TestClient[Any, Any]]:
    client: TestClient[Any, Any] = await aiohttp_client(create_app(make_settings(any_database)))
    yield client


def _assert_contract_error(status: int, body: Any, *, expected: int = 400) -> None:
    assert status == expected, body
    assert set(body) == {"error"} and isinstance(body["error"]["code"], str) and body["error"]["message"]


@pytest.mark.parametrize(("name", "raw"), BODIES, ids=[b[0] for b in BODIES])
async def test_hostile_session_bodies_are_refused_in_the_error_shape(
    hostile: TestClient[Any, Any], name: str, raw: bytes
) -> None:
    response = await hostile.post("/api/v1/sessions", data=raw, headers={"Content-Type": "application/json"})
    _assert_contract_error(response.status, await response.json())


@pytest.mark.parametrize(
    "value",
    ["Harbour\u202eevil", "bell\x07", "nul\x00", "\ud800", "x" * 30_000],
    ids=["bidi override", "BEL", "NUL", "lone surrogate", "overlong"],
)
async def test_hostile_settings_text_is_refused(hostile: TestClient[Any, Any], value: str) -> None:
    admin = await open_session(hostile, role="team_admin")
    raw = json.dumps({"receipt_business_name": value}).encode()
    response = await hostile.patch(
        "/api/v1/clinic/settings", data=raw, headers={**bearer(admin), "Content-Type": "application/json"}
    )
    _assert_contract_error(response.status, await response.json())


@pytest.mark.parametrize("path", ["/api/v1/payment-requests/a%00b", "/api/v1/payment-requests/%ED%A0%80"])
async def test_hostile_paths_and_queries_never_reach_the_database(hostile: TestClient[Any, Any], path: str) -> None:
    admin = await open_session(hostile, role="team_admin")
    response = await hostile.get(path, headers=bearer(admin))
    # A NUL is refused outright; undecodable bytes reach no row (aiohttp decodes them to U+FFFD): a 404.
    _assert_contract_error(response.status, await response.json(), expected=400 if "%00" in path else 404)
    response = await hostile.get("/api/v1/payments?status=a%00b", headers=bearer(admin))
    _assert_contract_error(response.status, await response.json())


@pytest.mark.parametrize(
    "times",
    [{"iat": 10**20, "exp": 10**20 + 60}, {"iat": -(10**20), "exp": 10**20}, {"exp": 1e308 * 10}],
    ids=["far future", "far past", "infinite exp"],
)
async def test_launch_times_out_of_range_are_a_refused_launch(
    hostile: TestClient[Any, Any], times: dict[str, Any]
) -> None:
    token = launch_token(role="team_admin", extra=times)
    response = await hostile.post("/api/v1/sessions", json={"launch": token})
    _assert_contract_error(response.status, await response.json(), expected=401)
    for page in ("/clinic-config", "/payment-centre"):
        response = await hostile.get(page, params={"launch": token})
        assert response.status < 500, page


async def test_the_widest_launch_the_contract_allows_signs_in_and_saves_settings(
    hostile: TestClient[Any, Any],
) -> None:
    # iss + jti of 200 characters each, a clinic id of 200: stored whole on both databases.
    clinic = "c" * 200
    token = launch_token(role="team_admin", clinic=clinic, extra={"jti": "j" * 200})
    response = await hostile.post("/api/v1/sessions", json={"launch": token})
    assert response.status == 201, await response.text()
    admin = await response.json()
    response = await hostile.patch(
        "/api/v1/clinic/settings", json={"receipt_business_name": "Harbour Physio"}, headers=bearer(admin)
    )
    assert response.status == 200, await response.text()


MALFORMED_EVENTS: list[tuple[str, Any]] = [
    ("no data", {"id": "evt_1", "type": "payment_intent.succeeded", "object": "event"}),
    ("no id", {"type": "payment_intent.succeeded", "object": "event", "data": {"object": {}}}),
    ("data a string", {"id": "evt_2", "type": "charge.refunded", "object": "event", "data": "x"}),
    ("object a list", {"id": "evt_3", "type": "charge.refunded", "object": "event", "data": {"object": [1]}}),
    ("a list", [1, 2]),
    ("a string", "event"),
    ("created huge", {"id": "evt_4", "type": "x", "object": "event", "created": 10**30, "data": {"object": {}}}),
]


@pytest.mark.parametrize(("name", "event"), MALFORMED_EVENTS, ids=[e[0] for e in MALFORMED_EVENTS])
async def test_signed_but_malformed_stripe_events_are_refused(
    hostile: TestClient[Any, Any], name: str, event: Any
) -> None:
    payload = json.dumps(event).encode()
    response = await hostile.post(
        "/stripe/webhook",
        data=payload,
        headers={
            "Stripe-Signature": stripe_signature(payload, "whsec_test_secret"),
            "Content-Type": "application/json",
        },
    )
    _assert_contract_error(response.status, await response.json())
