"""An instalment plan in Chromium, through the demo: the clinic sets its plan minimum, the patient saves a card at
join, the clinician splits a request into three, the patient pays the first, the simulator's Next instalment date
jumps the demo's clock and the second is charged to the saved card; the payment centre shows the schedule, and the
plan is cancelled."""

from __future__ import annotations

import pytest
from playwright.async_api import BrowserContext, Page, expect

from sandbox.demo import RunningDemo
from tests.accessibility import assert_accessible
from tests.browser_support import fill_card, save_screenshot, script_errors
from tests.e2e.test_in_call_payment import link_stripe, panes, request_payment
from tests.saved_cards.conftest import POLICY

pytestmark = pytest.mark.browser
SLOW_MS = 20_000


async def test_split_pay_the_first_jump_to_the_second_date_then_cancel(
    demo: RunningDemo, context: BrowserContext, page: Page, page_errors: list[str]
) -> None:
    await page.goto(f"{demo.addresses.app}/")
    await link_stripe(demo, context, page)
    async with context.expect_page() as opened:
        await page.get_by_test_id("host-clinic-config").click()
    admin = await opened.value
    await expect(admin.locator("#confirm_above")).not_to_have_value("", timeout=SLOW_MS)
    await admin.get_by_test_id("saved-cards-enabled").check()
    await admin.get_by_test_id("saved-card-policy").fill(POLICY)
    await admin.get_by_test_id("plan-min-amount").fill("200.00")
    await admin.get_by_test_id("save-settings").click()
    await expect(admin.locator("#announcer")).to_contain_text("Settings saved.")
    await expect(admin.locator("#plan_min_amount-display")).to_have_text("Requests over A$200.00 can be split")
    await admin.close()

    # A new call: the patient saves a card as they join.
    await page.goto(f"{demo.addresses.app}/?call=call-7")
    clinician, patient = panes(page)
    await expect(patient.get_by_test_id("save-card")).to_be_visible(timeout=SLOW_MS)
    await patient.get_by_test_id("save-card-agree").click()
    await fill_card(patient.get_by_test_id("save-card-element"), "4242 4242 4242 4242")
    await patient.get_by_test_id("save-card-agree").click()
    await expect(patient.get_by_test_id("saved-card")).to_contain_text("Visa ending in 4242", timeout=SLOW_MS)

    # The clinician asks for A$300.00 and splits it into three, monthly.
    await request_payment(clinician, "300.00", "Treatment course")
    offer = clinician.get_by_test_id("plan-offer")
    await expect(offer).to_be_visible(timeout=SLOW_MS)
    await offer.click()
    await expect(clinician.get_by_test_id("plan-count")).to_be_focused()
    await clinician.get_by_test_id("plan-count").select_option("3")
    await clinician.get_by_test_id("plan-interval").select_option("monthly")
    await save_screenshot(page, "plans-01-split")
    await clinician.get_by_test_id("plan-submit").click()
    await expect(clinician.locator("#announcer")).to_contain_text(
        "Plan made: A$300.00 in 3 instalments", timeout=SLOW_MS
    )
    clinician_frame = next(frame for frame in page.frames if "/widget/clinician" in frame.url)
    await assert_accessible(clinician_frame)

    # The patient sees instalment 1 of 3 and pays it now.
    await expect(patient.locator("#pw-requests")).to_contain_text("instalment 1 of 3", timeout=SLOW_MS)
    await expect(patient.locator("#pw-requests")).to_contain_text("A$100.00")
    # The request it replaced says it was split, on both sides, never "Cancelled by your clinician".
    await expect(patient.locator("#pw-requests")).to_contain_text("Split into instalments — nothing charged")
    await expect(patient.locator("#pw-requests")).not_to_contain_text("Cancelled by your clinician")
    await expect(clinician.locator(".cp-request", has_text="A$300.00")).to_contain_text("Split into instalments")
    await patient.get_by_test_id("pay-now").click()
    await patient.get_by_test_id("receipt-email").fill("sam.patient@example.com")
    await fill_card(patient.get_by_test_id("payment-element"), "4242 4242 4242 4242")
    await patient.get_by_test_id("pay-submit").click()
    await expect(patient.get_by_test_id("payment-success")).to_contain_text("Payment successful", timeout=SLOW_MS)

    # The simulator jumps the demo's clock to the second date: it is charged to the saved card.
    await page.get_by_test_id("host-next-instalment").click()
    await expect(page.get_by_test_id("host-clock")).to_contain_text("1 charged to the saved card", timeout=SLOW_MS)
    await save_screenshot(page, "plans-02-next-date")
    # The plan's schedule email, then a receipt for each paid instalment (the second may still be on its way).
    messages = await demo.mailbox.wait_for(3, within=30)
    subjects = [m.subject for m in messages]
    assert sum("receipt" in s.lower() for s in subjects) == 2, subjects
    assert sum("instalment plan" in s.lower() for s in subjects) == 1, subjects

    # The payment centre: the plan, its schedule, a receipt for each paid instalment, and Cancel plan.
    async with context.expect_page() as opened:
        await page.get_by_test_id("host-payment-centre").click()
    centre = await opened.value
    row = centre.get_by_test_id("plan-row").first
    await expect(row).to_contain_text("Treatment course", timeout=SLOW_MS)
    await expect(row).to_contain_text("A$200.00")  # paid
    await expect(row).to_contain_text("A$100.00")  # outstanding
    await row.get_by_test_id("plan-open").click()
    detail = centre.get_by_test_id("plan-detail")
    await expect(detail).to_be_focused()
    schedule = centre.get_by_test_id("instalment-row")
    await expect(schedule).to_have_count(3)
    await expect(schedule.nth(0)).to_contain_text("Paid")
    await expect(schedule.nth(1)).to_contain_text("Paid")
    await expect(schedule.nth(2)).to_contain_text("Scheduled")
    await expect(schedule.nth(1).get_by_role("button", name="Receipt for instalment 2")).to_be_visible()
    await save_screenshot(centre, "plans-03-schedule")
    await assert_accessible(centre, include="#plans")
    await centre.get_by_test_id("plan-cancel").click()
    await centre.get_by_test_id("plan-cancel-confirm").click()
    await expect(centre.get_by_test_id("plan-outcome")).to_contain_text("Plan cancelled", timeout=SLOW_MS)
    await expect(schedule.nth(2)).to_contain_text("Cancelled")
    await expect(centre.get_by_test_id("plan-cancel")).to_be_hidden()
    # Each instalment is its own payment in the list.
    await expect(centre.get_by_test_id("payments-table")).to_contain_text("instalment 2 of 3", timeout=SLOW_MS)
    second = centre.get_by_test_id("payment-row").filter(has_text="instalment 2 of 3")
    await second.get_by_role("button", name="Details").click()
    await expect(centre.get_by_test_id("detail-plan")).to_contain_text("Instalment 2 of 3 of a plan for A$300.00")
    assert script_errors(page_errors) == []
