"""Contract tests for a card saved with consent and charged later: Customers and SetupIntents on a clinic's
connected account, payment methods attached and detached, off-session PaymentIntents and the test cards that
fail them. They run against Stripe test mode too (see test_contract.py)."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

pytestmark = pytest.mark.asyncio

CARD_ONLY = {"enabled": True, "allow_redirects": "never"}


async def types_for(client: stripe.StripeClient, options: Any, object_id: str) -> list[str]:
    events = await client.v1.events.list_async({"limit": 100}, options)
    found = []
    for event in events.data:
        data = event.data.object.to_dict()
        if object_id in (data.get("id"), data.get("customer"), data.get("payment_intent")):
            found.append(event.type)
    return found


async def off_session(client: stripe.StripeClient, options: Any, customer: str, pm: str) -> stripe.PaymentIntent:
    params: Any = {
        "amount": 5000,
        "currency": "aud",
        "customer": customer,
        "payment_method": pm,
        "off_session": True,
        "confirm": True,
    }
    return await client.v1.payment_intents.create_async(params, options)


async def test_save_a_card_with_a_setup_intent_then_charge_it_off_session(
    client: stripe.StripeClient, connected_account: str
) -> None:
    options: Any = {"stripe_account": connected_account}
    customer = await client.v1.customers.create_async(
        {"email": "pat@example.com", "name": "Pat Lee", "metadata": {"patient": "p-1"}}, options
    )
    assert customer.id.startswith("cus_") and customer.email == "pat@example.com"
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.customers.retrieve_async(customer.id)  # it lives on the clinic's account only
    setup = await client.v1.setup_intents.create_async(
        {
            "customer": customer.id,
            "usage": "off_session",
            "automatic_payment_methods": CARD_ONLY,
            "metadata": {"call": "call-1"},
        },
        options,
    )
    assert setup.status == "requires_payment_method" and setup.usage == "off_session"
    assert setup.client_secret is not None and setup.client_secret.startswith(setup.id + "_secret_")
    confirmed = await client.v1.setup_intents.confirm_async(setup.id, {"payment_method": "pm_card_visa"}, options)
    assert confirmed.status == "succeeded" and isinstance(confirmed.payment_method, str)
    saved = await client.v1.customers.payment_methods.list_async(customer.id, options=options)
    assert [pm.id for pm in saved.data] == [confirmed.payment_method]
    assert saved.data[0].customer == customer.id

    fee = await off_session(client, options, customer.id, confirmed.payment_method)
    assert fee.status == "succeeded" and fee.customer == customer.id
    assert isinstance(fee.latest_charge, str)
    charge = await client.v1.charges.retrieve_async(fee.latest_charge, options=options)
    assert charge.customer == customer.id
    listed = await client.v1.payment_intents.list_async({"customer": customer.id}, options)
    assert [item.id for item in listed.data] == [fee.id]
    types = await types_for(client, options, customer.id)
    assert {"customer.created", "setup_intent.created", "setup_intent.succeeded", "payment_method.attached"} <= set(
        types
    )


async def test_a_saved_card_that_always_wants_authentication_declines_off_session(
    client: stripe.StripeClient, connected_account: str
) -> None:
    options: Any = {"stripe_account": connected_account}
    customer = await client.v1.customers.create_async({"email": "pat@example.com"}, options)
    pm = await client.v1.payment_methods.attach_async(
        "pm_card_authenticationRequired", {"customer": customer.id}, options
    )
    assert pm.customer == customer.id and pm.card is not None and pm.card.last4 == "3184"
    with pytest.raises(stripe.CardError) as raised:
        await off_session(client, options, customer.id, pm.id)
    error = raised.value
    assert error.http_status == 402 and error.code == "authentication_required"
    assert error.error is not None and error.error.payment_intent is not None
    intent = await client.v1.payment_intents.retrieve_async(error.error.payment_intent.id, options=options)
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error is not None and intent.last_payment_error.code == "authentication_required"
    assert "payment_intent.payment_failed" in await types_for(client, options, intent.id)


async def test_a_saved_card_without_funds_declines_off_session(
    client: stripe.StripeClient, connected_account: str
) -> None:
    options: Any = {"stripe_account": connected_account}
    customer = await client.v1.customers.create_async({}, options)
    setup = await client.v1.setup_intents.create_async(
        {
            "customer": customer.id,
            "automatic_payment_methods": CARD_ONLY,
            "payment_method": "pm_card_chargeDeclinedInsufficientFunds",
            "confirm": True,
        },
        options,
    )
    assert setup.status == "succeeded"  # saving checks the card, not its balance
    assert isinstance(setup.payment_method, str)
    with pytest.raises(stripe.CardError) as raised:
        await off_session(client, options, customer.id, setup.payment_method)
    assert raised.value.code == "card_declined"
    assert raised.value.error is not None and raised.value.error.decline_code == "insufficient_funds"


async def test_a_card_the_bank_declines_cannot_be_saved(client: stripe.StripeClient, connected_account: str) -> None:
    options: Any = {"stripe_account": connected_account}
    customer = await client.v1.customers.create_async({}, options)
    setup = await client.v1.setup_intents.create_async(
        {"customer": customer.id, "automatic_payment_methods": CARD_ONLY}, options
    )
    with pytest.raises(stripe.CardError) as raised:
        await client.v1.setup_intents.confirm_async(setup.id, {"payment_method": "pm_card_chargeDeclined"}, options)
    assert raised.value.code == "card_declined"
    after = await client.v1.setup_intents.retrieve_async(setup.id, options=options)
    assert after.status == "requires_payment_method" and after.last_setup_error is not None
    assert (await client.v1.customers.payment_methods.list_async(customer.id, options=options)).data == []
    assert "setup_intent.setup_failed" in await types_for(client, options, setup.id)


async def test_a_card_that_asks_for_authentication_asks_at_setup(
    client: stripe.StripeClient, connected_account: str
) -> None:
    options: Any = {"stripe_account": connected_account}
    customer = await client.v1.customers.create_async({}, options)
    setup = await client.v1.setup_intents.create_async(
        {
            "customer": customer.id,
            "automatic_payment_methods": CARD_ONLY,
            "payment_method": "pm_card_authenticationRequired",
            "confirm": True,
        },
        options,
    )
    assert setup.status == "requires_action" and setup.next_action is not None
    canceled = await client.v1.setup_intents.cancel_async(setup.id, {"cancellation_reason": "abandoned"}, options)
    assert canceled.status == "canceled" and canceled.cancellation_reason == "abandoned"


async def test_detach_a_saved_card_and_delete_the_customer(client: stripe.StripeClient, connected_account: str) -> None:
    options: Any = {"stripe_account": connected_account}
    customer = await client.v1.customers.create_async({"email": "pat@example.com"}, options)
    pm = await client.v1.payment_methods.attach_async("pm_card_visa", {"customer": customer.id}, options)
    updated = await client.v1.customers.update_async(
        customer.id, {"invoice_settings": {"default_payment_method": pm.id}, "name": "Pat"}, options
    )
    assert updated.invoice_settings is not None and updated.invoice_settings.default_payment_method == pm.id
    detached = await client.v1.payment_methods.detach_async(pm.id, options=options)
    assert detached.customer is None
    assert (await client.v1.customers.payment_methods.list_async(customer.id, options=options)).data == []
    with pytest.raises(stripe.InvalidRequestError):
        await off_session(client, options, customer.id, pm.id)  # a detached card can't be charged for the customer
    assert "payment_method.detached" in await types_for(client, options, pm.id)
    deleted = await client.v1.customers.delete_async(customer.id, options=options)
    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.setup_intents.create_async({"customer": customer.id}, options)
    assert raised.value.code == "resource_missing" and raised.value.param == "customer"
