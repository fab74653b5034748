"""The payment centre in Chromium, through the demo as a clinic meets it: a payment in the call, then the clinic
admin opens Payments from the platform, filters, exports, refunds half; the patient's refund email arrives in the
outbox and the clinician's list in the call shows the refund."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, expect

from sandbox.demo import RunningDemo
from tests.accessibility import assert_accessible
from tests.browser_support import fill_card, save_screenshot, script_errors
from tests.e2e.test_in_call_payment import SLOW_MS, link_stripe, panes, request_payment
from tests.receipts.test_claimable import read_pdf

pytestmark = pytest.mark.browser


async def test_pay_then_filter_export_and_refund_half_from_the_payment_centre(
    demo: RunningDemo, context: BrowserContext, page: Page, page_errors: list[str]
) -> None:
    await page.goto(f"{demo.addresses.app}/")
    await link_stripe(demo, context, page)
    clinician, patient = panes(page)

    # Two requests in the call: one paid, one left unpaid.
    await request_payment(clinician, "80.00", "Consultation, 20 minutes")
    await patient.get_by_test_id("pay-now").click()
    await patient.get_by_test_id("receipt-email").fill("sam@example.com")
    await fill_card(patient.get_by_test_id("payment-element"), "4242 4242 4242 4242")
    await patient.get_by_test_id("pay-submit").click()
    await expect(patient.get_by_test_id("payment-success")).to_be_visible(timeout=SLOW_MS)
    await expect(clinician.get_by_test_id("payment-received")).to_have_count(1, timeout=SLOW_MS)
    (receipt_mail,) = await demo.mailbox.wait_for(1, within=20)
    await patient.locator("#pw-done").click()
    await request_payment(clinician, "35.00", "Script fee")
    await expect(clinician.get_by_test_id("request-list")).to_contain_text("A$35.00")

    # The clinic admin opens Payments from the platform.
    async with context.expect_page() as opened:
        await page.get_by_test_id("host-payment-centre").click()
    centre = await opened.value
    await centre.wait_for_load_state()
    table = centre.get_by_test_id("payments-table")
    rows = table.get_by_test_id("payment-row")
    await expect(rows).to_have_count(2)
    await expect(centre.locator("#centre-scope")).to_contain_text("Harbour Physio")
    totals = centre.get_by_test_id("payments-totals")
    await expect(totals).to_contain_text("A$80.00")
    await assert_accessible(centre)
    await save_screenshot(centre, "centre-01-payments")

    # Filter: paid ones, by text.
    await centre.get_by_test_id("filter-status").select_option(label="Paid (including refunds)")
    await centre.get_by_test_id("filter-q").fill("consultation")
    await centre.get_by_test_id("filter-apply").click()
    await expect(rows).to_have_count(1)
    row = rows.first
    await expect(row).to_contain_text("Consultation, 20 minutes")
    await expect(row).to_contain_text("Sam Patient")  # the name the platform gave the patient
    await expect(row).to_contain_text("000001")
    await save_screenshot(centre, "centre-02-filtered")

    # Export what is shown.
    async with centre.expect_download() as downloading:
        await centre.get_by_test_id("payments-export").click()
    download = await downloading.value
    raw = await asyncio.to_thread(Path(await download.path()).read_bytes)
    assert raw.startswith(b"\xef\xbb\xbf")
    (exported,) = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert (exported["amount"], exported["currency"], exported["status"]) == ("80.00", "aud", "paid")
    assert exported["receipt_number"] == "000001" and exported["patient_email"] == "sam@example.com"

    # Refund half, from the payment's details.
    await row.get_by_role("button", name="Details").click()
    detail = centre.locator("#detail")
    await expect(detail).to_be_visible()
    await expect(centre.locator("#timeline")).to_contain_text("Paid with Visa ending in 4242")
    await centre.get_by_test_id("refund-open").click()
    await expect(centre.get_by_test_id("refund-amount")).to_have_value("80.00")
    await centre.get_by_test_id("refund-amount").fill("40.00")
    await centre.get_by_test_id("refund-reason").fill("Shorter session than booked")
    await centre.get_by_test_id("refund-submit").click()
    await expect(centre.locator("#detail-facts")).to_contain_text("A$40.00 · Refunded", timeout=SLOW_MS)
    await expect(centre.locator("#detail-facts")).to_contain_text("Left to refund")
    await expect(row).to_contain_text("Partly refunded")
    await expect(totals).to_contain_text("A$40.00")
    await assert_accessible(centre)
    await save_screenshot(centre, "centre-03-refunded-half")

    # More than is left is refused, saying how much is left.
    await centre.get_by_test_id("refund-open").click()
    await centre.get_by_test_id("refund-amount").fill("50.00")
    await centre.get_by_test_id("refund-submit").click()
    await expect(centre.get_by_test_id("refund-error")).to_contain_text("A$40.00 of A$80.00 is left")

    # The patient's refund email, with the refund receipt.
    messages = await demo.mailbox.wait_for(2, within=20)
    refund_mail = next(m for m in messages if m is not receipt_mail and m.subject != receipt_mail.subject)
    assert refund_mail.subject == "Your refund from Harbour Physio — A$40.00"
    assert refund_mail.to == "sam@example.com"
    (attachment,) = refund_mail.attachments
    text = read_pdf(attachment.data)
    assert "Refund receipt" in text and "Shorter session than booked" in text and "Sam Patient" in text
    assert "Provider number 2426351K" in text  # Dr Ada's own, from her launch

    # The clinician's list in the call shows it, live.
    paid_row = clinician.locator(".cp-request", has_text="Consultation, 20 minutes")
    await expect(paid_row).to_contain_text("Partly refunded", timeout=SLOW_MS)
    await save_screenshot(page, "centre-04-clinician-sees-refund")
    assert script_errors(page_errors) == []
