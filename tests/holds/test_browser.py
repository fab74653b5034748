"""A card hold in Chromium through the demo: the clinician sends a hold, the patient authorises the card, the
platform ends the call, the hold is charged, the clinician's pop-up shows, and one receipt arrives for the charged
amount."""

from __future__ import annotations

import pytest
from playwright.async_api import BrowserContext, Page, expect

from sandbox.demo import RunningDemo
from tests.browser_support import fill_card, save_screenshot, script_errors
from tests.e2e.test_in_call_payment import link_stripe, panes

pytestmark = pytest.mark.browser
SLOW_MS = 20_000


async def test_a_hold_is_charged_when_the_call_ends_with_one_pop_up_and_one_receipt(
    demo: RunningDemo, context: BrowserContext, page: Page, page_errors: list[str]
) -> None:
    await page.goto(f"{demo.addresses.app}/")
    await link_stripe(demo, context, page)
    clinician, patient = panes(page)

    await expect(clinician.get_by_test_id("request-submit")).to_be_enabled(timeout=SLOW_MS)
    await clinician.get_by_test_id("request-amount").fill("120.00")
    await clinician.get_by_test_id("request-description").fill("Consultation")
    await clinician.get_by_label("Hold the card now, charge at the end").check()
    await clinician.get_by_test_id("request-submit").click()

    await patient.get_by_test_id("pay-now").click()
    await patient.get_by_test_id("receipt-email").fill("sam@example.com")
    await fill_card(patient.get_by_test_id("payment-element"), "4242 4242 4242 4242")
    await patient.get_by_test_id("pay-submit").click()
    await expect(patient.locator(".pw-request")).to_contain_text("Card authorised", timeout=SLOW_MS)
    await expect(patient.locator("#pw-connection")).to_contain_text("Nothing is charged until the end")
    await expect(clinician.get_by_test_id("request-list")).to_contain_text("Card held", timeout=SLOW_MS)
    await expect(clinician.get_by_test_id("charge-now")).to_be_visible()
    await save_screenshot(page, "holds-01-card-authorised")
    # Nothing was charged, so no pop-up and no receipt yet.
    await expect(clinician.get_by_test_id("payment-received")).to_have_count(0)
    assert demo.mailbox.messages == []

    # The platform ends the call while the panel is still open (as the simulator's End call button does).
    answer = await context.request.post(f"{demo.addresses.app}/host/end-call?call=call-1")
    assert answer.ok, await answer.text()
    assert "A$120.00" in await answer.text()

    popup = clinician.get_by_test_id("payment-received")
    await expect(popup).to_be_visible(timeout=SLOW_MS)
    await expect(popup).to_contain_text("A$120.00")
    await expect(popup).to_have_count(1)
    await expect(patient.locator(".pw-request")).to_contain_text("Paid", timeout=SLOW_MS)
    await save_screenshot(page, "holds-02-charged-when-the-call-ended")

    (message,) = await demo.mailbox.wait_for(1, within=30)
    assert message.recipients == ("sam@example.com",)
    assert message.subject == "Your receipt from Harbour Physio — A$120.00"
    assert "A$120.00" in (message.body("plain") or "")
    assert script_errors(page_errors) == []
