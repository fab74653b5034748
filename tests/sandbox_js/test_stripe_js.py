"""The Stripe.js stand-in, driven in Chromium from a host page on another origin, against the real sandbox API."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import pytest
import stripe
from playwright.async_api import Page, expect

from tests.browser_support import (
    complete_three_d_secure,
    fill_card,
    payment_frame,
    save_screenshot,
    three_d_secure_frame,
)

from .conftest import CreateIntent, HostSite

pytestmark = pytest.mark.browser

AUTHENTICATION_FAILED = (
    "We are unable to authenticate your payment method. Please choose a different payment method and try again."
)


async def open_checkout(page: Page, host_site: HostSite, intent: stripe.PaymentIntent, **kwargs: str) -> None:
    assert intent.client_secret is not None
    await page.goto(host_site.checkout_url(intent.client_secret, **kwargs))
    await expect(page.locator("body")).to_have_attribute("data-ready", "true")


async def pay(page: Page) -> None:
    await page.click("#pay")


async def result_of(page: Page) -> dict[str, Any]:
    """Wait for confirmPayment() to settle and return what it resolved to."""
    await expect(page.locator("#result[data-done]")).to_be_attached()
    value: dict[str, Any] = json.loads(await page.locator("#result").text_content() or "{}")
    return value


async def assert_card_never_reached_host(page: Page, *numbers: str) -> None:
    """Neither the host page's DOM nor any message it received may contain the card number, in any spacing."""
    host_dom = await page.content()
    messages = " ".join(await page.evaluate("window.messagesSeen"))
    for number in numbers:
        spaced = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
        for text in (host_dom, messages):
            assert number not in text
            assert spaced not in text
    # And the frame's document is out of the host's reach altogether.
    assert await page.evaluate("document.querySelector('iframe').contentDocument") is None


async def test_card_payment_succeeds_without_the_card_reaching_the_host(
    page: Page,
    host_site: HostSite,
    create_intent: CreateIntent,
    stripe_client: stripe.StripeClient,
    page_errors: list[str],
) -> None:
    intent = await create_intent(8000, "aud")
    await open_checkout(page, host_site, intent)
    await fill_card(page, "4242424242424242")

    frame = payment_frame(page)
    await expect(frame.get_by_test_id("card-number")).to_have_value("4242 4242 4242 4242")
    await expect(page.locator("body")).to_have_attribute("data-complete", "true")
    await save_screenshot(page, "sandbox-js-card-filled")

    await pay(page)
    result = await result_of(page)
    await save_screenshot(page, "sandbox-js-card-succeeded")

    assert "error" not in result
    assert result["paymentIntent"]["id"] == intent.id
    assert result["paymentIntent"]["status"] == "succeeded"
    assert (await stripe_client.v1.payment_intents.retrieve_async(intent.id)).status == "succeeded"
    retrieved = await page.evaluate("(secret) => stripe.retrievePaymentIntent(secret)", intent.client_secret)
    assert retrieved["paymentIntent"]["status"] == "succeeded"

    await assert_card_never_reached_host(page, "4242424242424242")
    change_events = await page.evaluate("window.changeEvents")
    assert change_events[-1] == {
        "elementType": "payment",
        "complete": True,
        "empty": False,
        "collapsed": False,
        "value": {"type": "card"},
    }
    assert page_errors == []


async def test_three_d_secure_completed(page: Page, host_site: HostSite, create_intent: CreateIntent) -> None:
    intent = await create_intent()
    await open_checkout(page, host_site, intent)
    await fill_card(page, "4000002500003155")
    await pay(page)

    challenge = three_d_secure_frame(page)
    await expect(challenge.get_by_test_id("3ds-complete")).to_be_focused()
    await expect(challenge.locator("#challenge-amount")).to_have_text(re.compile(r"AUD\s80\.00"))
    await save_screenshot(page, "sandbox-js-3ds-challenge")
    await complete_three_d_secure(page)

    result = await result_of(page)
    assert result["paymentIntent"]["status"] == "succeeded"
    await expect(page.locator(".SandboxStripe3DS")).to_have_count(0)  # the dialog is gone
    await assert_card_never_reached_host(page, "4000002500003155")


