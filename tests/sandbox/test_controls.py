"""The sandbox's own controls: faults, reset, account switches, the processing pause, request plumbing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
import stripe

from sandbox.stripe import RunningSandbox

from .conftest import ClientFactory, Control, connect_account, new_platform_key

RETURN = "https://clinic.example/paid"  # a confirm may redirect, so Stripe wants somewhere to come back to


async def test_fault_500_then_recovers(make_client: ClientFactory, control: Control) -> None:
    client = make_client(new_platform_key())
    await control("POST", "/_sandbox/faults", {"route_prefix": "/v1/payment_intents", "kind": "500", "count": 1})
    with pytest.raises(stripe.APIError) as raised:
        await client.v1.payment_intents.list_async()
    assert raised.value.http_status == 500
    await client.v1.payment_intents.list_async()  # count used up


async def test_fault_429_says_retry_and_the_sdk_retries(make_client: ClientFactory, control: Control) -> None:
    await control(
        "POST", "/_sandbox/faults", {"route_prefix": "/v1/payment_intents", "method": "POST", "kind": "429", "count": 1}
    )
    with pytest.raises(stripe.RateLimitError) as raised:
        await make_client(new_platform_key()).v1.payment_intents.create_async({"amount": 900, "currency": "aud"})
    assert raised.value.headers is not None and raised.value.headers.get("stripe-should-retry") == "true"
    await control(
        "POST", "/_sandbox/faults", {"route_prefix": "/v1/payment_intents", "method": "POST", "kind": "429", "count": 1}
    )
    retrying = make_client(new_platform_key(), retries=2)
    intent = await retrying.v1.payment_intents.create_async({"amount": 900, "currency": "aud"})
    assert intent.status == "requires_payment_method"
    listed = await retrying.v1.payment_intents.list_async()
    assert len(listed.data) == 1  # the retry reused the idempotency key: one intent


async def test_fault_drop_is_a_connection_error(make_client: ClientFactory, control: Control) -> None:
    await control("POST", "/_sandbox/faults", {"route_prefix": "/v1/", "kind": "drop", "rate": 1.0})
    with pytest.raises(stripe.APIConnectionError):
        await make_client(new_platform_key()).v1.payment_intents.list_async()
    assert len((await control("GET", "/_sandbox/faults"))["faults"]) == 1
    await control("DELETE", "/_sandbox/faults")
    await make_client(new_platform_key()).v1.payment_intents.list_async()


async def test_fault_latency(make_client: ClientFactory, control: Control) -> None:
    await control("POST", "/_sandbox/faults", {"route_prefix": "/v1/events", "kind": "latency", "latency_ms": 200})
    started = time.monotonic()
    await make_client(new_platform_key()).v1.events.list_async()
    assert time.monotonic() - started >= 0.2


async def test_fault_rate_zero_never_fires(make_client: ClientFactory, control: Control) -> None:
    await control("POST", "/_sandbox/faults", {"route_prefix": "/v1/", "kind": "500", "rate": 0})
    await make_client(new_platform_key()).v1.payment_intents.list_async()


async def test_bad_fault_is_refused(sandbox: RunningSandbox, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{sandbox.url}/_sandbox/faults", json={"route_prefix": "/v1", "kind": "teapot"}) as a:
        assert a.status == 400


@pytest.mark.parametrize(("kind", "status", "code"), [("503", 503, None), ("lock_timeout", 429, "lock_timeout")])
async def test_fault_says_retry_as_stripe_does(
    make_client: ClientFactory, control: Control, kind: str, status: int, code: str | None
) -> None:
    await control("POST", "/_sandbox/faults", {"route_prefix": "/v1/payment_intents", "kind": kind, "count": 1})
    with pytest.raises(stripe.StripeError) as raised:
        await make_client(new_platform_key()).v1.payment_intents.list_async()
    assert raised.value.http_status == status and (raised.value.json_body or {})["error"].get("code") == code
    assert raised.value.headers is not None and raised.value.headers.get("stripe-should-retry") == "true"


async def test_fault_of_several_kinds_counts_what_it_injected(make_client: ClientFactory, control: Control) -> None:
    """A rate and a list of kinds, seeded: each request it hits gets one of them; the sandbox counts them."""
    made = await control(
        "POST", "/_sandbox/faults", {"route_prefix": "/v1/", "kinds": ["500", "429", "drop"], "rate": 0.5, "seed": 7}
    )
    assert made["kinds"] == ["500", "429", "drop"] and made["rate"] == 0.5
    client = make_client(new_platform_key())
    failed = 0
    for _ in range(40):  # POSTs: aiohttp itself may resend a GET whose kept-alive connection was dropped
        try:
            await client.v1.payment_intents.create_async({"amount": 900, "currency": "aud"})
        except (stripe.APIError, stripe.RateLimitError, stripe.APIConnectionError):
            failed += 1
    injected = (await control("GET", "/_sandbox/faults"))["injected"]
    assert set(injected) == {"500", "429", "drop"} and sum(injected.values()) == failed
    assert 8 <= failed <= 32
    assert (await control("DELETE", "/_sandbox/faults"))["injected"] == injected
    assert (await control("GET", "/_sandbox/faults"))["injected"] == {}


async def test_fault_stall_sends_half_then_waits(sandbox: RunningSandbox, control: Control) -> None:
    """The status and headers come at once, the body's second half ``latency_ms`` later."""
    await control(
        "POST", "/_sandbox/faults", {"route_prefix": "/v1/payment_intents", "kind": "stall", "latency_ms": 300}
    )
    headers = {"Authorization": f"Bearer {new_platform_key()}"}
    async with aiohttp.ClientSession() as http:
        started = time.monotonic()
        async with http.get(f"{sandbox.url}/v1/payment_intents", headers=headers) as answer:
            assert answer.status == 200 and time.monotonic() - started < 0.3
            body = await answer.json()
        assert time.monotonic() - started >= 0.3 and body["object"] == "list"


