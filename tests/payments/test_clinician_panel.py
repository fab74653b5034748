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
# Socket.IO retries with a growing, jittered delay (up to 5 s); on a loaded machine coming back can take a while.
RECONNECT_MS = 30_000


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
    # The server reads what was typed in the clinic's locale (en-AU) and says what to write instead.
    await amount.fill("80,00")
    await page.keyboard.press("Enter")
    await expect(page.locator("#amount-error")).to_contain_text("write 80.00")
    await amount.fill("US$80")
    await page.keyboard.press("Enter")
    await expect(page.locator("#amount-error")).to_contain_text("isn't in Australian dollars")

    await amount.fill("20")
    await description.fill("Script")
    await page.keyboard.press("Enter")
    item = page.get_by_test_id("request-list").locator("li").first
    await expect(item).to_contain_text("A$20.00")

    # Cancel asks first: one click only opens "Cancel this request?", and Keep it (or Escape) leaves it be.
    await item.get_by_role("button", name="Cancel request").click()
    confirm = item.get_by_role("group", name="Cancel this request?")
    await expect(confirm).to_be_visible()
    await expect(confirm.get_by_role("button", name="Keep it")).to_be_focused()
    await save_screenshot(page, "clinician-panel-confirm-cancel")
    await assert_accessible(page)
    await page.keyboard.press("Enter")  # Keep it
    await expect(confirm).to_have_count(0)
    await expect(item.get_by_role("button", name="Cancel request")).to_be_focused()
    await expect(item).to_contain_text("Waiting for the patient")
    await page.keyboard.press("Enter")  # Cancel request again, then Escape
    await expect(confirm).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(confirm).to_have_count(0)
    assert len(stack.published.of("payment_request")) == 1  # nothing was canceled

    await item.get_by_role("button", name="Cancel request").click()
    await confirm.get_by_role("button", name="Yes, cancel").click()
    await expect(item).to_contain_text("Cancelled")
    await expect(item.get_by_role("button")).to_have_count(0)
    await expect(page.locator("#announcer")).to_have_text("Request for A$20.00 cancelled.")
    await save_screenshot(page, "clinician-panel-cancelled")

    # Above the clinic's "confirm requests above" (A$500.00) the panel asks first; Change goes back to the amount.
    await description.fill("Surgery")
    await amount.fill("800")
    await page.keyboard.press("Enter")
    ask = page.get_by_role("group", name="Request A$800.00? That is more than A$500.00.")
    await expect(ask).to_be_visible()
    await expect(ask.get_by_role("button", name="Confirm")).to_be_focused()
    await save_screenshot(page, "clinician-panel-confirm-large")
    await assert_accessible(page)
    await ask.get_by_role("button", name="Change").click()
    await expect(ask).to_be_hidden()
    await expect(amount).to_be_focused()
    assert len(stack.published.of("payment_request")) == 2  # the A$20.00 request and its cancellation
    await page.keyboard.press("Enter")
    await ask.get_by_role("button", name="Confirm").click()
    large = page.get_by_test_id("request-list").locator("li").first
    await expect(large).to_contain_text("A$800.00")
    await expect(amount).to_have_value("")
    assert [e.data["amount"] for e in stack.published.of("payment_request")] == [2000, 2000, 80000]

    assert script_errors(page_errors) == []


async def test_the_panel_page_answers_with_a_strict_policy_and_refuses_patients(stack: PayStack) -> None:
    response = await stack.client.get(f"/widget/clinician?launch={launch_token(role='team_member')}")
    assert response.status == 200
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "unsafe-inline" not in policy
    assert 'data-testid="request-submit"' in await response.text()
    refused = await stack.client.get(f"/widget/clinician?launch={launch_token(role='patient')}")
    assert refused.status == 401


PANEL = {"width": 360, "height": 640}  # the side panel beside the video


async def box_of(page: Page, selector: str) -> dict[str, float]:
    box = await page.locator(selector).bounding_box()
    assert box is not None, selector
    return box


