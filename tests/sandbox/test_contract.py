"""Contract tests of the Stripe API surface the product uses, driven through the official SDK's async client.

They run against the offline sandbox by default. With ``STRIPE_TEST_SECRET_KEY=sk_test_…`` in the environment
the same tests run against real Stripe in test mode (Stripe's default addresses, that key as the platform), which is
how the sandbox is kept honest; Connect tests then also need ``STRIPE_TEST_CONNECTED_ACCOUNT=acct_…`` (an account
connected to that platform) and are skipped without it. Anything only the sandbox has (``/_sandbox/`` controls,
the OAuth consent page, the 3-D Secure completion routes) is tested in the other modules of this package.

Assertions stick to what Stripe documents, so a difference in wording between the sandbox and Stripe does not fail
a run against Stripe; where the sandbox's wording matters it is checked in the sandbox-only modules.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest
import stripe

from .conftest import ClientFactory

pytestmark = pytest.mark.asyncio


async def new_intent(client: stripe.StripeClient, **params: Any) -> stripe.PaymentIntent:
    base: dict[str, Any] = {
        "amount": 8000,
        "currency": "aud",
        "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
    }
    request: Any = {**base, **params}
    return await client.v1.payment_intents.create_async(request)


async def test_create_and_retrieve_payment_intent(client: stripe.StripeClient) -> None:
    created = await new_intent(
        client, description="Consult", metadata={"call": "call-1"}, receipt_email="pat@example.com"
    )
    assert created.id.startswith("pi_")
    assert created.status == "requires_payment_method"
    assert created.amount == 8000 and created.currency == "aud"
    assert created.client_secret is not None and created.client_secret.startswith(created.id + "_secret_")
    assert created.livemode is False
    assert created.metadata.to_dict() == {"call": "call-1"}
    assert created.automatic_payment_methods is not None and created.automatic_payment_methods.enabled is True
    fetched = await client.v1.payment_intents.retrieve_async(created.id)
    assert fetched.id == created.id and fetched.description == "Consult" and fetched.receipt_email == "pat@example.com"


async def test_confirm_with_visa_succeeds_and_makes_a_charge(client: stripe.StripeClient) -> None:
    intent = await new_intent(client, receipt_email="pat@example.com")
    confirmed = await client.v1.payment_intents.confirm_async(intent.id, {"payment_method": "pm_card_visa"})
    assert confirmed.status == "succeeded"
    assert confirmed.amount_received == 8000
    assert isinstance(confirmed.latest_charge, str)
    charge = await client.v1.charges.retrieve_async(confirmed.latest_charge)
    assert charge.paid is True and charge.captured is True and charge.amount_refunded == 0
    assert charge.refunded is False
    assert charge.payment_intent == intent.id
    assert charge.payment_method_details is not None and charge.payment_method_details.card is not None
    assert charge.payment_method_details.card.brand == "visa"
    assert charge.payment_method_details.card.last4 == "4242"
    assert charge.receipt_email == "pat@example.com"
    expanded = await client.v1.payment_intents.retrieve_async(intent.id, {"expand": ["latest_charge"]})
    assert isinstance(expanded.latest_charge, stripe.Charge) and expanded.latest_charge.id == charge.id


async def test_create_with_confirm_true(client: stripe.StripeClient) -> None:
    intent = await new_intent(client, confirm=True, payment_method="pm_card_mastercard")
    assert intent.status == "succeeded"


DECLINES = [
    ("pm_card_chargeDeclined", "card_declined", "generic_decline", "Your card was declined."),
    (
        "pm_card_chargeDeclinedInsufficientFunds",
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    ("pm_card_chargeDeclinedExpiredCard", "expired_card", None, "Your card has expired."),
    ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc", None, "Your card's security code is incorrect."),
]


@pytest.mark.parametrize(("payment_method", "code", "decline_code", "message"), DECLINES)
async def test_declined_cards(
    client: stripe.StripeClient, payment_method: str, code: str, decline_code: str | None, message: str
) -> None:
    intent = await new_intent(client)
    with pytest.raises(stripe.CardError) as raised:
        await client.v1.payment_intents.confirm_async(intent.id, {"payment_method": payment_method})
    error = raised.value
    assert error.http_status == 402
    assert error.code == code
    if decline_code is not None:
        assert error.error is not None and error.error.decline_code == decline_code
    assert error.user_message == message
    after = await client.v1.payment_intents.retrieve_async(intent.id)
    assert after.status == "requires_payment_method"
    assert after.last_payment_error is not None
    assert after.last_payment_error.type == "card_error" and after.last_payment_error.code == code
    assert after.last_payment_error.message == message


async def test_three_d_secure_card_requires_action(client: stripe.StripeClient) -> None:
    intent = await new_intent(client)
    confirmed = await client.v1.payment_intents.confirm_async(
        intent.id, {"payment_method": "pm_card_authenticationRequired", "return_url": "https://example.com/done"}
    )
    assert confirmed.status == "requires_action"
    assert confirmed.next_action is not None


async def test_manual_capture_in_part(client: stripe.StripeClient) -> None:
    intent = await new_intent(client, capture_method="manual", confirm=True, payment_method="pm_card_visa")
    assert intent.status == "requires_capture"
    assert intent.amount_capturable == 8000
    captured = await client.v1.payment_intents.capture_async(intent.id, {"amount_to_capture": 5000})
    assert captured.status == "succeeded"
    assert captured.amount_received == 5000


async def test_cancel_and_cancel_again(client: stripe.StripeClient) -> None:
    intent = await new_intent(client)
    canceled = await client.v1.payment_intents.cancel_async(intent.id, {"cancellation_reason": "abandoned"})
    assert canceled.status == "canceled" and canceled.cancellation_reason == "abandoned"
    assert canceled.canceled_at is not None
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.payment_intents.confirm_async(intent.id, {"payment_method": "pm_card_visa"})
    assert raised.value.code == "payment_intent_unexpected_state"


async def test_update_metadata_and_description(client: stripe.StripeClient) -> None:
    intent = await new_intent(client, metadata={"a": "1", "b": "2"})
    updated = await client.v1.payment_intents.update_async(
        intent.id, {"metadata": {"b": "", "c": "3"}, "description": "Follow-up", "amount": 9000}
    )
    assert updated.metadata.to_dict() == {"a": "1", "c": "3"}
    assert updated.description == "Follow-up" and updated.amount == 9000


async def test_list_pagination(client: stripe.StripeClient, make_client: ClientFactory) -> None:
    created = [await new_intent(client, metadata={"n": str(n)}) for n in range(3)]
    newest_first = [intent.id for intent in reversed(created)]
    first = await client.v1.payment_intents.list_async({"limit": 2})
    assert first.url == "/v1/payment_intents"
    assert [intent.id for intent in first.data] == newest_first[:2]
    assert first.has_more is True
    second = await client.v1.payment_intents.list_async({"limit": 2, "starting_after": newest_first[1]})
    assert second.data[0].id == newest_first[2]
    back = await client.v1.payment_intents.list_async({"limit": 2, "ending_before": newest_first[2]})
    assert [intent.id for intent in back.data] == newest_first[:2]


async def test_idempotent_replay_and_mismatch(client: stripe.StripeClient) -> None:
    key = "idem-" + secrets.token_hex(8)
    params: Any = {"amount": 8000, "currency": "aud"}
    first = await client.v1.payment_intents.create_async(params, {"idempotency_key": key})
    again = await client.v1.payment_intents.create_async(params, {"idempotency_key": key})
    assert again.id == first.id
    assert again.last_response is not None
    assert again.last_response.headers.get("idempotent-replayed") == "true"
    with pytest.raises(stripe.IdempotencyError):
        await client.v1.payment_intents.create_async({"amount": 9000, "currency": "aud"}, {"idempotency_key": key})


async def test_unknown_and_missing_parameters(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.payment_intents.create_async(
            {"amount": 8000, "currency": "aud", "colour": "blue"}  # type: ignore[typeddict-unknown-key]
        )
    assert raised.value.code == "parameter_unknown" and raised.value.param == "colour"
    assert raised.value.http_status == 400
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.payment_intents.create_async({"currency": "aud"})  # type: ignore[typeddict-item]
    assert raised.value.code == "parameter_missing" and raised.value.param == "amount"


async def test_payment_methods_can_be_kept_on_the_page(client: stripe.StripeClient) -> None:
    """The in-call widget asks for no redirecting methods; the nested object is checked key by key, as Stripe does."""
    created = await new_intent(client)
    assert created.automatic_payment_methods is not None
    assert created.automatic_payment_methods.allow_redirects == "never"
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await new_intent(client, automatic_payment_methods={"enabled": True, "allow_redirect": "never"})
    assert raised.value.code == "parameter_unknown"
    assert raised.value.param == "automatic_payment_methods[allow_redirect]"


async def test_amount_and_currency_are_checked(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.payment_intents.create_async({"amount": 10, "currency": "aud"})
    assert raised.value.code == "amount_too_small" and raised.value.param == "amount"
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.payment_intents.create_async({"amount": 8000, "currency": "zzz"})
    assert raised.value.param == "currency"


async def test_application_fee_needs_a_connected_account(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await new_intent(client, application_fee_amount=100)
    assert raised.value.param == "application_fee_amount"


async def test_refunds_partial_full_and_too_much(client: stripe.StripeClient) -> None:
    intent = await new_intent(client, confirm=True, payment_method="pm_card_visa")
    partial = await client.v1.refunds.create_async(
        {"payment_intent": intent.id, "amount": 3000, "reason": "requested_by_customer", "metadata": {"by": "x"}}
    )
    assert partial.status == "succeeded" and partial.amount == 3000 and partial.payment_intent == intent.id
    assert partial.reason == "requested_by_customer"
    assert partial.metadata is not None and partial.metadata.to_dict() == {"by": "x"}
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.refunds.create_async({"payment_intent": intent.id, "amount": 6000})
    assert raised.value.param == "amount"
    rest = await client.v1.refunds.create_async({"payment_intent": intent.id})
    assert rest.amount == 5000
    assert isinstance(intent.latest_charge, str)
    charge = await client.v1.charges.retrieve_async(intent.latest_charge)
    assert charge.amount_refunded == 8000 and charge.refunded is True
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.refunds.create_async({"payment_intent": intent.id, "amount": 100})
    assert raised.value.code == "charge_already_refunded"
    listed = await client.v1.refunds.list_async({"payment_intent": intent.id})
    assert [refund.id for refund in listed.data] == [rest.id, partial.id]
    fetched = await client.v1.refunds.retrieve_async(partial.id)
    assert fetched.amount == 3000


async def test_refund_with_a_bad_reason(client: stripe.StripeClient) -> None:
    intent = await new_intent(client, confirm=True, payment_method="pm_card_visa")
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.refunds.create_async(
            {"payment_intent": intent.id, "reason": "changed_mind"}  # type: ignore[typeddict-item,unused-ignore]
        )
    assert raised.value.param == "reason"


async def test_events_are_recorded(client: stripe.StripeClient) -> None:
    intent = await new_intent(client, confirm=True, payment_method="pm_card_visa")
    events = await client.v1.events.list_async({"type": "payment_intent.succeeded", "limit": 5})
    mine = [event for event in events.data if event.data.object["id"] == intent.id]
    assert len(mine) == 1
    event = await client.v1.events.retrieve_async(mine[0].id)
    assert event.type == "payment_intent.succeeded" and event.object == "event"
    assert event.data.object["status"] == "succeeded"


async def test_webhook_endpoints(client: stripe.StripeClient) -> None:
    created = await client.v1.webhook_endpoints.create_async(
        {
            "url": "https://example.com/stripe/webhook",
            "enabled_events": ["payment_intent.succeeded"],
            "description": "callpay",
        }
    )
    assert created.secret is not None and created.secret.startswith("whsec_")
    fetched = await client.v1.webhook_endpoints.retrieve_async(created.id)
    assert fetched.url == "https://example.com/stripe/webhook"
    assert getattr(fetched, "secret", None) is None
    listed = await client.v1.webhook_endpoints.list_async()
    assert created.id in [endpoint.id for endpoint in listed.data]
    deleted = await client.v1.webhook_endpoints.delete_async(created.id)
    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.webhook_endpoints.retrieve_async(created.id)
    assert raised.value.http_status == 404


async def test_missing_object_is_404(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.payment_intents.retrieve_async("pi_doesnotexist")
    assert raised.value.http_status == 404 and raised.value.code == "resource_missing"


async def test_bad_key_is_refused(make_client: ClientFactory) -> None:
    with pytest.raises(stripe.AuthenticationError) as raised:
        await make_client("sk_live_nope").v1.payment_intents.list_async()
    assert raised.value.http_status == 401


async def test_connected_account_objects_stay_on_that_account(
    client: stripe.StripeClient, connected_account: str
) -> None:
    on_account = await client.v1.payment_intents.create_async(
        {"amount": 8000, "currency": "aud", "application_fee_amount": 200},
        {"stripe_account": connected_account},
    )
    assert on_account.application_fee_amount == 200
    fetched = await client.v1.payment_intents.retrieve_async(
        on_account.id, options={"stripe_account": connected_account}
    )
    assert fetched.id == on_account.id
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.payment_intents.retrieve_async(on_account.id)
    assert raised.value.http_status == 404 and raised.value.code == "resource_missing"
    on_platform = await new_intent(client)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.payment_intents.retrieve_async(on_platform.id, options={"stripe_account": connected_account})
    assert raised.value.http_status == 404
    account = await client.v1.accounts.retrieve_async(connected_account)
    assert account.id == connected_account and account.object == "account"


async def test_unconnected_account_is_forbidden(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.PermissionError) as raised:
        await client.v1.payment_intents.list_async(options={"stripe_account": "acct_1NotConnectedToYou"})
    assert raised.value.http_status == 403
