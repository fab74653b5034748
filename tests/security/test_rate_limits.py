"""Rate limits: launches (and bad launches) per address, checkouts, the clinician's socket actions, downloads and
exports; each a 429 in the contract's error shape with Retry-After (an ``ok: false`` ack on a socket), settable,
and shared by workers through Redis.

Budgets are set low here through ``CALLPAY_RATE_LIMITS`` so a test reaches them in a few tries; the defaults are
asserted to be generous enough for the rest of the suite, which runs with them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from limits.aio.storage import RedisStorage

from addon import db, ratelimit
from addon.app import create_app
from addon.appkeys import RATE_LIMITS
from addon.settings import SettingsError
from sandbox.stripe import RunningSandbox
from tests.conftest import bearer, launch_token, make_settings
from tests.support.payflow import PayStack, build_stack


def assert_limited(status: int, body: Any, headers: Any) -> None:
    assert status == 429, body
    assert body["error"]["code"] == "rate_limited"
    assert body["error"]["message"].startswith("Too many tries in a short time. Wait ")
    assert int(headers["Retry-After"]) >= 1


async def post_launch(client: TestClient[Any, Any], token: str, **headers: str) -> tuple[int, Any, Any]:
    response = await client.post("/api/v1/sessions", json={"launch": token}, headers=headers)
    return response.status, await response.json(), response.headers


def test_the_setting_overrides_some_budgets_or_turns_them_off() -> None:
    settings = make_settings("sqlite+aiosqlite:///x.sqlite3")
    assert dict(settings.rate_limits) == ratelimit.defaults() and settings.rate_limits_enabled
    tuned = make_settings("sqlite+aiosqlite:///x.sqlite3", rate_limits="checkout-user=60/minute, launch-ip=1000/hour")
    assert dict(tuned.rate_limits)["checkout-user"] == "60/minute"
    assert dict(tuned.rate_limits)["launch-ip"] == "1000/hour"
    assert dict(tuned.rate_limits)["export-user"] == ratelimit.defaults()["export-user"]
    assert not make_settings("sqlite+aiosqlite:///x.sqlite3", rate_limits="off").rate_limits_enabled
    with pytest.raises(SettingsError) as bad:
        make_settings("sqlite+aiosqlite:///x.sqlite3", rate_limits="checkouts=5/minute,launch-ip=often")
    lines = str(bad.value).splitlines()
    assert any("'checkouts', which is not a rate limit" in line for line in lines)
    assert any("'often' for launch-ip" in line for line in lines)
    with pytest.raises(SettingsError, match="TRUSTED_PROXIES holds 'nginx'"):
        make_settings("sqlite+aiosqlite:///x.sqlite3", trusted_proxies="nginx")


def test_the_defaults_leave_room_for_a_busy_clinic() -> None:
    """One clinic behind one address: dozens of staff and patients opening pages in the same minute."""
    budgets = {name: ratelimit.parse(budget) for name, budget in ratelimit.defaults().items()}
    per_minute = {name: item.amount * 60 / item.get_expiry() for name, item in budgets.items()}
    assert per_minute["launch-ip"] >= 300 and per_minute["socket-connect-ip"] >= 300
    assert per_minute["checkout-user"] >= 30 and per_minute["socket-action"] >= 120
    assert per_minute["download-user"] >= 60 and per_minute["export-user"] >= 10


async def test_launches_per_address(aiohttp_client: Callable[..., Any], database_url: str) -> None:
    client = await aiohttp_client(create_app(make_settings(database_url, rate_limits="launch-ip=5/minute")))
    for _ in range(5):
        assert (await post_launch(client, launch_token()))[0] == 201
    assert_limited(*await post_launch(client, launch_token()))
    # A page's launch counts against the same budget, answered with a page that says to wait.
    page = await client.get("/widget/clinician", params={"launch": launch_token()})
    assert page.status == 429 and int(page.headers["Retry-After"]) >= 1
    assert "Too many tries in a short time" in await page.text()


async def test_bad_launches_per_address_stop_every_launch_from_there(
    aiohttp_client: Callable[..., Any], database_url: str
) -> None:
    client = await aiohttp_client(create_app(make_settings(database_url, rate_limits="bad-launch-ip=3/minute")))
    good = launch_token()
    assert (await post_launch(client, good))[0] == 201
    assert (await post_launch(client, good))[0] == 401  # replayed
    for secret in ("x" * 40, "y" * 40):
        assert (await post_launch(client, launch_token(secret=secret)))[0] == 401
    assert_limited(*await post_launch(client, launch_token(secret="z" * 40)))
    assert_limited(*await post_launch(client, launch_token()))  # a good one waits too


async def test_forwarded_addresses_count_only_behind_a_trusted_proxy(
    aiohttp_client: Callable[..., Any], database_url: str, tmp_path: Any
) -> None:
    # Not trusted: a made-up X-Forwarded-For doesn't buy a fresh budget.
    direct = await aiohttp_client(create_app(make_settings(database_url, rate_limits="launch-ip=2/minute")))
    for n in range(2):
        assert (await post_launch(direct, launch_token(), **{"X-Forwarded-For": f"203.0.113.{n}"}))[0] == 201
    assert_limited(*await post_launch(direct, launch_token(), **{"X-Forwarded-For": "203.0.113.9"}))

    # Behind a trusted proxy (nginx on this machine), each client has its own budget; what the client itself put
    # in front of the proxy's entry is ignored.
    other_url = f"sqlite+aiosqlite:///{tmp_path}/other.sqlite3"
    await db.upgrade(other_url)
    proxied = await aiohttp_client(
        create_app(make_settings(other_url, rate_limits="launch-ip=2/minute", trusted_proxies="127.0.0.1, ::1"))
    )
    for _ in range(2):
        assert (await post_launch(proxied, launch_token(), **{"X-Forwarded-For": "1.1.1.1, 198.51.100.7"}))[0] == 201
    assert_limited(*await post_launch(proxied, launch_token(), **{"X-Forwarded-For": "2.2.2.2, 198.51.100.7"}))
    assert (await post_launch(proxied, launch_token(), **{"X-Forwarded-For": "198.51.100.8"}))[0] == 201


@pytest.fixture
async def tight(
    sandbox: RunningSandbox, database_url: str, aiohttp_client: Callable[..., Any], http: aiohttp.ClientSession
) -> Any:
    stack = await build_stack(
        sandbox,
        database_url,
        aiohttp_client,
        http,
        rate_limits="checkout-user=3/minute,socket-action=3/minute,download-user=2/minute,export-user=1/minute",
    )
    await stack.connect_clinic()
    yield stack
    for user in stack.sockets:
        await user.close()


async def test_checkouts_per_patient(tight: PayStack) -> None:
    stack = tight
    doctor = await stack.socket(await stack.clinician())
    patient = await stack.patient()
    pr = await stack.request_payment(doctor)
    for _ in range(3):
        assert (await stack.checkout(pr["id"], patient))[0] == 200
    response = await stack.client.post(
        f"/api/v1/payment-requests/{pr['id']}/checkout", json={"email": "pat@example.com"}, headers=bearer(patient)
    )
    assert_limited(response.status, await response.json(), response.headers)
    # Another patient (another call) has a budget of their own.
    other = await stack.session(role="patient", sub="patient-2", call="call-2")
    assert (await stack.checkout(pr["id"], other))[0] == 404


async def test_socket_actions_per_session(tight: PayStack) -> None:
    stack = tight
    doctor = await stack.socket(await stack.clinician())
    for n in range(3):
        await stack.request_payment(doctor, client_ref=f"ref-{n}")
    ack = await doctor.call("request_payment", {"amount": "10.00", "description": "x", "client_ref": "ref-9"})
    assert ack["ok"] is False and ack["error"]["code"] == "rate_limited"
    assert ack["error"]["message"].startswith("Too many tries in a short time.")
    # A colleague in the same call is not held up.
    colleague = await stack.socket(await stack.clinician(sub="dr-cat", name="Dr Cat"))
    assert (await stack.request_payment(colleague))["status"] == "requested"


async def test_receipt_downloads_and_exports(tight: PayStack) -> None:
    stack = tight
    doctor = await stack.socket(await stack.clinician())
    patient = await stack.patient()
    pr = await stack.request_payment(doctor)
    await stack.pay(pr["id"], patient)
    assert (await stack.report(pr["id"], patient))[1]["status"] == "paid"
    path = f"/api/v1/payment-requests/{pr['id']}/receipt.pdf"
    for _ in range(2):
        assert (await stack.client.get(path, headers=bearer(patient))).status == 200
    response = await stack.client.get(path, headers=bearer(patient))
    assert_limited(response.status, await response.json(), response.headers)

    admin = await stack.session(role="team_admin", sub="admin-1", call=None)
    assert (await stack.client.get("/api/v1/payments?format=csv", headers=bearer(admin))).status == 200
    response = await stack.client.get("/api/v1/payments?format=csv", headers=bearer(admin))
    assert_limited(response.status, await response.json(), response.headers)
    # The JSON listing isn't an export: it stays open.
    assert (await stack.client.get("/api/v1/payments", headers=bearer(admin))).status == 200


async def test_workers_sharing_redis_share_one_count(
    aiohttp_client: Callable[..., Any], database_url: str, redis_server: str, tmp_path: Any
) -> None:
    settings = make_settings(database_url, redis_url=redis_server, rate_limits="launch-ip=4/minute")
    first = await aiohttp_client(create_app(settings))
    second = await aiohttp_client(create_app(settings))
    assert isinstance(first.app[RATE_LIMITS].storage, RedisStorage)
    for client in (first, second, first, second):
        assert (await post_launch(client, launch_token()))[0] == 201
    assert_limited(*await post_launch(first, launch_token()))
    assert_limited(*await post_launch(second, launch_token()))

    # Another deployment (its own database) on the same Redis counts on its own.
    other_url = f"sqlite+aiosqlite:///{tmp_path}/elsewhere.sqlite3"
    await db.upgrade(other_url)
    elsewhere = await aiohttp_client(
        create_app(make_settings(other_url, redis_url=redis_server, rate_limits="launch-ip=4/minute"))
    )
    assert (await post_launch(elsewhere, launch_token()))[0] == 201


async def test_a_redis_outage_lets_requests_through(
    aiohttp_client: Callable[..., Any], database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    dead = "redis://127.0.0.1:1/0"  # nothing listens there
    limits = ratelimit.RateLimits({"launch-ip": "1/minute"}, redis_url=dead, key_prefix="t")
    try:
        for _ in range(3):
            await limits.check(("launch-ip", "203.0.113.1"))
    finally:
        await limits.close()
    assert "rate limit storage unavailable" in caplog.text
