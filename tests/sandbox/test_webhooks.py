"""Webhook delivery from the sandbox to a real local receiver: Stripe's signature, retries, Connect endpoints."""

from __future__ import annotations

import asyncio
import itertools
import json

import aiohttp
import pytest
import stripe

from sandbox.stripe import RunningSandbox, create_sandbox_app

from .conftest import ClientFactory, Control, Receiver, connect_account, new_platform_key


async def endpoint(client: stripe.StripeClient, receiver: Receiver, events: list[str], connect: bool = False) -> str:
    created = await client.v1.webhook_endpoints.create_async(
        {"url": receiver.url, "enabled_events": events, "connect": connect}  # type: ignore[typeddict-item]
    )
    assert created.secret is not None
    return created.secret


async def paid_intent(client: stripe.StripeClient, account: str | None = None) -> stripe.PaymentIntent:
    options: stripe.RequestOptions = {"stripe_account": account} if account else {}
    return await client.v1.payment_intents.create_async(
        {
            "amount": 8000,
            "currency": "aud",
            "confirm": True,
            "payment_method": "pm_card_visa",
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
        },
        options,
    )


async def test_deliveries_are_signed_as_stripe_signs_them(make_client: ClientFactory, receiver: Receiver) -> None:
    client = make_client(new_platform_key())
    secret = await endpoint(client, receiver, ["payment_intent.succeeded", "charge.succeeded"])
    intent = await paid_intent(client)
    await receiver.wait_for(2)
    types = []
    for headers, body in receiver.received:
        event = stripe.Webhook.construct_event(body.decode(), headers["Stripe-Signature"], secret)
        types.append(event.type)
        assert "account" not in event
    assert sorted(types) == ["charge.succeeded", "payment_intent.succeeded"]
    succeeded = next(event for event in receiver.events() if event["type"] == "payment_intent.succeeded")
    assert succeeded["data"]["object"]["id"] == intent.id
    headers, body = receiver.received[0]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body.decode(), headers["Stripe-Signature"], "whsec_wrong")


async def test_retries_with_backoff_until_the_receiver_accepts(
    sandbox: RunningSandbox, make_client: ClientFactory, receiver: Receiver, control: Control
) -> None:
    client = make_client(new_platform_key())
    secret = await endpoint(client, receiver, ["payment_intent.succeeded"])
    receiver.statuses = [500, 500]
    await paid_intent(client)
    await control("POST", "/_sandbox/webhooks/flush", {"timeout": 5})
    assert len(receiver.received) == 3
    bodies = {body for _, body in receiver.received}
    assert len(bodies) == 1  # the same event every time, signed afresh
    for headers, body in receiver.received:
        stripe.Webhook.construct_event(body.decode(), headers["Stripe-Signature"], secret)
    log = (await control("GET", "/_sandbox/deliveries"))["deliveries"]
    assert [(row["attempt"], row["status"], row["ok"]) for row in log] == [
        (1, 500, False),
        (2, 500, False),
        (3, 200, True),
    ]
    gaps = [later["at"] - earlier["at"] for earlier, later in itertools.pairwise(log)]
    assert gaps[1] > gaps[0]  # the wait doubles
    event_id = log[0]["event"]
    events = await client.v1.events.retrieve_async(event_id)
    assert events.pending_webhooks == 0


async def test_gives_up_after_the_last_attempt(
    make_client: ClientFactory, receiver: Receiver, control: Control
) -> None:
    client = make_client(new_platform_key())
    await endpoint(client, receiver, ["payment_intent.created"])
    receiver.statuses = [503] * 10
    intent = await client.v1.payment_intents.create_async({"amount": 8000, "currency": "aud"})
    await control("POST", "/_sandbox/webhooks/flush")
    assert len(receiver.received) == 4  # the sandbox fixture allows four attempts
    events = await client.v1.events.list_async({"type": "payment_intent.created"})
    assert events.data[0].data.object["id"] == intent.id and events.data[0].pending_webhooks == 1


async def test_unreachable_receiver_is_retried(make_client: ClientFactory, control: Control) -> None:
    client = make_client(new_platform_key())
    await client.v1.webhook_endpoints.create_async(
        {"url": "http://127.0.0.1:9/nothing-listens-here", "enabled_events": ["*"]}
    )
    await client.v1.payment_intents.create_async({"amount": 8000, "currency": "aud"})
    await control("POST", "/_sandbox/webhooks/flush")
    log = (await control("GET", "/_sandbox/deliveries"))["deliveries"]
    assert [row["status"] for row in log] == [None] * 4 and all(row["error"] for row in log)