async def test_fault_drop_body_cuts_the_answer_off(sandbox: RunningSandbox, control: Control) -> None:
    await control("POST", "/_sandbox/faults", {"route_prefix": "/v1/payment_intents", "kind": "drop_body"})
    headers = {"Authorization": f"Bearer {new_platform_key()}"}
    async with aiohttp.ClientSession() as http, http.get(f"{sandbox.url}/v1/payment_intents", headers=headers) as a:
        assert a.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await a.read()


async def test_bad_fault_kinds_are_refused(sandbox: RunningSandbox, http: aiohttp.ClientSession) -> None:
    for body in (
        {"route_prefix": "/v1", "kinds": []},
        {"route_prefix": "/v1", "kinds": ["500", "teapot"]},
        {"route_prefix": "/v1", "kind": "500", "seed": "x"},
    ):
        async with http.post(f"{sandbox.url}/_sandbox/faults", json=body) as a:
            assert a.status == 400


async def test_reset_forgets_everything(make_client: ClientFactory, control: Control) -> None:
    client = make_client(new_platform_key())
    intent = await client.v1.payment_intents.create_async({"amount": 900, "currency": "aud"})
    await control("POST", "/_sandbox/reset")
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.payment_intents.retrieve_async(intent.id)


async def test_charges_enabled_switch(
    sandbox: RunningSandbox, http: aiohttp.ClientSession, make_client: ClientFactory, control: Control
) -> None:
    key = new_platform_key()
    account = (await connect_account(http, sandbox.url, key))["stripe_user_id"]
    client = make_client(key)
    updated = await control("POST", f"/_sandbox/accounts/{account}/charges_enabled", {"enabled": False})
    assert updated["charges_enabled"] is False
    fetched = await client.v1.accounts.retrieve_async(account)
    assert fetched.charges_enabled is False
    events = await client.v1.events.list_async({"type": "account.updated"}, {"stripe_account": account})
    assert events.data[0].data.object["charges_enabled"] is False
    assert events.data[0].data.previous_attributes is not None
    assert events.data[0].data.previous_attributes["charges_enabled"] is True
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.payment_intents.create_async(
            {"amount": 900, "currency": "aud", "confirm": True, "payment_method": "pm_card_visa", "return_url": RETURN},
            {"stripe_account": account},
        )
    await control("POST", f"/_sandbox/accounts/{account}/charges_enabled", {"enabled": True})
    assert (await client.v1.accounts.retrieve_async(account)).charges_enabled is True


