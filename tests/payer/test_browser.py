"""Who pays, in Chromium through the demo, with two patient windows in one call: the clinician's picker follows
who joins and leaves, a request sent to the carer shows Pay now only to them, the clinician sees them paying and
is asked twice before cancelling under them, and a cancel during 3-D Secure leaves the patient uncharged."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.async_api import BrowserContext, Frame, FrameLocator, Page, expect

from sandbox.demo import RunningDemo
from tests.accessibility import assert_accessible
from tests.browser_support import (
    complete_three_d_secure,
    fill_card,
    save_screenshot,
    script_errors,
    three_d_secure_frame,
)
from tests.e2e.test_in_call_payment import link_stripe, panes, request_payment

pytestmark = pytest.mark.browser
SLOW_MS = 20_000


def frame_of(page: Page, path: str) -> Frame:
    """A pane's frame (axe runs in frames, not frame locators)."""
    return next(frame for frame in page.frames if urlsplit(frame.url).path == path)


def item(root: FrameLocator | Page, testid: str, text: str):  # type: ignore[no-untyped-def]
    return root.get_by_test_id(testid).locator("li", has_text=text)


async def test_two_patient_windows_one_payer_and_a_cancel_while_paying(
    demo: RunningDemo, context: BrowserContext, page: Page, page_errors: list[str]
) -> None:
    await page.goto(f"{demo.addresses.app}/")
    await link_stripe(demo, context, page)
    clinician, patient = panes(page)
    picker = clinician.get_by_test_id("request-payer")
    await expect(picker.locator("option")).to_have_text(["Anyone in the call", "Sam Patient"], timeout=SLOW_MS)

    # The carer joins from their own call window: the clinician's picker hears it.
    async with context.expect_page() as opened:
        await page.get_by_test_id("host-add-carer").click()
    carer = await opened.value
    carer_errors: list[str] = []
    carer.on("pageerror", lambda error: carer_errors.append(str(error)))
    await expect(picker.locator("option")).to_have_text(
        ["Anyone in the call", "Sam Patient", "Alex Lee"], timeout=SLOW_MS
    )
    await expect(clinician.locator("#announcer")).to_have_text("Alex Lee joined the call.")

    await picker.select_option(label="Alex Lee")
    await request_payment(clinician, "80.00", "Consultation")
    sent = item(clinician, "request-list", "Consultation")
    await expect(sent).to_contain_text("For Alex Lee to pay")
    await expect(picker).to_have_value("")  # the next request goes to anyone again

    # Sam sees plainly that it is with Alex, and no Pay now; Alex has Pay now.
    sams = patient.locator(".pw-request", has_text="Consultation")
    await expect(sams).to_contain_text("Sent to Alex Lee to pay")
    await expect(sams.get_by_test_id("pay-now")).to_have_count(0)
    await save_screenshot(page, "payer-01-sent-to-the-carer")
    await assert_accessible(frame_of(page, "/widget/patient"))
    await carer.get_by_test_id("pay-now").click()
    await expect(sent.get_by_test_id("request-paying")).to_have_text("Paying now", timeout=SLOW_MS)
    await expect(sent).to_contain_text("Alex Lee is paying now: checkout is open.")
    await expect(sams).to_contain_text("Alex Lee is paying this now.")

    # Cancel asks again while Alex is paying; the clinician keeps it.
    await sent.get_by_role("button", name="Cancel request for A$80.00, Consultation").click()
    await expect(sent.locator(".cp-confirm-question")).to_have_text("Alex Lee is paying right now. Cancel anyway?")
    await expect(sent).to_contain_text("Their card won't be charged.")
    await save_screenshot(page, "payer-02-asked-again-while-paying")
    await assert_accessible(frame_of(page, "/widget/clinician"))
    await assert_accessible(carer)
    await sent.get_by_role("button", name="Keep it: don't cancel the request for A$80.00, Consultation").click()

    await carer.get_by_test_id("receipt-email").fill("alex@example.com")
    await fill_card(carer.get_by_test_id("payment-element"), "4242 4242 4242 4242")
    await carer.get_by_test_id("pay-submit").click()
    await expect(carer.get_by_test_id("payment-success")).to_contain_text("Payment successful", timeout=SLOW_MS)
    await expect(clinician.get_by_test_id("payment-received")).to_contain_text("A$80.00", timeout=SLOW_MS)
    await expect(sent.get_by_test_id("request-paying")).to_have_count(0)
    await expect(sams).to_contain_text("Paid")
    (receipt,) = await demo.mailbox.wait_for(1, within=30)
    assert receipt.recipients == ("alex@example.com",)

    # A request for anyone: Sam pays, their bank asks for 3-D Secure, and the clinician cancels anyway meanwhile.
    await clinician.get_by_test_id("payment-received").get_by_role("button", name="Dismiss").click()
    await request_payment(clinician, "45.00", "Report")
    report = item(clinician, "request-list", "Report")
    await patient.locator(".pw-request", has_text="Report").get_by_test_id("pay-now").click()
    await patient.get_by_test_id("receipt-email").fill("sam@example.com")
    await fill_card(patient.get_by_test_id("payment-element"), "4000 0025 0000 3155")
    await patient.get_by_test_id("pay-submit").click()
    await expect(three_d_secure_frame(patient).get_by_test_id("3ds-complete")).to_be_visible(timeout=SLOW_MS)
    await expect(report).to_contain_text("Sam Patient is paying now", timeout=SLOW_MS)
    await report.get_by_role("button", name="Cancel request for A$45.00, Report").click()
    await expect(report.locator(".cp-confirm-question")).to_have_text("Sam Patient is paying right now. Cancel anyway?")
    await report.get_by_role("button", name="Yes, cancel anyway the request for A$45.00, Report").click()
    await expect(report).to_contain_text("Cancelled", timeout=SLOW_MS)
    await expect(patient.locator("#pw-connection")).to_have_text(
        "Your clinician cancelled this payment request while you were paying. Your card hasn't been charged.",
        timeout=SLOW_MS,
    )
    await save_screenshot(page, "payer-03-cancelled-during-3d-secure")
    # The bank's check finishing now charges nothing: the payment was cancelled at Stripe first.
    await complete_three_d_secure(patient)
    await expect(patient.locator(".pw-request", has_text="Report")).to_contain_text("Cancelled by your clinician")
    charges = await context.request.get(f"{demo.addresses.app}/")  # the simulator still answers
    assert charges.ok

    # Alex closes their window: the picker drops them.
    await carer.close()
    await expect(picker.locator("option")).to_have_text(["Anyone in the call", "Sam Patient"], timeout=SLOW_MS)
    assert len(demo.mailbox.messages) == 1
    assert script_errors(page_errors) == [] and carer_errors == []
