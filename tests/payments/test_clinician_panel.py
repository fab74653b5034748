"""The clinician's Request payment panel in Chromium: request, watch the status, see the pop-up once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.accessibility import assert_accessible
from tests.browser_support import save_screenshot, script_errors
from tests.conftest import launch_token
from tests.support.payflow import PayStack

pytestmark = pytest.mark.browser


async def open_panel(stack: PayStack, page: Page, **claims: Any) -> None:
    claims = {"role": "team_member", "sub": "dr-ada", "name": "Dr Ada Lovelace", **claims}
    await page.goto(f"{stack.url}/widget/clinician?launch={launch_token(**claims)}")
    await expect(page.locator("#connection")).to_have_attribute("data-state", "connected")


async def test_request_and_see_the_payment_land_once(stack: PayStack, page: Page, page_errors: list[str]) -> None:
    await open_panel(stack, page)
    assert "launch=" not in page.url
    # Not connected to Stripe yet: the form says why and can't be used.
    await expect(page.get_by_test_id("request-submit")).to_be_disabled()
    await expect(page.locator("#unavailable")).to_contain_text("This clinic has no linked Stripe account.")
    await expect(page.locator("#unavailable")).not_to_contain_text("yet")
    await save_screenshot(page, "clinician-panel-unavailable")
    await assert_accessible(page)

    await stack.connect_clinic()  # the clinic admin links Stripe meanwhile: the panel comes alive by itself
    await expect(page.get_by_test_id("request-submit")).to_be_enabled()
    await expect(page.locator("#unavailable")).to_be_hidden()

    await page.get_by_test_id("request-amount").fill("80.00")
    await page.get_by_test_id("request-description").fill("Follow-up consultation")
    await page.get_by_test_id("request-submit").dblclick()
    items = page.get_by_test_id("request-list").locator("li")
    await expect(items).to_have_count(1)
    await expect(items.first).to_contain_text("A$80.00")
    await expect(items.first).to_contain_text("Waiting for the patient")
    await asyncio.sleep(0.3)
    await expect(items).to_have_count(1)  # the double click made one request
    assert len(stack.published.of("payment_request")) == 1
    await save_screenshot(page, "clinician-panel-requested")

    pr_id = await items.first.get_attribute("data-id")
    assert pr_id
    patient = await stack.patient()
    await stack.pay(pr_id, patient)
    await stack.report(pr_id, patient)
    popup = page.get_by_test_id("payment-received")
    await expect(popup).to_have_count(1)
    await expect(popup).to_contain_text("Payment received")
    await expect(popup).to_contain_text("A$80.00")
    await expect(popup).to_contain_text("Follow-up consultation")
    await expect(items.first).to_contain_text("Paid")
    await expect(items.first).to_contain_text("receipt 000001")
    await page.wait_for_timeout(400)  # let the pop-up's entrance finish, so contrast is measured at rest
    await save_screenshot(page, "clinician-panel-payment-received")
    await assert_accessible(page)

    # The webhook arriving afterwards changes nothing: still one pop-up.
    await stack.deliver(
        await stack.event(
            (await stack.stripe("GET", "/v1/payment_intents"))["data"][0]["id"], "payment_intent.succeeded"
        )
    )
    await page.evaluate("() => new Promise((r) => setTimeout(r, 300))")
    await expect(popup).to_have_count(1)
    await page.get_by_role("button", name="Dismiss: payment of A$80.00 received").click()
    await expect(popup).to_have_count(0)
    assert page_errors == []


async def test_cancel_and_validation_messages(connected: PayStack, page: Page, page_errors: list[str]) -> None:
    stack = connected
    await open_panel(stack, page)
    amount, description = page.get_by_test_id("request-amount"), page.get_by_test_id("request-description")
    # Every problem shows at once, and the first one takes the focus.
    await amount.fill("abc")
    await page.get_by_test_id("request-submit").click()
    await expect(page.locator("#amount-error")).to_have_text("Enter the amount as a number, such as 80.00.")
    await expect(page.locator("#description-error")).to_have_text("Say what the payment is for.")
    await expect(amount).to_be_focused()
    await expect(amount).to_have_attribute("aria-invalid", "true")
    await expect(description).to_have_attribute("aria-invalid", "true")
    assert "description-error" in (await description.get_attribute("aria-describedby") or "")
    await save_screenshot(page, "clinician-panel-field-errors")
    await assert_accessible(page)
    assert stack.published.of("payment_request") == []

    await amount.fill("12.345")
    await description.fill("Script")
    await page.keyboard.press("Enter")
    await expect(page.locator("#amount-error")).to_contain_text("decimal places")
    await expect(page.locator("#description-error")).to_be_hidden()
    await expect(description).not_to_have_attribute("aria-invalid", "true")
    await expect(amount).to_be_focused()
    await amount.fill("20")
    await page.keyboard.press("Enter")
    item = page.get_by_test_id("request-list").locator("li").first
    await expect(item).to_contain_text("A$20.00")

    # Cancel asks first: one click only opens "Cancel this request?", and Keep it (or Escape) leaves it be.
    await item.get_by_role("button", name="Cancel the request").click()
    confirm = item.get_by_role("group", name="Cancel this request?")
    await expect(confirm).to_be_visible()
    await expect(confirm.get_by_role("button", name="Keep it")).to_be_focused()
    await save_screenshot(page, "clinician-panel-confirm-cancel")
    await assert_accessible(page)
    await page.keyboard.press("Enter")  # Keep it
    await expect(confirm).to_have_count(0)
    await expect(item.get_by_role("button", name="Cancel the request")).to_be_focused()
    await expect(item).to_contain_text("Waiting for the patient")
    await page.keyboard.press("Enter")  # Cancel request again, then Escape
    await expect(confirm).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(confirm).to_have_count(0)
    assert len(stack.published.of("payment_request")) == 1  # nothing was canceled

    await item.get_by_role("button", name="Cancel the request").click()
    await confirm.get_by_role("button", name="Yes, cancel").click()
    await expect(item).to_contain_text("Cancelled")
    await expect(item.get_by_role("button")).to_have_count(0)
    await expect(page.locator("#announcer")).to_have_text("Request for A$20.00 cancelled.")
    await save_screenshot(page, "clinician-panel-cancelled")
    assert script_errors(page_errors) == []


async def test_the_panel_page_answers_with_a_strict_policy_and_refuses_patients(stack: PayStack) -> None:
    response = await stack.client.get(f"/widget/clinician?launch={launch_token(role='team_member')}")
    assert response.status == 200
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "unsafe-inline" not in policy
    assert 'data-testid="request-submit"' in await response.text()
    refused = await stack.client.get(f"/widget/clinician?launch={launch_token(role='patient')}")
    assert refused.status == 401