async def test_forced_failures(make_client: ClientFactory, receiver: Receiver, control: Control) -> None:
    client = make_client(new_platform_key())
    await endpoint(client, receiver, ["payment_intent.created"])
    await control("POST", "/_sandbox/webhooks/fail", {"count": 2})
    await client.v1.payment_intents.create_async({"amount": 8000, "currency": "aud"})
    await control("POST", "/_sandbox/webhooks/flush")
    log = (await control("GET", "/_sandbox/deliveries"))["deliveries"]
    assert [(row["attempt"], row["ok"]) for row in log] == [(1, False), (2, False), (3, True)]
    assert len(receiver.received) == 1
    await control("POST", "/_sandbox/webhooks/fail", {"until": 60})
    await client.v1.payment_intents.create_async({"amount": 8000, "currency": "aud"})
    await control("POST", "/_sandbox/webhooks/flush")
    assert len(receiver.received) == 1


async def test_only_enabled_events_are_sent(make_client: ClientFactory, receiver: Receiver, control: Control) -> None:
    client = make_client(new_platform_key())
    await endpoint(client, receiver, ["charge.refunded"])
    intent = await paid_intent(client)
    await client.v1.refunds.create_async({"payment_intent": intent.id, "amount": 1000})
    await control("POST", "/_sandbox/webhooks/flush")
    assert [event["type"] for event in receiver.events()] == ["charge.refunded"]
    charge = receiver.events()[0]["data"]["object"]
    assert charge["amount_refunded"] == 1000 and charge["refunded"] is False


async def test_connect_endpoint_gets_connected_accounts_events(
    sandbox: RunningSandbox,
    http: aiohttp.ClientSession,
    make_client: ClientFactory,
    receiver: Receiver,
    control: Control,
) -> None:
    key = new_platform_key()
    client = make_client(key)
    secret = await endpoint(client, receiver, ["payment_intent.succeeded"], connect=True)
    account = (await connect_account(http, sandbox.url, key))["stripe_user_id"]
    await paid_intent(client)  # the platform's own payment: not for a Connect endpoint
    intent = await paid_intent(client, account)
    await control("POST", "/_sandbox/webhooks/flush")
    assert len(receiver.received) == 1
    headers, body = receiver.received[0]
    event = stripe.Webhook.construct_event(body.decode(), headers["Stripe-Signature"], secret)
    assert event.account == account and event.data.object["id"] == intent.id
    stored = await client.v1.events.retrieve_async(event.id, options={"stripe_account": account})
    assert stored.account == account


async def test_shutdown_cancels_pending_deliveries(receiver: Receiver) -> None:
    from sandbox.stripe import start_sandbox

    running = await start_sandbox(webhook_retry_base=30)
    key = new_platform_key()
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
        async with http.post(
            f"{running.url}/v1/webhook_endpoints", data={"url": receiver.url, "enabled_events[]": "*"}
        ) as answer:
            assert answer.status == 200
        receiver.statuses = [500]
        async with http.post(f"{running.url}/v1/payment_intents", data={"amount": "900", "currency": "aud"}):
            pass
        await receiver.wait_for(1)
    started = asyncio.get_running_loop().time()
    await running.close()  # would hang for the 30 s retry if the delivery were not cancelled
    assert asyncio.get_running_loop().time() - started < 5
    assert create_sandbox_app() is not None


async def test_event_payload_is_json_with_stripe_headers(make_client: ClientFactory, receiver: Receiver) -> None:
    client = make_client(new_platform_key())
    await endpoint(client, receiver, ["payment_intent.created"])
    await client.v1.payment_intents.create_async({"amount": 8000, "currency": "aud"}, {"idempotency_key": "k-1"})
    await receiver.wait_for(1)
    headers, body = receiver.received[0]
    assert headers["Content-Type"].startswith("application/json")
    event = json.loads(body)
    assert event["object"] == "event" and event["livemode"] is False
    assert event["request"]["idempotency_key"] == "k-1" and event["request"]["id"].startswith("req_")
