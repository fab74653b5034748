"""Chaos fixtures: the payment stack (tests.support.payflow) on SQLite and on PostgreSQL, with clinic-1 connected."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from sandbox.stripe import RunningSandbox
from tests.support.payflow import PayStack, build_stack, connected, stack  # noqa: F401  (fixtures)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_database(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("database_url" if request.param == "sqlite" else "migrated_postgres_url")
    return url


@pytest.fixture
async def fuzz_stack(
    sandbox: RunningSandbox, any_database: str, aiohttp_client: Callable[..., Any], http: aiohttp.ClientSession
) -> AsyncIterator[PayStack]:
    """The app on a real port against the sandbox, clinic-1 connected, on the parametrized database."""
    # A full run turns rate limits off (CALLPAY_RATE_LIMITS=off), so every case reaches the handlers.
    limits = {"rate_limits": os.environ["CALLPAY_RATE_LIMITS"]} if os.environ.get("CALLPAY_RATE_LIMITS") else {}
    built = await build_stack(sandbox, any_database, aiohttp_client, http, **limits)
    await built.connect_clinic()
    yield built
    for user in built.sockets:
        await user.close()