async def test_processing_pause(make_client: ClientFactory, control: Control) -> None:
    client = make_client(new_platform_key())
    await control("POST", "/_sandbox/processing", {"delay_ms": 100})
    intent = await client.v1.payment_intents.create_async(
        {"amount": 900, "currency": "aud", "confirm": True, "payment_method": "pm_card_visa", "return_url": RETURN}
    )
    assert intent.status == "processing"
    await asyncio.sleep(0.3)
    assert (await client.v1.payment_intents.retrieve_async(intent.id)).status == "succeeded"
    types = [event.type for event in (await client.v1.events.list_async()).data]
    assert types[:3] == ["payment_intent.succeeded", "charge.succeeded", "payment_intent.processing"]


async def raw(http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[int, Any, Any]:
    async with http.request(method, url, **kwargs) as answer:
        return answer.status, answer.headers, await answer.json()


async def test_request_plumbing(sandbox: RunningSandbox, http: aiohttp.ClientSession) -> None:
    auth = {"Authorization": f"Bearer {new_platform_key()}"}
    status, headers, body = await raw(http, "GET", f"{sandbox.url}/v1/nothing", headers=auth)
    assert status == 404 and "Unrecognized request URL" in body["error"]["message"]
    assert headers["Request-Id"].startswith("req_")
    status, _, body = await raw(http, "GET", f"{sandbox.url}/v1/payment_intents")
    assert status == 401 and "You did not provide an API key" in body["error"]["message"]
    status, _, body = await raw(
        http, "POST", f"{sandbox.url}/v1/payment_intents", headers=auth, json={"amount": 900, "currency": "aud"}
    )
    assert status == 400
    status, _, body = await raw(
        http, "POST", f"{sandbox.url}/v1/payment_intents", headers=auth, data={"amount": "9.5", "currency": "aud"}
    )
    assert status == 400 and body["error"]["code"] == "parameter_invalid_integer"
    status, _, body = await raw(
        http,
        "POST",
        f"{sandbox.url}/v1/payment_intents",
        headers=auth,
        data={
            "amount": "900",
            "currency": "aud",
            "metadata[call]": "c-1",
            "expand[]": "latest_charge",
            "automatic_payment_methods[enabled]": "true",
        },
    )
    assert status == 200 and body["metadata"] == {"call": "c-1"}
    status, _, body = await raw(http, "GET", f"{sandbox.url}/v1/payment_intents", headers=auth, params={"limit": "500"})
    assert status == 400 and body["error"]["param"] == "limit"


async def test_idempotent_decline_is_replayed(sandbox: RunningSandbox, http: aiohttp.ClientSession) -> None:
    auth = {"Authorization": f"Bearer {new_platform_key()}", "Idempotency-Key": "decline-1"}
    form = {
        "amount": "900",
        "currency": "aud",
        "confirm": "true",
        "payment_method": "pm_card_chargeDeclined",
        "return_url": RETURN,
    }
    first = await raw(http, "POST", f"{sandbox.url}/v1/payment_intents", headers=auth, data=form)
    second = await raw(http, "POST", f"{sandbox.url}/v1/payment_intents", headers=auth, data=form)
    assert first[0] == second[0] == 402
    assert first[2] == second[2]
    assert second[1]["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first[1]
    # an unknown parameter is not stored: the key stays free for a corrected request
    auth["Idempotency-Key"] = "typo-1"
    status, _, _ = await raw(
        http,
        "POST",
        f"{sandbox.url}/v1/payment_intents",
        headers=auth,
        data={"amount": "900", "currency": "aud", "colour": "red"},
    )
    assert status == 400
    status, _, _ = await raw(
        http, "POST", f"{sandbox.url}/v1/payment_intents", headers=auth, data={"amount": "900", "currency": "aud"}
    )
    assert status == 200


async def test_lost_response_is_retried_idempotently(make_client: ClientFactory, control: Control) -> None:
    await control(
        "POST",
        "/_sandbox/faults",
        {"route_prefix": "/v1/payment_intents", "method": "POST", "kind": "drop_after", "count": 1},
    )
    client = make_client(new_platform_key(), retries=1)
    intent = await client.v1.payment_intents.create_async({"amount": 900, "currency": "aud"})
    listed = await client.v1.payment_intents.list_async()
    assert [item.id for item in listed.data] == [intent.id]  # handled once, answered by the replay
