"""The whole in-call payment in Chromium, through the demo as a newcomer meets it: the host-platform simulator,
the clinic admin linking Stripe on the sandbox's consent page, the clinician requesting A$80.00, the patient paying
with 4242 in the sandbox's card frame, the clinician's pop-up, and the receipt arriving over real SMTP."""

from __future__ import annotations

import pytest
from playwright.async_api import BrowserContext, FrameLocator, Page, expect

from sandbox.demo import RunningDemo
from tests.browser_support import complete_three_d_secure, fill_card, payment_frame, save_screenshot, script_errors
from tests.receipts.conftest import pdf_text

pytestmark = pytest.mark.browser
SLOW_MS = 15_000


def panes(page: Page) -> tuple[FrameLocator, FrameLocator]:
    return (
        page.frame_locator('[data-testid="host-clinician-pane"]'),
        page.frame_locator('[data-testid="host-patient-pane"]'),
    )


async def link_stripe(demo: RunningDemo, context: BrowserContext, page: Page) -> None:
    """Configure > Client Payments, opened top-level from the platform, then Go to Stripe and authorise."""
    async with context.expect_page() as opened:
        await page.get_by_test_id("host-clinic-config").click()
    admin = await opened.value
    await admin.wait_for_load_state()
    await expect(admin.get_by_test_id("stripe-status")).to_contain_text("No Stripe account is linked")
    await save_screenshot(admin, "e2e-02-clinic-config-not-linked")
    await admin.get_by_test_id("go-to-stripe").click()
    await expect(admin.get_by_test_id("oauth-authorize")).to_be_visible()
    assert admin.url.startswith(f"{demo.addresses.sandbox}/oauth/authorize")
    await admin.get_by_test_id("oauth-business-name").fill("Harbour Physio")
    await save_screenshot(admin, "e2e-03-stripe-consent")
    await admin.get_by_test_id("oauth-authorize").click()
    await expect(admin.get_by_test_id("stripe-status")).to_contain_text("Linked to Harbour Physio")
    await save_screenshot(admin, "e2e-04-clinic-config-linked")
    await admin.close()


async def request_payment(clinician: FrameLocator, amount: str, description: str) -> None:
    await expect(clinician.get_by_test_id("request-submit")).to_be_enabled(timeout=SLOW_MS)
    await clinician.get_by_test_id("request-amount").fill(amount)
    await clinician.get_by_test_id("request-description").fill(description)
    await clinician.get_by_test_id("request-submit").click()


async def test_a_newcomer_links_stripe_requests_pays_and_gets_the_receipt(
    demo: RunningDemo, context: BrowserContext, page: Page, page_errors: list[str]
) -> None:
    await page.goto(f"{demo.addresses.app}/")
    clinician, patient = panes(page)
    await expect(patient.locator("#pw-empty")).to_contain_text("Nothing to pay right now")
    await save_screenshot(page, "e2e-01-host-simulator")

    await link_stripe(demo, context, page)

    # The clinician's tool turns on by itself once the clinic can take payments.
    await request_payment(clinician, "80.00", "Consultation, 20 minutes")
    await expect(clinician.get_by_test_id("request-list")).to_contain_text("A$80.00")
    await save_screenshot(page, "e2e-05-payment-requested")

    pay_now = patient.get_by_test_id("pay-now")
    await expect(patient.locator(".pw-request")).to_contain_text("A$80.00")
    await expect(patient.locator(".pw-request")).to_contain_text("Consultation, 20 minutes")
    await pay_now.click()
    await patient.get_by_test_id("receipt-email").fill("sam@example.com")
    await fill_card(patient.get_by_test_id("payment-element"), "4242 4242 4242 4242")
    await save_screenshot(page, "e2e-06-patient-card-entered")
    await patient.get_by_test_id("pay-submit").click()

    success = patient.get_by_test_id("payment-success")
    await expect(success).to_contain_text("Payment successful", timeout=SLOW_MS)
    for expected in ("A$80.00", "Consultation, 20 minutes", "Harbour Physio", "Visa ending in 4242"):
        await expect(success).to_contain_text(expected)
    await expect(patient.locator("#pw-success-receipt")).not_to_have_text("On its way", timeout=SLOW_MS)

    popup = clinician.get_by_test_id("payment-received")
    await expect(popup).to_be_visible(timeout=SLOW_MS)
    await expect(popup).to_contain_text("A$80.00")
    await expect(popup).to_have_count(1)
    await save_screenshot(page, "e2e-07-paid-and-payment-received")

    (message,) = await demo.mailbox.wait_for(1, within=20)
    assert message.recipients == ("sam@example.com",)
    assert message.to == "sam@example.com"
    assert message.subject == "Your receipt from Harbour Physio — A$80.00"
    assert "A$80.00" in (message.body("plain") or "")
    (attachment,) = message.attachments
    assert attachment.content_type == "application/pdf"
    assert attachment.filename.startswith("receipt-") and attachment.filename.endswith(".pdf")
    text = pdf_text(attachment.data)
    assert "Harbour Physio" in text and "Consultation, 20 minutes" in text and "A$80.00" in text
    assert "Visa ending in 4242" in text

    assert demo.addresses.outbox is not None
    await page.goto(f"{demo.addresses.outbox}/")
    await expect(page.get_by_role("link", name=message.subject)).to_be_visible()
    await save_screenshot(page, "e2e-08-outbox")
    await page.get_by_role("link", name=message.subject).click()
    await expect(page.get_by_role("link", name=attachment.filename)).to_be_visible()
    await save_screenshot(page, "e2e-09-receipt-email")
    assert script_errors(page_errors) == []


