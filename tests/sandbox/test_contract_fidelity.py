"""Contract tests for where code could pass against the sandbox and fail against Stripe (issue: "the sandbox
behaves as Stripe does"). Like test_contract.py they run against Stripe test mode when STRIPE_TEST_SECRET_KEY is
set, so each assertion is something Stripe documents; sandbox-only controls are tested in test_sandbox_only.py.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import stripe

from .conftest import ClientFactory

pytestmark = pytest.mark.asyncio

RETURN_URL = "https://clinic.example/paid"
CARD_ONLY = {"enabled": True, "allow_redirects": "never"}


async def intent(client: stripe.StripeClient, options: Any = None, **params: Any) -> stripe.PaymentIntent:
    request: Any = {"amount": 8000, "currency": "aud", "automatic_payment_methods": CARD_ONLY, **params}
    return await client.v1.payment_intents.create_async(request, options)


# 1. Redirect-capable payment methods need somewhere to come back to.


async def test_confirm_without_return_url_is_refused_when_redirects_are_allowed(client: stripe.StripeClient) -> None:
    default = await client.v1.payment_intents.create_async({"amount": 8000, "currency": "aud"})
    assert default.automatic_payment_methods is not None and default.automatic_payment_methods.enabled is True
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.payment_intents.confirm_async(default.id, {"payment_method": "pm_card_visa"})
    assert raised.value.http_status == 400
    assert "return_url" in str(raised.value.user_message)
    assert (await client.v1.payment_intents.retrieve_async(default.id)).status == "requires_payment_method"
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.payment_intents.create_async(
            {"amount": 8000, "currency": "aud", "confirm": True, "payment_method": "pm_card_visa"}
        )
    # With a return_url, or with redirects ruled out, the same confirm goes through.
    confirmed = await client.v1.payment_intents.confirm_async(
        default.id, {"payment_method": "pm_card_visa", "return_url": RETURN_URL}
    )
    assert confirmed.status == "succeeded"
    assert (await intent(client, confirm=True, payment_method="pm_card_visa")).status == "succeeded"
    card_typed = await client.v1.payment_intents.create_async(
        {
            "amount": 8000,
            "currency": "aud",
            "payment_method_types": ["card"],
            "confirm": True,
            "payment_method": "pm_card_visa",
        }
    )
    assert card_typed.status == "succeeded" and card_typed.automatic_payment_methods is None


# 2. What is sent is checked, not ignored.


async def test_a_missing_customer_is_resource_missing(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await intent(client, customer="cus_doesnotexist")
    assert raised.value.code == "resource_missing" and raised.value.param == "customer"


async def test_unknown_nested_payment_method_options_are_refused(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await intent(client, payment_method_options={"card": {"frob": "yes"}})
    assert raised.value.code == "parameter_unknown"
    assert raised.value.param == "payment_method_options[card][frob]"


async def test_request_three_d_secure_any_asks_for_authentication(client: stripe.StripeClient) -> None:
    asked = await intent(
        client,
        payment_method_options={"card": {"request_three_d_secure": "any"}},
        confirm=True,
        payment_method="pm_card_visa",
    )
    assert asked.payment_method_options is not None and asked.payment_method_options.card is not None
    assert asked.payment_method_options.card.request_three_d_secure == "any"
    assert asked.status == "requires_action"


async def test_shipping_is_kept(client: stripe.StripeClient) -> None:
    created = await intent(client, shipping={"name": "Pat Lee", "address": {"line1": "1 George St", "country": "AU"}})
    assert created.shipping is not None and created.shipping.name == "Pat Lee"
    assert created.shipping.address is not None and created.shipping.address.line1 == "1 George St"


# 3. Stripe-Version is honoured, refused when malformed, and echoed; so is Idempotency-Key.


async def test_stripe_version_is_checked_and_echoed(make_client: ClientFactory, platform_key: str) -> None:
    client = make_client(platform_key)
    created = await intent(client, options={"idempotency_key": "version-" + str(time.time_ns())})
    assert created.last_response is not None
    headers = created.last_response.headers
    assert headers.get("stripe-version") == stripe.api_version
    assert headers.get("idempotency-key", "").startswith("version-")
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.payment_intents.list_async(options={"stripe_version": "2022-13-45"})
    assert raised.value.http_status == 400
    assert "Invalid Stripe API version" in str(raised.value.user_message)
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.payment_intents.list_async(options={"stripe_version": "not-a-version"})
    older = await client.v1.payment_intents.list_async({"limit": 1}, options={"stripe_version": "2022-08-01"})
    assert older.last_response is not None and older.last_response.headers.get("stripe-version") == "2022-08-01"


async def test_charge_refunds_only_when_expanded_or_asked_for_by_an_older_version(
    client: stripe.StripeClient,
) -> None:
    paid = await intent(client, confirm=True, payment_method="pm_card_visa")
    refund = await client.v1.refunds.create_async({"payment_intent": paid.id, "amount": 1000})
    assert isinstance(paid.latest_charge, str)
    charge = await client.v1.charges.retrieve_async(paid.latest_charge)
    assert "refunds" not in charge
    expanded = await client.v1.charges.retrieve_async(paid.latest_charge, {"expand": ["refunds"]})
    assert [item.id for item in expanded.refunds.data] == [refund.id]
    older = await client.v1.charges.retrieve_async(paid.latest_charge, options={"stripe_version": "2022-08-01"})
    assert [item.id for item in older.refunds.data] == [refund.id]


# 5 and 6. The fee and the money are real objects.


async def test_a_direct_charge_names_its_application_fee_and_books_fee_and_net(
    client: stripe.StripeClient, connected_account: str
) -> None:
    on_account: Any = {"stripe_account": connected_account}
    paid = await intent(client, on_account, confirm=True, payment_method="pm_card_visa", application_fee_amount=200)
    fetched = await client.v1.payment_intents.retrieve_async(
        paid.id, {"expand": ["latest_charge.balance_transaction"]}, on_account
    )
    charge = fetched.latest_charge
    assert isinstance(charge, stripe.Charge)
    assert isinstance(charge.application_fee, str) and charge.application_fee.startswith("fee_")
    txn = charge.balance_transaction
    assert isinstance(txn, stripe.BalanceTransaction)
    assert txn.amount == 8000 and txn.net == txn.amount - txn.fee and txn.currency == "aud"
    kinds = {detail.type: detail.amount for detail in txn.fee_details}
    assert kinds["application_fee"] == 200 and kinds["stripe_fee"] > 0
    assert txn.fee == kinds["application_fee"] + kinds["stripe_fee"]
    fee = await client.v1.application_fees.retrieve_async(charge.application_fee)
    assert fee.amount == 200 and fee.account == connected_account and fee.charge == charge.id
    direct = await client.v1.charges.retrieve_async(charge.id, {"expand": ["balance_transaction"]}, on_account)
    assert isinstance(direct.balance_transaction, stripe.BalanceTransaction)
    assert direct.balance_transaction.id == txn.id


# 7. List filters filter.


async def test_list_filters_filter(client: stripe.StripeClient) -> None:
    customer = await client.v1.customers.create_async({"email": "pat@example.com"})
    group = "call-" + str(time.time_ns())
    mine = await intent(client, customer=customer.id, transfer_group=group, confirm=True, payment_method="pm_card_visa")
    other = await intent(client, confirm=True, payment_method="pm_card_visa")
    by_customer = await client.v1.payment_intents.list_async({"customer": customer.id})
    assert [item.id for item in by_customer.data] == [mine.id]
    charges = await client.v1.charges.list_async({"transfer_group": group})
    assert [item.payment_intent for item in charges.data] == [mine.id]
    charges = await client.v1.charges.list_async({"customer": customer.id})
    assert [item.payment_intent for item in charges.data] == [mine.id]
    by_intent = await client.v1.charges.list_async({"payment_intent": other.id})
    assert [item.payment_intent for item in by_intent.data] == [other.id]
    later = await client.v1.payment_intents.list_async({"created": {"gt": other.created + 3600}})
    assert later.data == []
    recent = await client.v1.payment_intents.list_async({"created": {"gte": mine.created}, "limit": 100})
    assert {mine.id, other.id} <= {item.id for item in recent.data}


# 9. A server-side confirm with a return_url redirects for 3-D Secure.


async def test_three_d_secure_next_action_follows_the_confirm(client: stripe.StripeClient) -> None:
    redirected = await intent(
        client, confirm=True, payment_method="pm_card_threeDSecure2Required", return_url=RETURN_URL
    )
    assert redirected.status == "requires_action" and redirected.next_action is not None
    assert redirected.next_action.type == "redirect_to_url"
    assert redirected.next_action.redirect_to_url is not None
    assert redirected.next_action.redirect_to_url.return_url == RETURN_URL
    assert str(redirected.next_action.redirect_to_url.url).startswith("http")
    sdk = await intent(client, confirm=True, payment_method="pm_card_threeDSecure2Required")
    assert sdk.status == "requires_action" and sdk.next_action is not None
    assert sdk.next_action.type == "use_stripe_sdk"
    both = await intent(
        client,
        confirm=True,
        payment_method="pm_card_threeDSecure2Required",
        return_url=RETURN_URL,
        use_stripe_sdk=True,
    )
    assert both.next_action is not None and both.next_action.type == "use_stripe_sdk"