def overlaps(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


async def test_the_pop_up_covers_no_field_comes_first_in_focus_order_and_moves_nothing(
    connected: PayStack, page: Page, page_errors: list[str]
) -> None:
    stack = connected
    await page.set_viewport_size(PANEL)
    await open_panel(stack, page)
    clinician = await stack.socket(await stack.clinician())
    for n in range(4):  # enough requests that the panel scrolls
        await stack.request_payment(clinician, amount=f"{20 + n}.00", description=f"Item {n}")
    paid = await stack.request_payment(clinician, amount="80.00", description="Follow-up consultation")
    await expect(page.get_by_test_id("request-list").locator("li")).to_have_count(5)
    form_before = await box_of(page, "#request-form")

    patient = await stack.patient()
    await stack.pay(paid["id"], patient)
    await stack.report(paid["id"], patient)
    popup = page.get_by_test_id("payment-received")
    await expect(popup).to_be_visible()
    await expect(popup).to_contain_text("A$80.00")
    await page.wait_for_timeout(400)  # the entrance animation
    # Laid over the heading: the form hasn't moved, and no field is under the pop-up.
    assert await box_of(page, "#request-form") == form_before
    banner = await box_of(page, '[data-testid="payment-received"]')
    assert banner["height"] <= 0.2 * PANEL["height"]
    for field in ("#amount", "#description", "#submit"):
        assert not overlaps(banner, await box_of(page, field)), field
    await save_screenshot(page, "clinician-panel-360-payment-received", full_page=False)
    await assert_accessible(page)

    # Dismiss is the first stop from the top of the page, as it is the first thing on screen.
    await page.evaluate("() => document.activeElement && document.activeElement.blur()")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Dismiss: payment of A$80.00 received")).to_be_focused()
    # Tabbing on through the whole panel, nothing that takes focus is ever hidden under the pop-up (WCAG 2.4.11),
    # though it stays at the top as the panel scrolls.
    for _ in range(40):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(
            """() => {
              const r = document.activeElement.getBoundingClientRect();
              return {x: r.x, y: r.y, width: r.width, height: r.height, tag: document.activeElement.tagName};
            }"""
        )
        if focused["tag"] == "BODY":
            break
        banner = await box_of(page, '[data-testid="payment-received"]')
        assert banner["y"] >= -1, "the pop-up scrolled away"
        assert not overlaps(banner, focused), focused
    assert await page.evaluate("() => window.scrollY") > 0  # the walk did scroll the panel
    await save_screenshot(page, "clinician-panel-360-scrolled-with-pop-up", full_page=False)

    # Dismissed from the keyboard, the focus goes on to the form.
    await page.get_by_role("button", name="Dismiss: payment of A$80.00 received").focus()
    await page.keyboard.press("Enter")
    await expect(popup).to_have_count(0)
    await expect(page.get_by_test_id("request-amount")).to_be_focused()
    assert script_errors(page_errors) == []


async def test_the_description_counts_down_near_its_limit_and_refuses_more(
    connected: PayStack, page: Page, page_errors: list[str]
) -> None:
    stack = connected
    await page.set_viewport_size(PANEL)
    await open_panel(stack, page)
    # Labels and hints, no grey example values that look filled in.
    for field in ("request-amount", "request-description"):
        assert await page.get_by_test_id(field).get_attribute("placeholder") is None
    await expect(page.locator("#amount-hint")).to_have_text("Such as 80.00")
    description, counter = page.get_by_test_id("request-description"), page.get_by_test_id("description-count")
    await description.fill("x" * 399)
    await expect(counter).to_be_hidden()
    await description.fill("x" * 450)
    await expect(counter).to_have_text("450 of 500 characters")
    assert "description-count" in (await description.get_attribute("aria-describedby") or "")
    await description.fill("x" * 500)
    await expect(page.locator("#announcer")).to_have_text("The description is at the limit of 500 characters.")
    await description.press("End")
    await page.keyboard.type("yz")  # typing on past the limit isn't cut off silently: it's counted and said
    await expect(description).to_have_value("x" * 500 + "yz")
    await expect(counter).to_have_text("502 of 500 characters: 2 too many")
    await expect(page.locator("#announcer")).to_have_text("The description is over the limit of 500 characters.")
    await page.get_by_test_id("request-amount").fill("80.00")
    await page.get_by_test_id("request-submit").click()
    await expect(page.locator("#description-error")).to_have_text(
        "Keep the description to 500 characters or fewer (2 too many)."
    )
    await expect(description).to_be_focused()
    await save_screenshot(page, "clinician-panel-360-description-too-long")
    await assert_accessible(page)
    assert stack.published.of("payment_request") == []

    await description.press("Backspace")
    await description.press("Backspace")
    await expect(counter).to_have_text("500 of 500 characters")
    await page.get_by_test_id("request-submit").click()
    await expect(page.get_by_test_id("request-list").locator("li")).to_have_count(1)
    await expect(counter).to_be_hidden()  # the form was cleared for the next request
    assert script_errors(page_errors) == []


async def test_the_server_counts_a_description_as_typed(connected: PayStack) -> None:
    clinician = await connected.socket(await connected.clinician())
    ack = await clinician.call("request_payment", {"amount": "80.00", "description": "x" * 501})
    assert not ack["ok"]
    assert {k: ack["error"][k] for k in ("code", "message", "field")} == {
        "code": "invalid",
        "message": "Keep the description to 500 characters or fewer.",
        "field": "description",
    }
    # 500 as typed is accepted, and only then are runs of spaces made one.
    typed = "Consultation" + " " * 478 + "and script"
    assert len(typed) == 500
    created = await connected.request_payment(clinician, amount="80.00", description=typed)
    assert created["description"] == "Consultation and script"
    too_long = "a  b" * 126  # 504 typed, though 378 once its double spaces are made one
    ack = await clinician.call("request_payment", {"amount": "80.00", "description": too_long})
    assert not ack["ok"] and ack["error"]["field"] == "description"


async def test_the_live_connection_says_what_it_is_when_it_drops_and_when_it_is_back(
    connected: PayStack, page: Page, page_errors: list[str]
) -> None:
    await open_panel(connected, page)
    line = page.locator("#connection")
    await expect(line).to_have_text("Live updates: connected. Payments show here as they happen.")
    await page.context.set_offline(True)
    await expect(line).to_have_attribute("data-state", "lost")
    await expect(line).to_contain_text("Live updates: connection lost. Reconnecting…")
    await expect(line).to_have_attribute("role", "status")
    await save_screenshot(page, "clinician-panel-connection-lost")
    await page.context.set_offline(False)
    await expect(line).to_have_text("Live updates: connected again. Everything is up to date.", timeout=RECONNECT_MS)
    assert script_errors(page_errors) == []