async def test_connected_account_pays_through_every_frame(
    page: Page,
    host_site: HostSite,
    create_intent: CreateIntent,
    connected_account: str,
    stripe_client: stripe.StripeClient,
) -> None:
    """A direct charge on a clinic's account: Stripe-Account must reach the confirm, the challenge and retrieval."""
    intent = await create_intent(stripe_account=connected_account)
    await open_checkout(page, host_site, intent, stripe_account=connected_account)
    await fill_card(page, "4000002500003155")
    await pay(page)
    await expect(three_d_secure_frame(page).locator("#challenge-amount")).to_contain_text("80.00")
    await complete_three_d_secure(page)

    result = await result_of(page)
    assert result["paymentIntent"]["status"] == "succeeded"
    settled = await stripe_client.v1.payment_intents.retrieve_async(
        intent.id, options={"stripe_account": connected_account}
    )
    assert settled.status == "succeeded"


async def test_three_d_secure_failed(page: Page, host_site: HostSite, create_intent: CreateIntent) -> None:
    intent = await create_intent()
    await open_checkout(page, host_site, intent)
    await fill_card(page, "4000002500003155")
    await pay(page)
    await complete_three_d_secure(page, succeed=False)

    result = await result_of(page)
    await save_screenshot(page, "sandbox-js-3ds-failed")
    assert result["error"]["message"] == AUTHENTICATION_FAILED
    assert result["error"]["payment_intent"]["status"] == "requires_payment_method"


async def test_three_d_secure_then_declined(page: Page, host_site: HostSite, create_intent: CreateIntent) -> None:
    intent = await create_intent()
    await open_checkout(page, host_site, intent)
    await fill_card(page, "4000008260003178")
    await pay(page)
    await complete_three_d_secure(page)

    result = await result_of(page)
    assert result["error"]["type"] == "card_error"
    assert result["error"]["code"] == "card_declined"


async def test_declined_card_then_another_card_succeeds(
    page: Page, host_site: HostSite, create_intent: CreateIntent
) -> None:
    intent = await create_intent()
    await open_checkout(page, host_site, intent)
    await fill_card(page, "4000000000000002")
    await pay(page)

    declined = await result_of(page)
    await save_screenshot(page, "sandbox-js-declined")
    assert declined["error"]["type"] == "card_error"
    assert declined["error"]["code"] == "card_declined"
    assert declined["error"]["decline_code"] == "generic_decline"
    assert declined["error"]["message"] == "Your card was declined."
    assert declined["error"]["payment_intent"]["id"] == intent.id

    # The same PaymentIntent takes another card, as a patient retrying would.
    await fill_card(page, "4242424242424242")
    await pay(page)
    assert (await result_of(page))["paymentIntent"]["status"] == "succeeded"
    await assert_card_never_reached_host(page, "4000000000000002", "4242424242424242")


async def test_insufficient_funds(page: Page, host_site: HostSite, create_intent: CreateIntent) -> None:
    intent = await create_intent()
    await open_checkout(page, host_site, intent)
    await fill_card(page, "4000000000009995")
    await pay(page)

    result = await result_of(page)
    assert result["error"]["code"] == "card_declined"
    assert result["error"]["decline_code"] == "insufficient_funds"


