"""Stripe's nested form encoding, and the ways the sandbox is started."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from urllib.parse import urlencode

import aiohttp
import pytest

from sandbox.stripe import RunningSandbox, start_sandbox
from sandbox.stripe.errors import StripeError
from sandbox.stripe.forms import decode
from tests.conftest import free_port


def test_nested_hashes_and_arrays() -> None:
    body = urlencode(
        [
            ("amount", "8000"),
            ("metadata[call]", "c-1"),
            ("metadata[clinic]", "k-2"),
            ("automatic_payment_methods[enabled]", "true"),
            ("payment_method_data[card][number]", "4242424242424242"),
            ("expand[]", "latest_charge"),
            ("expand[]", "payment_method"),
            ("enabled_events[1]", "b"),
            ("enabled_events[0]", "a"),
            ("items[0][price]", "p1"),
            ("items[1][price]", "p2"),
            ("description", ""),
        ]
    )
    assert decode(body) == {
        "amount": "8000",
        "metadata": {"call": "c-1", "clinic": "k-2"},
        "automatic_payment_methods": {"enabled": "true"},
        "payment_method_data": {"card": {"number": "4242424242424242"}},
        "expand": ["latest_charge", "payment_method"],
        "enabled_events": ["a", "b"],
        "items": [{"price": "p1"}, {"price": "p2"}],
        "description": "",
    }


@pytest.mark.parametrize("body", ["a[b]=1&a=2", "a=1&a[b]=2", "a[][b]=1", "[x]=1"])
def test_contradictory_keys_are_refused(body: str) -> None:
    with pytest.raises(StripeError) as raised:
        decode(body)
    assert raised.value.status == 400


async def test_start_sandbox_on_a_free_port() -> None:
    running = await start_sandbox()
    try:
        assert running.url.startswith("http://127.0.0.1:") and not running.url.endswith(":0")
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{running.url}/v1/account", headers={"Authorization": "Bearer sk_test_a"}) as a,
        ):
            assert a.status == 200 and (await a.json())["object"] == "account"
    finally:
        await running.close()


async def test_stripe_js_stand_in_is_mounted(sandbox: RunningSandbox, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{sandbox.url}/v3/") as answer:
        assert answer.status == 200


async def test_python_dash_m_serves_the_api() -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sandbox.stripe",
        "--port",
        str(port),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 10)
        assert f"http://127.0.0.1:{port}" in line.decode()
        async with aiohttp.ClientSession() as http:
            for _ in range(50):
                with contextlib.suppress(aiohttp.ClientConnectionError):
                    async with http.get(
                        f"http://127.0.0.1:{port}/v1/events", headers={"Authorization": "Bearer sk_test_cli"}
                    ) as answer:
                        assert answer.status == 200
                        break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("the sandbox did not start")
    finally:
        process.terminate()
        await process.wait()
