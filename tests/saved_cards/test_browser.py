"""A card on file in Chromium, through the demo: the clinic turns saved cards on, the patient saves a card as they
join the call (agreeing to the policy shown), the clinic charges its no-show fee from the payment centre, and the
patient's receipt arrives citing the policy they agreed to."""

from __future__ import annotations

import pytest
from playwright.async_api import BrowserContext, Page, expect

from sandbox.demo import RunningDemo
from tests.accessibility import assert_accessible
from tests.browser_support import fill_card, save_screenshot, script_errors
from tests.e2e.test_in_call_payment import link_stripe, panes
from tests.saved_cards.conftest import POLICY

pytestmark = pytest.mark.browser
SLOW_MS = 20_000


async def test_save_a_card_at_join_then_the_clinic_charges_a_no_show_fee(
    demo: RunningDemo, context: BrowserContext, page: Page, page_errors: list[str]
) -> None:
    await page.goto(f"{demo.addresses.app}/")
    await link_stripe(demo, context, page)
    async with context.expect_page() as opened:
        await page.get_by_test_id("host-clinic-config").click()
    admin = await opened.value
    # The page has its settings from the server (the form is filled in) before anyone types in it.
    await expect(admin.locator("#confirm_above")).not_to_have_value("", timeout=SLOW_MS)
    # Configure > Client Payments: saved cards on, with the policy and the no-show fee.
    await admin.get_by_test_id("saved-cards-enabled").check()
    await admin.get_by_test_id("saved-card-policy").fill(POLICY)
    await admin.get_by_test_id("no-show-fee").fill("50.00")
    await admin.get_by_test_id("save-settings").click()
    await expect(admin.locator("#announcer")).to_contain_text("Settings saved.")
    await expect(admin.locator("#no_show_fee-display")).to_have_text("Charged as A$50.00")
    await save_screenshot(admin, "saved-cards-01-settings")

    # The next call: the patient is asked, as they join, to save a card, and shown the policy as written.
    await page.goto(f"{demo.addresses.app}/?call=call-7")
    _clinician, patient = panes(page)
    ask = patient.get_by_test_id("save-card")
    await expect(ask).to_be_visible(timeout=SLOW_MS)
    await expect(patient.get_by_test_id("save-card-policy")).to_have_text(POLICY)
    await expect(ask).to_contain_text("Save a card for Harbour Physio?")
    await save_screenshot(page, "saved-cards-02-asked-at-join")
    widget = next(frame for frame in page.frames if "/widget/patient" in frame.url)
    await assert_accessible(widget)
    # The platform gave the patient's email with the launch: it is filled in.
    await expect(patient.get_by_test_id("save-card-email")).to_have_value("sam.patient@example.com")
    await patient.get_by_test_id("save-card-agree").click()
    await fill_card(patient.get_by_test_id("save-card-element"), "4242 4242 4242 4242")
    await expect(patient.get_by_test_id("save-card-agree")).to_have_text("Save card")
    await patient.get_by_test_id("save-card-agree").click()
    saved = patient.get_by_test_id("saved-card")
    await expect(saved).to_contain_text("Visa ending in 4242", timeout=SLOW_MS)
    await expect(ask).to_be_hidden()
    await expect(patient.locator("#pw-status")).to_contain_text("Your card is saved for Harbour Physio.")
    await save_screenshot(page, "saved-cards-03-saved")
    await assert_accessible(widget)

    # The payment centre: the card with its consent; the admin charges the no-show fee for the call.
    async with context.expect_page() as opened:
        await page.get_by_test_id("host-payment-centre").click()
    centre = await opened.value
    row = centre.get_by_test_id("saved-card-row").first
    await expect(row).to_contain_text("Sam Patient", timeout=SLOW_MS)
    await expect(row).to_contain_text("Visa ending in 4242")
    await row.locator('[data-kind="no_show"]').click()
    dialog = centre.get_by_test_id("fee-dialog")
    await expect(dialog).to_contain_text("will be charged A$50.00")
    await expect(centre.get_by_test_id("fee-call")).to_have_value("call-7")
    await save_screenshot(centre, "saved-cards-04-confirm-fee")
    await assert_accessible(centre, include="#saved-cards")
    # The keyboard is in the dialog, on its Charge button.
    await expect(centre.get_by_test_id("charge-fee-confirm")).to_be_focused()
    await centre.get_by_test_id("charge-fee-confirm").click()
    await expect(centre.get_by_test_id("fee-outcome")).to_have_text(
        "No-show fee of A$50.00 charged to Visa ending in 4242.", timeout=SLOW_MS
    )
    await expect(dialog).to_be_hidden()
    await expect(centre.get_by_test_id("payment-row").first).to_contain_text("No-show fee", timeout=SLOW_MS)
    await save_screenshot(centre, "saved-cards-05-fee-charged")

    # The patient's receipt email cites the policy they agreed to, and when.
    messages = await demo.mailbox.wait_for(1, within=30)
    receipt = next(m for m in messages if "receipt" in m.subject.lower())
    assert receipt.recipients == ("sam.patient@example.com",)
    assert "A$50.00" in receipt.subject
    text = receipt.body("plain") or ""
    assert "Charged to the card you saved with Harbour Physio, under the policy you agreed to on" in text
    assert POLICY in text and "No-show fee" in text

    # Later, the patient removes the card from the widget.
    await patient.get_by_test_id("saved-card-remove").click()
    await patient.get_by_test_id("saved-card-remove-confirm").click()
    await expect(saved).to_be_hidden(timeout=SLOW_MS)
    await expect(patient.locator("#pw-status")).to_contain_text("Your card was removed.")
    assert script_errors(page_errors) == []