async def test_fields_validate_and_explain_themselves(
    page: Page, host_site: HostSite, create_intent: CreateIntent, page_errors: list[str]
) -> None:
    intent = await create_intent()
    await open_checkout(page, host_site, intent)
    frame = payment_frame(page)
    number = frame.get_by_test_id("card-number")
    iframe = page.locator('iframe[title="Secure payment input frame"]')
    box = await iframe.bounding_box()
    assert box is not None
    height_before = box["height"]

    # Paying with nothing entered: Stripe's validation error, every field flagged, the first one focused.
    await pay(page)
    result = await result_of(page)
    assert result["error"] == {
        "type": "validation_error",
        "code": "incomplete_number",
        "message": "Your card number is incomplete.",
    }
    await expect(number).to_have_attribute("aria-invalid", "true")
    await expect(number).to_be_focused()
    await expect(frame.locator("#card-number-error")).to_have_text("Your card number is incomplete.")
    assert await number.get_attribute("aria-describedby") == "card-number-error"
    await expect(frame.get_by_test_id("card-expiry")).to_have_attribute("aria-invalid", "true")
    await expect(frame.get_by_test_id("card-cvc")).to_have_attribute("aria-invalid", "true")
    # The frame grew to show the error texts instead of cutting them off.
    await page.wait_for_function(
        "(before) => document.querySelector('iframe').getBoundingClientRect().height > before", arg=height_before
    )
    await save_screenshot(page, "sandbox-js-validation-errors")

    # A full-length number failing the Luhn check is called out at once; an expired date on leaving the field.
    await number.fill("4242424242424241")
    await expect(frame.locator("#card-number-error")).to_have_text("Your card number is invalid.")
    await frame.get_by_test_id("card-expiry").fill("01 / 20")
    await frame.get_by_test_id("card-expiry").blur()
    await expect(frame.locator("#card-expiry-error")).to_have_text("Your card's expiration year is in the past.")

    submitted = await page.evaluate("elements.submit()")
    assert submitted["error"]["code"] == "invalid_number"

    await fill_card(page, "4242424242424242")
    await expect(number).to_have_attribute("aria-invalid", "false")
    assert await page.evaluate("elements.submit()") == {}
    assert page_errors == []


async def test_keyboard_only_entry(page: Page, host_site: HostSite, create_intent: CreateIntent) -> None:
    """Typed key by key: formatting keeps up, each complete field hands on to the next, backspace goes back."""
    intent = await create_intent()
    await open_checkout(page, host_site, intent)
    await page.evaluate("elements.getElement('payment').focus()")
    frame = payment_frame(page)
    number, expiry, cvc = (frame.get_by_label(label) for label in ("Card number", "Expiration date", "Security code"))
    await expect(number).to_be_focused()

    await page.keyboard.type("4242424242424242")
    await expect(number).to_have_value("4242 4242 4242 4242")
    await expect(expiry).to_be_focused()
    await page.keyboard.type("4")  # no month starts with 4: it is April
    await expect(expiry).to_have_value("04 / ")
    await page.keyboard.press("Backspace")
    await page.keyboard.press("Backspace")
    await expect(expiry).to_have_value("0")
    await page.keyboard.press("Backspace")
    await page.keyboard.type(f"12{(date.today().year + 3) % 100:02d}")
    await expect(cvc).to_be_focused()
    await page.keyboard.type("12")
    await page.keyboard.press("Tab")  # leaving the frame with the code unfinished
    await expect(frame.locator("#card-cvc-error")).to_have_text("Your card's security code is incomplete.")
    await cvc.focus()
    await page.keyboard.type("3")
    await expect(cvc).to_have_attribute("aria-invalid", "false")
    await expect(page.locator("body")).to_have_attribute("data-complete", "true")

    await page.keyboard.press("Shift+Tab")
    await expect(expiry).to_be_focused()
    await save_screenshot(page, "sandbox-js-keyboard-entry")


async def test_redirect_always_goes_to_return_url(page: Page, host_site: HostSite, create_intent: CreateIntent) -> None:
    intent = await create_intent()
    await open_checkout(page, host_site, intent, redirect="always")
    await fill_card(page, "4242424242424242")
    await pay(page)

    await page.wait_for_url(f"{host_site.origin}/return?**")
    assert f"payment_intent={intent.id}" in page.url
    assert "redirect_status=succeeded" in page.url


async def test_frame_refuses_a_parent_that_lies_about_its_origin(
    page: Page, host_site: HostSite, create_intent: CreateIntent, sandbox_url: str
) -> None:
    intent = await create_intent()
    await open_checkout(page, host_site, intent)
    # The host page frames the card fields itself, claiming to be another site.
    await page.evaluate(
        """(src) => {
            const frame = document.createElement('iframe');
            frame.id = 'impostor';
            frame.src = src;
            document.body.appendChild(frame);
        }""",
        f"{sandbox_url}/v3/elements-inner.html#frameId=x&key=pk_test_js&parentOrigin=https%3A%2F%2Fclinic.example",
    )
    impostor = page.frame_locator("#impostor")
    await expect(impostor.get_by_text("can only be used by the page that created it")).to_be_visible()
    await expect(impostor.get_by_test_id("card-number")).to_be_hidden()
