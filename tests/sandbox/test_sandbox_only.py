"""What only the sandbox has, or says in its own words: refusals of what it does not implement, realistic webhook
delivery, the clock, the redirect page of 3-D Secure."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import stripe

from sandbox.stripe import RunningSandbox

from .conftest import ClientFactory, Control, Receiver, connect_account, new_platform_key

CARD_ONLY = {"enabled": True, "allow_redirects": "never"}

UNSUPPORTED = [
    ("on_behalf_of", "acct_1Other"),
    ("transfer_data", {"destination": "acct_1Other"}),
    ("mandate_data", {"customer_acceptance": {"type": "offline"}}),
    ("radar_options", {"session": "x"}),
]


@pytest.mark.parametrize(("name", "value"), UNSUPPORTED)
async def test_parameters_stripe_knows_but_the_sandbox_does_not_are_refused_in_words_that_say_so(
    make_client: ClientFactory, name: str, value: Any
) -> None:
    client = make_client(new_platform_key())
    params: Any = {"amount": 900, "currency": "aud", name: value}
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.payment_intents.create_async(params)
    assert raised.value.code == "parameter_unknown" and raised.value.param == name
    assert "sandbox does not support it" in str(raised.value.user_message)


async def test_unknown_everywhere_is_refused_in_stripe_s_own_words(make_client: ClientFactory) -> None:
    client = make_client(new_platform_key())
    params: Any = {"amount": 900, "currency": "aud", "payment_method_options": {"card": {"frob": "1"}}}
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.payment_intents.create_async(params)
    assert str(raised.value.user_message) == "Received unknown parameter: payment_method_options[card][frob]"


async def test_refund_and_capture_options_it_does_not_implement(make_client: ClientFactory) -> None:
    client = make_client(new_platform_key())
    paid = await client.v1.payment_intents.create_async(
        {
            "amount": 900,
            "currency": "aud",
            "confirm": True,
            "payment_method": "pm_card_visa",
            "automatic_payment_methods": CARD_ONLY,
        }
    )
    for name, value in (("reverse_transfer", True), ("instructions_email", "pat@example.com")):
        params: Any = {"payment_intent": paid.id, name: value}
        with pytest.raises(stripe.InvalidRequestError) as raised:
            await client.v1.refunds.create_async(params)
        assert raised.value.param == name and "sandbox does not support it" in str(raised.value.user_message)
    held = await client.v1.payment_intents.create_async(
        {
            "amount": 900,
            "currency": "aud",
            "confirm": True,
            "payment_method": "pm_card_visa",
            "capture_method": "manual",
            "automatic_payment_methods": CARD_ONLY,
        }
    )
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.payment_intents.capture_async(held.id, {"final_capture": False})
    assert raised.value.param == "final_capture"
    assert (await client.v1.payment_intents.capture_async(held.id, {"final_capture": True})).status == "succeeded"


async def test_refund_application_fee_is_for_the_platform(
    make_client: ClientFactory, sandbox: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    key = new_platform_key()
    client = make_client(key)
    account = (await connect_account(http, sandbox.url, key))["stripe_user_id"]
    options: Any = {"stripe_account": account}
    paid = await client.v1.payment_intents.create_async(
        {
            "amount": 8000,
            "currency": "aud",
            "confirm": True,
            "payment_method": "pm_card_visa",
            "application_fee_amount": 400,
            "automatic_payment_methods": CARD_ONLY,
        },
        options,
    )
    await client.v1.refunds.create_async(
        {"payment_intent": paid.id, "amount": 4000, "refund_application_fee": True}, options
    )
    assert isinstance(paid.latest_charge, str)
    charge = await client.v1.charges.retrieve_async(paid.latest_charge, options=options)
    assert isinstance(charge.application_fee, str)
    fee = await client.v1.application_fees.retrieve_async(charge.application_fee)
    assert fee.amount_refunded == 200 and fee.refunded is False
    with pytest.raises(stripe.InvalidRequestError):
        on_platform = await client.v1.payment_intents.create_async(
            {
                "amount": 900,
                "currency": "aud",
                "confirm": True,
                "payment_method": "pm_card_visa",
                "automatic_payment_methods": CARD_ONLY,
            }
        )
        await client.v1.refunds.create_async({"payment_intent": on_platform.id, "refund_application_fee": True})


# --- Realistic delivery ------------------------------------------------------------------------------------------


async def test_realistic_delivery_duplicates_and_shuffles(
    make_client: ClientFactory, receiver: Receiver, control: Control
) -> None:
    client = make_client(new_platform_key())
    await client.v1.webhook_endpoints.create_async({"url": receiver.url, "enabled_events": ["*"]})
    setting = await control(
        "POST", "/_sandbox/webhooks/delivery", {"duplicate_rate": 1, "reorder_window_ms": 80, "seed": 7}
    )
    assert setting["realistic"] is True and setting["reorder_window_ms"] == 80
    created = []
    for _ in range(4):
        created.append(
            await client.v1.payment_intents.create_async(
                {
                    "amount": 900,
                    "currency": "aud",
                    "confirm": True,
                    "payment_method": "pm_card_visa",
                    "automatic_payment_methods": CARD_ONLY,
                }
            )
        )
    await control("POST", "/_sandbox/webhooks/flush", {"timeout": 10})
    events = receiver.events()
    ids = [event["id"] for event in events]
    made = [event.id for event in (await client.v1.events.list_async({"limit": 100})).data]
    assert sorted(set(ids)) == sorted(made)  # every event arrived...
    assert len(ids) == 2 * len(made)  # ...twice, with duplicate_rate 1
    first_arrivals = list(dict.fromkeys(ids))
    assert first_arrivals != list(reversed(made))  # not in the order they happened
    log = (await control("GET", "/_sandbox/deliveries"))["deliveries"]
    assert sum(1 for row in log if row["duplicate"]) == len(made)
    plain = await control("POST", "/_sandbox/webhooks/delivery", {"realistic": False})
    assert plain == {"realistic": False, "duplicate_rate": 0, "reorder_window_ms": 0, "delay_ms": 0, "seed": None}


async def test_realistic_delivery_settings_are_checked(sandbox: RunningSandbox, http: aiohttp.ClientSession) -> None:
    for body in ({"duplicate_rate": 2}, {"reorder_window_ms": -1}, {"colour": "red"}, {"realistic": "yes"}):
        async with http.post(f"{sandbox.url}/_sandbox/webhooks/delivery", json=body) as answer:
            assert answer.status == 400, body
    async with http.post(f"{sandbox.url}/_sandbox/webhooks/delivery", json={"realistic": True}) as answer:
        assert (await answer.json())["duplicate_rate"] > 0


# --- The 3-D Secure redirect page --------------------------------------------------------------------------------


async def test_redirect_to_url_leads_to_a_page_that_returns_with_the_outcome(
    make_client: ClientFactory, sandbox: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    client = make_client(new_platform_key())
    redirected = await client.v1.payment_intents.create_async(
        {
            "amount": 900,
            "currency": "aud",
            "confirm": True,
            "payment_method": "pm_card_threeDSecure2Required",
            "return_url": "https://clinic.example/back?x=1",
        }
    )
    assert redirected.next_action is not None and redirected.next_action.redirect_to_url is not None
    url = str(redirected.next_action.redirect_to_url.url)
    async with http.get(url) as page:
        assert page.status == 200 and 'data-testid="3ds-complete"' in await page.text()
    query = parse_qs(urlsplit(url).query)
    form = {"client_secret": query["client_secret"][0], "return_url": query["return_url"][0], "action": "complete"}
    async with http.post(url.split("?")[0], data=form, allow_redirects=False) as answer:
        assert answer.status == 302
        back = urlsplit(answer.headers["Location"])
    assert back.netloc == "clinic.example"
    values = parse_qs(back.query)
    assert values["x"] == ["1"] and values["payment_intent"] == [redirected.id]
    assert values["redirect_status"] == ["succeeded"]
    assert (await client.v1.payment_intents.retrieve_async(redirected.id)).status == "succeeded"


async def test_clock_controls_are_checked(
    control: Control, sandbox: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    before = await control("GET", "/_sandbox/clock")
    after = await control("POST", "/_sandbox/clock/advance", {"days": 1, "hours": 1})
    assert after["offset_seconds"] == 90000 and after["now"] >= before["now"] + 90000
    for body in ({}, {"weeks": 1}, {"seconds": -5}):
        async with http.post(f"{sandbox.url}/_sandbox/clock/advance", json=body) as answer:
            assert answer.status == 400, body
    await control("POST", "/_sandbox/reset")
    assert (await control("GET", "/_sandbox/clock"))["offset_seconds"] == 0


async def test_a_webhook_endpoint_names_a_version_stripe_released(make_client: ClientFactory) -> None:
    client = make_client(new_platform_key())
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.webhook_endpoints.create_async(
            {"url": "https://clinic.example/hook", "enabled_events": ["*"], "api_version": "2099-01-01"}  # type: ignore[typeddict-item]
        )
    assert raised.value.param == "api_version"
    created = await client.v1.webhook_endpoints.create_async(
        {"url": "https://clinic.example/hook", "enabled_events": ["*"], "api_version": stripe.api_version}  # type: ignore[typeddict-item]
    )
    assert created.api_version == stripe.api_version
