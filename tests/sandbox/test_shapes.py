"""Every object the sandbox returns has the fields and nesting of Stripe's own examples (``fixtures3.json``).

Keys must match exactly, and where both sides have a value its JSON type must match, recursively through nested
hashes. The differences allowed are listed in ``ALLOWED`` with the reason for each.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sandbox.stripe import RunningSandbox

from .conftest import connect_account, new_platform_key

FIXTURES = Path("/work/shared/stripe/fixtures3.json")
Json = dict[str, Any]

# path in the object -> why it may differ from the fixture
ALLOWED: dict[str, str] = {
    # free-form or polymorphic hashes: their contents are not a shape
    "metadata": "free-form",
    "data.object": "the event's object is whatever changed; checked against its own fixture",
    "data.previous_attributes": "only the changed fields",
    "next_action": "fixture is a placeholder ({type: type}); ours is use_stripe_sdk as Stripe.js reads it",
    "last_payment_error": "fixture is a placeholder; ours is Stripe's card error body",
    "payment_method_options": "fixture is empty; ours shows the card options Stripe returns",
    "outcome.risk_level": "real Stripe returns it for card charges; the fixture omits it",
    "outcome.risk_score": "as risk_level",
    "destination_details.card.reference": "card refund details Stripe returns beyond the fixture",
    "destination_details.card.reference_status": "as reference",
    "destination_details.card.reference_type": "as reference",
    "secret": "shown once, in the response to creating a webhook endpoint, as on Stripe",
    "account": "present on events of connected accounts, as on Stripe",
    "automatic_payment_methods.allow_redirects": "echoed when the request sets it, as on Stripe",
    "card.generated_from": "null for typed cards (the fixture shows a card made from a charge)",
    "card.wallet": "null for typed cards (the fixture shows a Link wallet)",
    "payment_method_details.card.wallet": "null for typed cards (the fixture shows a Link wallet)",
    "refunds": "a charge's refunds are shown only when expanded since 2022-11-15; the fixture shows them",
    "payment_method_details.card.capture_before": "present on uncaptured (manual capture) charges, as on Stripe",
    "pending_reason": "present while a refund is pending (since 2025-04-30.basil)",
    "failure_reason": "present once a refund has failed",
    "failure_balance_transaction": "present once a refund has failed",
}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def differences(ours: Json, theirs: Json, path: str = "") -> list[str]:
    found = []
    for key in sorted(theirs.keys() | ours.keys()):
        where = f"{path}.{key}" if path else key
        if where in ALLOWED:
            continue
        if key not in ours:
            found.append(f"missing {where}")
            continue
        if key not in theirs:
            found.append(f"extra {where}")
            continue
        mine, fixture = ours[key], theirs[key]
        if mine is None or fixture is None:
            continue
        if _kind(mine) != _kind(fixture):
            found.append(f"{where}: {_kind(mine)} where Stripe has {_kind(fixture)}")
        elif isinstance(mine, dict):
            found += differences(mine, fixture, where)
        elif isinstance(mine, list) and mine and fixture and isinstance(fixture[0], dict):
            found += differences(mine[0], fixture[0], where + "[]")
    return found


@pytest.fixture(scope="module")
def fixtures() -> Json:
    resources: Json = json.loads(FIXTURES.read_text())["resources"]
    return resources


async def gather(sandbox: RunningSandbox, http: aiohttp.ClientSession) -> dict[str, list[Json]]:
    """One of every object kind the sandbox returns, made through its API."""
    key = new_platform_key()
    auth = {"Authorization": f"Bearer {key}"}
    base = sandbox.url

    async def call(method: str, path: str, data: Json | None = None, account: str | None = None) -> Json:
        headers = {**auth, **({"Stripe-Account": account} if account else {})}
        kwargs: Json = {"params": data} if method == "GET" else {"data": data}
        async with http.request(method, base + path, headers=headers, **kwargs) as answer:
            body: Json = await answer.json()
            assert answer.status in (200, 402), body
            return body

    account = (await connect_account(http, base, key))["stripe_user_id"]
    card_only = {"amount": "900", "currency": "aud", "automatic_payment_methods[enabled]": "true"}
    card_only["automatic_payment_methods[allow_redirects]"] = "never"
    fresh = await call("POST", "/v1/payment_intents", {**card_only, "metadata[a]": "b"})
    paid = await call("POST", "/v1/payment_intents", {**card_only, "confirm": "true", "payment_method": "pm_card_visa"})
    declined = await call(
        "POST", "/v1/payment_intents", {**card_only, "confirm": "true", "payment_method": "pm_card_chargeDeclined"}
    )
    three_ds = await call(
        "POST",
        "/v1/payment_intents",
        {**card_only, "confirm": "true", "payment_method": "pm_card_authenticationRequired"},
    )
    connected = await call(
        "POST",
        "/v1/payment_intents",
        {**card_only, "confirm": "true", "payment_method": "pm_card_visa", "application_fee_amount": "10"},
        account,
    )
    held = await call(
        "POST",
        "/v1/payment_intents",
        {**card_only, "confirm": "true", "payment_method": "pm_card_visa", "capture_method": "manual"},
    )
    pending = await call(
        "POST", "/v1/payment_intents", {**card_only, "confirm": "true", "payment_method": "pm_card_pendingRefund"}
    )
    refund = await call("POST", "/v1/refunds", {"payment_intent": paid["id"], "amount": "100"})
    pending_refund = await call("POST", "/v1/refunds", {"payment_intent": pending["id"]})
    failed_refund = await call("POST", f"/_sandbox/refunds/{pending_refund['id']}/fail")
    charge = await call("GET", f"/v1/charges/{paid['latest_charge']}")
    fee_charge = await call("GET", f"/v1/charges/{connected['latest_charge']}", None, account)
    customer = await call("POST", "/v1/customers", {"email": "pat@example.com", "name": "Pat"}, account)
    setup = await call(
        "POST",
        "/v1/setup_intents",
        {
            "customer": customer["id"],
            "confirm": "true",
            "payment_method": "pm_card_visa",
            "automatic_payment_methods[enabled]": "true",
            "automatic_payment_methods[allow_redirects]": "never",
        },
        account,
    )
    endpoint = await call("POST", "/v1/webhook_endpoints", {"url": "https://example.com/h", "enabled_events[]": "*"})
    events = (await call("GET", "/v1/events", {"limit": "100"}))["data"]
    connected_events = (await call("GET", "/v1/events", None, account))["data"]
    return {
        "payment_intent": [fresh, paid, declined["error"]["payment_intent"], three_ds, connected, held],
        "charge": [
            charge,
            fee_charge,
            await call("GET", f"/v1/charges/{declined['error']['charge']}"),
            await call("GET", f"/v1/charges/{held['latest_charge']}"),
        ],
        "refund": [refund, await call("GET", f"/v1/refunds/{refund['id']}"), failed_refund],
        "payment_method": [
            declined["error"]["payment_method"],
            await call("GET", f"/v1/payment_methods/{setup['payment_method']}", None, account),
        ],
        "customer": [customer],
        "setup_intent": [setup],
        "balance_transaction": [
            await call("GET", f"/v1/balance_transactions/{charge['balance_transaction']}"),
            await call("GET", f"/v1/balance_transactions/{refund['balance_transaction']}"),
        ],
        "application_fee": [await call("GET", f"/v1/application_fees/{fee_charge['application_fee']}")],
        "webhook_endpoint": [endpoint, await call("GET", f"/v1/webhook_endpoints/{endpoint['id']}")],
        "account": [await call("GET", "/v1/account"), await call("GET", f"/v1/accounts/{account}")],
        "event": events + connected_events,
        "list": [await call("GET", "/v1/payment_intents"), await call("GET", "/v1/refunds")],
    }


async def test_objects_match_stripe_fixtures(
    sandbox: RunningSandbox, http: aiohttp.ClientSession, fixtures: Json
) -> None:
    made = await gather(sandbox, http)
    problems = []
    for kind, examples in made.items():
        # Stripe's fixtures have no bare list; its lists look like the one inside a charge
        fixture = fixtures["charge"]["refunds"] if kind == "list" else fixtures[kind]
        for example in examples:
            problems += [f"{kind} {example.get('id', '')}: {problem}" for problem in differences(example, fixture)]
            if kind == "event":
                inner = example["data"]["object"]
                if inner["object"] in fixtures:
                    problems += [
                        f"event {example['type']} object: {problem}"
                        for problem in differences(inner, fixtures[inner["object"]])
                    ]
    assert problems == []


async def test_every_event_type_was_seen(sandbox: RunningSandbox, http: aiohttp.ClientSession) -> None:
    made = await gather(sandbox, http)
    types = {event["type"] for event in made["event"]}
    assert {
        "payment_intent.created",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.requires_action",
        "charge.succeeded",
        "charge.failed",
        "charge.refunded",
        "refund.created",
        "account.application.authorized",
        "payment_intent.amount_capturable_updated",
        "refund.failed",
        "refund.updated",
        "charge.refund.updated",
        "application_fee.created",
    } <= types
