"""The Stripe.js stand-in saving a card: ``confirmSetup`` with a SetupIntent on a connected account, 3-D Secure at
setup, a card the bank refuses to save, and the Payment Element's ``clear()`` after a decline."""

from __future__ import annotations

from typing import Any

import pytest
import stripe
from playwright.async_api import Page, expect

from tests.browser_support import complete_three_d_secure, fill_card, payment_frame, save_screenshot

from .conftest import HostSite
from .test_stripe_js import open_checkout, pay, result_of

pytestmark = pytest.mark.browser

CARD_ONLY = {"enabled": True, "allow_redirects": "never"}


async def setup_for(client: stripe.StripeClient, account: str) -> tuple[stripe.Customer, stripe.SetupIntent, Any]:
    options: Any = {"stripe_account": account}
    customer = await client.v1.customers.create_async({"email": "pat@example.com", "name": "Pat Lee"}, options)
    setup = await client.v1.setup_intents.create_async(
        {"customer": customer.id, "usage": "off_session", "automatic_payment_methods": CARD_ONLY}, options
    )
    return customer, setup, options


async def test_save_a_card_then_charge_it_off_session(
    page: Page, host_site: HostSite, stripe_client: stripe.StripeClient, connected_account: str
) -> None:
    customer, setup, options = await setup_for(stripe_client, connected_account)
    await open_checkout(page, host_site, setup, stripe_account=connected_account)  # type: ignore[arg-type]
    await fill_card(page, "4242424242424242")
    await pay(page)

    result = await result_of(page)
    assert result["setupIntent"]["status"] == "succeeded", result
    pm_id = result["setupIntent"]["payment_method"]
    saved = await stripe_client.v1.payment_methods.retrieve_async(pm_id, options=options)
    assert saved.customer == customer.id and saved.card is not None and saved.card.last4 == "4242"
    fee = await stripe_client.v1.payment_intents.create_async(
        {
            "amount": 5000,
            "currency": "aud",
            "customer": customer.id,
            "payment_method": pm_id,
            "off_session": True,
            "confirm": True,
        },
        options,
    )
    assert fee.status == "succeeded"


async def test_a_card_that_always_wants_its_holder_authenticates_at_setup_and_declines_off_session(
    page: Page, host_site: HostSite, stripe_client: stripe.StripeClient, connected_account: str
) -> None:
    customer, setup, options = await setup_for(stripe_client, connected_account)
    await open_checkout(page, host_site, setup, stripe_account=connected_account)  # type: ignore[arg-type]
    await fill_card(page, "4000002760003184")
    await pay(page)
    await complete_three_d_secure(page)

    result = await result_of(page)
    assert result["setupIntent"]["status"] == "succeeded", result
    with pytest.raises(stripe.CardError) as raised:
        await stripe_client.v1.payment_intents.create_async(
            {
                "amount": 5000,
                "currency": "aud",
                "customer": customer.id,
                "payment_method": result["setupIntent"]["payment_method"],
                "off_session": True,
                "confirm": True,
            },
            options,
        )
    assert raised.value.code == "authentication_required"


async def test_a_declined_card_is_not_saved_and_clear_empties_the_fields(
    page: Page, host_site: HostSite, stripe_client: stripe.StripeClient, connected_account: str
) -> None:
    customer, setup, options = await setup_for(stripe_client, connected_account)
    await open_checkout(page, host_site, setup, stripe_account=connected_account)  # type: ignore[arg-type]
    await fill_card(page, "4000000000000002")
    await pay(page)

    result = await result_of(page)
    assert result["error"]["code"] == "card_declined"
    assert result["error"]["setup_intent"]["id"] == setup.id
    listed = await stripe_client.v1.customers.payment_methods.list_async(customer.id, options=options)
    assert listed.data == []

    # After a decline the patient widget empties the card fields for the next card.
    await page.click("#clear")
    frame = payment_frame(page)
    for field in ("card-number", "card-expiry", "card-cvc"):
        await expect(frame.get_by_test_id(field)).to_have_value("")
    await expect(page.locator("body")).to_have_attribute("data-complete", "false")
    empty = await page.evaluate("window.changeEvents[window.changeEvents.length - 1]")
    assert empty["empty"] is True and empty["complete"] is False
    await save_screenshot(page, "sandbox-js-cleared-after-decline")

    await fill_card(page, "4242424242424242")
    await pay(page)
    assert (await result_of(page))["setupIntent"]["status"] == "succeeded"