async def test_a_decline_then_another_card_and_3d_secure_through_the_platform(
    demo: RunningDemo, context: BrowserContext, page: Page, page_errors: list[str]
) -> None:
    await page.goto(f"{demo.addresses.app}/?call=call-2")
    await link_stripe(demo, context, page)
    clinician, patient = panes(page)

    await request_payment(clinician, "80.00", "Consultation")
    await patient.get_by_test_id("pay-now").click()
    await patient.get_by_test_id("receipt-email").fill("sam@example.com")
    element = patient.get_by_test_id("payment-element")
    await fill_card(element, "4000 0000 0000 0002")
    await patient.get_by_test_id("pay-submit").click()
    await expect(patient.get_by_test_id("payment-error")).to_have_text(
        "Payment failed — your card was declined. Try another card.", timeout=SLOW_MS
    )
    await save_screenshot(page, "e2e-10-declined")
    # The declined card's details are cleared for another card.
    await expect(payment_frame(element).get_by_test_id("card-number")).to_have_value("")
    await fill_card(element, "4242 4242 4242 4242")
    await patient.get_by_test_id("pay-submit").click()
    await expect(patient.get_by_test_id("payment-success")).to_be_visible(timeout=SLOW_MS)
    await expect(clinician.get_by_test_id("payment-received")).to_have_count(1, timeout=SLOW_MS)

    # A second request in the same call, paid with a card that asks for 3-D Secure.
    await patient.locator("#pw-done").click()
    await request_payment(clinician, "35.00", "Script fee")
    await patient.get_by_test_id("pay-now").click()
    await expect(patient.get_by_test_id("receipt-email")).to_have_value("sam@example.com")  # remembered
    await fill_card(patient.get_by_test_id("payment-element"), "4000 0025 0000 3155")
    await patient.get_by_test_id("pay-submit").click()
    # The challenge opens over the patient's pane, from the sandbox's origin, as Stripe's would.
    await expect(patient.locator('iframe[title="3D Secure authentication"]')).to_be_visible(timeout=SLOW_MS)
    await save_screenshot(page, "e2e-11-3d-secure")
    await complete_three_d_secure(patient, succeed=True)
    await expect(patient.get_by_test_id("payment-success")).to_contain_text("A$35.00", timeout=SLOW_MS)
    await expect(clinician.get_by_test_id("payment-received").filter(has_text="A$35.00")).to_have_count(
        1, timeout=SLOW_MS
    )
    await save_screenshot(page, "e2e-12-3d-secure-paid")

    messages = await demo.mailbox.wait_for(2, within=20)
    assert sorted(m.subject for m in messages) == [
        "Your receipt from Harbour Physio — A$35.00",
        "Your receipt from Harbour Physio — A$80.00",
    ]
    assert script_errors(page_errors) == []
