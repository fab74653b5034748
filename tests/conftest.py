"""Fixtures shared by the whole suite. Real things wherever they run here: SQLite files, the machine's PostgreSQL
and Redis (started if stopped), and the Stripe sandbox over HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import shutil
import socket
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from addon import db
from addon.app import create_app
from addon.settings import Settings
from sandbox.stripe import RunningSandbox, start_sandbox
from sandbox.stripe.config import REALISTIC
from sandbox.stripe.signing import signature_header
from scripts import services

pytest_plugins = ["tests.support.contract", "tests.support.chaos"]
if (Path(__file__).parent / "browser_support.py").exists():
    pytest_plugins.append("tests.browser_support")

LAUNCH_SECRET = "launch-secret-for-tests-0123456789abcdef"
PLATFORM = "https://video.example.test"
BASE_ENV: dict[str, str] = {
    "CALLPAY_LAUNCH_SECRET": LAUNCH_SECRET,
    "CALLPAY_STRIPE_SECRET_KEY": "sk_test_callpay",
    "CALLPAY_STRIPE_PUBLISHABLE_KEY": "pk_test_callpay",
    "CALLPAY_STRIPE_CONNECT_CLIENT_ID": "ca_callpay",
    "CALLPAY_STRIPE_WEBHOOK_SECRET": "whsec_test_secret",
    "CALLPAY_PUBLIC_URL": "http://127.0.0.1:8080",
}


def free_port() -> int:
    """A port nothing listens on now, for servers whose address must be known before they start."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def make_settings(database_url: str, **overrides: str) -> Settings:
    env = {**BASE_ENV, "CALLPAY_DATABASE_URL": database_url}
    env.update({f"CALLPAY_{k.upper()}": v for k, v in overrides.items()})
    return Settings.from_env(env)


# --- Databases ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once per run; each test copies the file, which is much faster than migrating again."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    asyncio.run(db.upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture
def database_url(tmp_path: Path, migrated_sqlite_template: Path) -> str:
    target = tmp_path / "callpay.sqlite3"
    shutil.copyfile(migrated_sqlite_template, target)
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The machine's PostgreSQL, started if it is installed but down. Tests that need it fail if it can't run."""
    assert services.ensure_postgres(), "PostgreSQL is not reachable on 127.0.0.1:5432 and could not be started"
    return os.environ.get("CALLPAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


async def _admin(postgres_server: str, sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(postgres_server)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture
async def postgres_url(postgres_server: str) -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"callpay_test_{uuid.uuid4().hex[:12]}"
    await _admin(postgres_server, f'CREATE DATABASE "{name}"')
    base = postgres_server.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{name}"
    finally:
        await _admin(postgres_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def migrated_postgres_url(postgres_url: str) -> str:
    await db.upgrade(postgres_url)
    return postgres_url


@pytest.fixture(scope="session")
def redis_server() -> str:
    assert services.ensure_redis(), "Redis is not reachable on 127.0.0.1:6379 and could not be started"
    return "redis://127.0.0.1:6379/0"


# --- The Stripe sandbox ------------------------------------------------------------------------------------


@pytest.fixture
async def sandbox(request: pytest.FixtureRequest) -> AsyncIterator[RunningSandbox]:
    """A fresh sandbox per test, retrying webhooks quickly so a failed delivery settles within the test.

    Webhooks arrive as Stripe's may: some twice, the events of one action in any order, a little late. The dice
    are seeded from the test's name, so a failure caused by one order repeats on the next run of that test."""
    seed = zlib.crc32(request.node.nodeid.encode())
    running = await start_sandbox(
        webhook_retry_base=0.02, webhook_max_attempts=3, delivery=dataclasses.replace(REALISTIC, seed=seed)
    )
    yield running
    await running.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def stripe_signature(payload: bytes, secret: str) -> str:
    """The ``Stripe-Signature`` header Stripe (and the sandbox) would send with this payload now."""
    return signature_header(secret, payload, int(time.time()))


# --- The app ------------------------------------------------------------------------------------------------


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def app(settings: Settings) -> web.Application:
    return create_app(settings)


@pytest.fixture
async def client(aiohttp_client: Callable[..., Any], app: web.Application) -> TestClient[Any, Any]:
    result: TestClient[Any, Any] = await aiohttp_client(app)
    return result


# --- Launches -----------------------------------------------------------------------------------------------

LaunchFactory = Callable[..., str]


def launch_token(
    *,
    role: str = "team_member",
    sub: str | None = None,
    name: str | None = "Dr Ada Lovelace",
    org: str = "org-1",
    clinic: str | None = "clinic-1",
    call: str | None = "call-1",
    secret: str = LAUNCH_SECRET,
    lifetime: int = 120,
    extra: Mapping[str, Any] | None = None,
    drop: tuple[str, ...] = (),
    algorithm: str = "HS256",
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": PLATFORM,
        "aud": "callpay",
        "sub": sub or f"user-{role}",
        "name": name,
        "role": role,
        "org": org,
        "clinic": clinic,
        "call": call,
        "iat": now,
        "exp": now + lifetime,
        "jti": uuid.uuid4().hex,
    }
    claims.update(extra or {})
    for key in drop:
        claims.pop(key, None)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, secret if algorithm != "none" else None, algorithm=algorithm)


@pytest.fixture
def launch() -> LaunchFactory:
    return launch_token


async def open_session(client: TestClient[Any, Any], **launch_claims: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/sessions", json={"launch": launch_token(**launch_claims)})
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


def bearer(session: Mapping[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['token']}"}


SESSION_BLOCK = re.compile(r'<script type="application/json" id="callpay-session">(.*?)</script>', re.S)


def session_from_page(text: str) -> dict[str, Any]:
    """The session a surface page handed over in its inert JSON block."""
    found = SESSION_BLOCK.search(text)
    assert found, "the page carries no session block"
    body: dict[str, Any] = json.loads(found.group(1))
    return body


@pytest.fixture
def artifacts_dir() -> Iterator[Path]:
    path = Path(__file__).parent.parent / "test-artifacts"
    path.mkdir(exist_ok=True)
    yield path
