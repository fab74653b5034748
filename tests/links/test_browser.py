"""Pay later in Chromium, through the demo: a call ends with its request unpaid, the link arrives in the outbox, a
fresh browser (the patient at home) opens it and pays, and the clinician and the payment centre see it paid."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from sandbox.demo import RunningDemo
from tests.browser_support import fill_card, save_screenshot, script_errors
from tests.e2e.test_in_call_payment import link_stripe, panes, request_payment

pytestmark = pytest.mark.browser
SLOW_MS = 20_000


async def test_end_call_then_pay_the_link_from_the_outbox(
    demo: RunningDemo, browser: Browser, context: BrowserContext, page: Page, page_errors: list[str]
) -> None:
    await page.goto(f"{demo.addresses.app}/")
    await link_stripe(demo, context, page)
    clinician, _patient = panes(page)
    await request_payment(clinician, "80.00", "Consultation")
    await expect(clinician.get_by_test_id("request-list")).to_contain_text("A$80.00")

    # The platform ends the call: the request becomes a pay-later link, emailed to the patient's launch email.
    async with context.expect_page() as opened:
        await page.get_by_test_id("end-call").click()
    ended = await opened.value
    await expect(ended.get_by_test_id("call-ended")).to_contain_text("emailed to sam.patient@example.com")
    await save_screenshot(ended, "links-01-call-ended")
    await expect(clinician.get_by_test_id("request-link")).to_contain_text(
        "Pay-later link emailed to sam.patient@example.com", timeout=SLOW_MS
    )
    await save_screenshot(page, "links-02-panel-after-call")

    (message,) = await demo.mailbox.wait_for(1, within=30)
    assert message.recipients == ("sam.patient@example.com",)
    assert "A$80.00" in message.subject
    found = re.search(r"http://\S+/pay/[A-Za-z0-9_-]+", message.body("plain") or "")
    assert found, message.body("plain")
    url = found.group(0)

    # A fresh browser: no launch, no session, nothing of the call.
    home = await browser.new_context()
    try:
        patient = await home.new_page()
        home_errors: list[str] = []
        patient.on("pageerror", lambda error: home_errors.append(str(error)))
        await patient.goto(url)
        await expect(patient.locator("#pw-checkout-title")).to_contain_text("A$80.00")
        await expect(patient.locator("#clinic-name")).to_have_text("Harbour Physio")
        await expect(patient.get_by_test_id("receipt-email")).to_have_value("sam.patient@example.com")
        await save_screenshot(patient, "links-03-pay-page")
        await patient.get_by_test_id("pay-submit").click()
        await fill_card(patient.get_by_test_id("payment-element"), "4242 4242 4242 4242")
        await save_screenshot(patient, "links-04-pay-page-card")
        await patient.get_by_test_id("pay-submit").click()
        success = patient.get_by_test_id("payment-success")
        await expect(success).to_contain_text("Payment successful", timeout=SLOW_MS)
        await expect(success).to_contain_text("A$80.00")
        await save_screenshot(patient, "links-05-paid")
        # Opened again, the link says it is paid and offers nothing to pay.
        await patient.goto(url)
        await expect(patient.get_by_test_id("link-unavailable")).to_contain_text("This payment has been made")
        await expect(patient.get_by_test_id("pay-submit")).to_have_count(0)
        assert script_errors(home_errors) == []
    finally:
        await home.close()

    # The clinician hears it; the payment centre shows the request and the link paid.
    await expect(clinician.get_by_test_id("payment-received")).to_contain_text("A$80.00", timeout=SLOW_MS)
    await expect(clinician.get_by_test_id("request-link")).to_contain_text("Paid through its pay-later link")
    await save_screenshot(page, "links-06-clinician-notice")
    async with context.expect_page() as opened:
        await ended.get_by_role("link", name="Payment centre").click()
    centre = await opened.value
    row = centre.get_by_test_id("payment-row").first
    await expect(row).to_contain_text("Paid", timeout=SLOW_MS)
    link_row = centre.get_by_test_id("link-row").first
    await expect(link_row).to_contain_text("Paid", timeout=SLOW_MS)
    await save_screenshot(centre, "links-07-payment-centre")
    assert script_errors(page_errors) == []