async def test_not_now_by_keyboard_and_the_call_goes_on(
    demo: RunningDemo, context: BrowserContext, page: Page, page_errors: list[str]
) -> None:
    await page.goto(f"{demo.addresses.app}/")
    await link_stripe(demo, context, page)
    async with context.expect_page() as opened:
        await page.get_by_test_id("host-clinic-config").click()
    admin = await opened.value
    # The page has its settings from the server (the form is filled in) before anyone types in it.
    await expect(admin.locator("#confirm_above")).not_to_have_value("", timeout=SLOW_MS)
    await admin.get_by_test_id("saved-cards-enabled").check()
    await admin.get_by_test_id("save-settings").click()
    # On without a policy: said beside the field, nothing saved.
    await expect(admin.locator("#saved_card_policy-error")).to_contain_text("Write the policy patients agree to")
    await expect(admin.get_by_test_id("saved-card-policy")).to_be_focused()
    await admin.get_by_test_id("saved-card-policy").fill(POLICY)
    await admin.get_by_test_id("save-settings").click()
    await expect(admin.locator("#announcer")).to_contain_text("Settings saved.")

    await page.goto(f"{demo.addresses.app}/?call=call-8")
    clinician, patient = panes(page)
    await expect(patient.get_by_test_id("save-card")).to_be_visible(timeout=SLOW_MS)
    # Keyboard only: Tab from the email field reaches Agree, then Not now; Enter presses it.
    await patient.get_by_test_id("save-card-email").focus()
    await page.keyboard.press("Tab")
    await expect(patient.get_by_test_id("save-card-agree")).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(patient.get_by_test_id("save-card-not-now")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(patient.get_by_test_id("save-card")).to_be_hidden()
    await expect(patient.locator("#pw-status")).to_contain_text("You won't be asked again in this call.")
    # The call goes on: a request is paid as ever.
    await expect(clinician.get_by_test_id("request-submit")).to_be_enabled(timeout=SLOW_MS)
    await clinician.get_by_test_id("request-amount").fill("80.00")
    await clinician.get_by_test_id("request-description").fill("Consultation")
    await clinician.get_by_test_id("request-submit").click()
    await patient.get_by_test_id("pay-now").click()
    await patient.get_by_test_id("receipt-email").fill("sam@example.com")
    await fill_card(patient.get_by_test_id("payment-element"), "4242 4242 4242 4242")
    await patient.get_by_test_id("pay-submit").click()
    await expect(patient.get_by_test_id("payment-success")).to_contain_text("Payment successful", timeout=SLOW_MS)
    # Reopened in the same call, the widget doesn't ask again.
    await page.reload()
    _, patient = panes(page)
    await expect(patient.locator("#pw-requests")).to_contain_text("A$80.00", timeout=SLOW_MS)
    await expect(patient.get_by_test_id("save-card")).to_be_hidden()
    assert script_errors(page_errors) == []
