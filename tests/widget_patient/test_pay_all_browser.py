"""Pay all, in Chromium through the demo: the patient's Pay all button follows the requests live, one card payment
pays them, a request cancelled while the card form is open is left out (the patient is told the new total), and
the clinician gets one pop-up listing what was paid; one receipt lists each request."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.async_api import BrowserContext, Frame, Page, expect
from sqlalchemy import select

from addon.appkeys import DB
from addon.models import OutboxEmail, PayAll, PaymentRequest
from sandbox.demo import RunningDemo
from tests.accessibility import assert_accessible
from tests.browser_support import fill_card, payment_frame, save_screenshot, script_errors
from tests.e2e.test_in_call_payment import link_stripe, panes, request_payment
from tests.support.payflow import PayStack
from tests.widget_patient.test_browser import open_patient

pytestmark = pytest.mark.browser
SLOW_MS = 20_000


def frame_of(page: Page, path: str) -> Frame:
    return next(frame for frame in page.frames if urlsplit(frame.url).path == path)


async def test_pay_all_follows_the_call_leaves_out_a_cancelled_one_and_pays_once(
    demo: RunningDemo, context: BrowserContext, page: Page, page_errors: list[str]
) -> None:
    await page.goto(f"{demo.addresses.app}/")
    await link_stripe(demo, context, page)
    clinician, patient = panes(page)
    pay_all = patient.get_by_test_id("pay-all")

    # One request: Pay now only. A second: Pay all for both, beside their Pay now buttons.
    await request_payment(clinician, "80.00", "Consultation")
    await expect(patient.get_by_test_id("pay-now")).to_have_count(1, timeout=SLOW_MS)
    await expect(pay_all).to_be_hidden()
    await request_payment(clinician, "40.00", "Script")
    await expect(pay_all).to_have_text("Pay all (A$120.00)", timeout=SLOW_MS)
    await expect(patient.locator("#pw-payall-text")).to_have_text(
        "2 payments are waiting. You can pay them together, with one card payment."
    )
    # A third arrives: the button's total follows.
    await request_payment(clinician, "25.50", "Report")
    await expect(pay_all).to_have_text("Pay all (A$145.50)", timeout=SLOW_MS)
    await expect(patient.get_by_test_id("pay-now")).to_have_count(3)
    await save_screenshot(page, "payall-01-three-to-pay")
    await assert_accessible(frame_of(page, "/widget/patient"))

    await pay_all.click()
    await expect(patient.locator("#pw-checkout-title")).to_have_text("Pay A$145.50")
    items = patient.get_by_test_id("pay-all-items").locator("li")
    await expect(items).to_have_text(["Consultation A$80.00", "Script A$40.00", "Report A$25.50"])
    await patient.get_by_test_id("receipt-email").fill("sam@example.com")
    await fill_card(patient.get_by_test_id("payment-element"), "4242 4242 4242 4242")
    await expect(patient.get_by_test_id("pay-submit")).to_have_text("Pay A$145.50", timeout=SLOW_MS)

    # The clinician sees the patient paying each, and cancels the report anyway while the card form is open: the
    # patient is told, and the total drops.
    report = clinician.get_by_test_id("request-list").locator("li", has_text="Report")
    for what in ("Consultation", "Script", "Report"):
        row = clinician.get_by_test_id("request-list").locator("li", has_text=what)
        await expect(row).to_contain_text("Sam Patient is paying now", timeout=SLOW_MS)
    await report.get_by_role("button", name="Cancel request for A$25.50, Report").click()
    await expect(report.locator(".cp-confirm-question")).to_have_text("Sam Patient is paying right now. Cancel anyway?")
    await report.get_by_role("button", name="Yes, cancel anyway the request for A$25.50, Report").click()
    changed = patient.get_by_test_id("pay-all-changed")
    await expect(changed).to_have_text(
        "Your clinician cancelled A$25.50 for Report. You haven't been charged for it. The new total is A$120.00.",
        timeout=SLOW_MS,
    )
    await expect(patient.locator("#pw-checkout-title")).to_have_text("Pay A$120.00")
    await expect(items).to_have_text(["Consultation A$80.00", "Script A$40.00"])
    await expect(patient.get_by_test_id("pay-submit")).to_have_text("Pay A$120.00")
    await save_screenshot(page, "payall-02-one-cancelled-new-total")
    await assert_accessible(frame_of(page, "/widget/patient"))

    await patient.get_by_test_id("pay-submit").click()
    success = patient.get_by_test_id("payment-success")
    await expect(success).to_contain_text("Payment successful", timeout=SLOW_MS)
    await expect(patient.locator("#pw-success-amount")).to_have_text("A$120.00")
    await expect(patient.locator("#pw-success-for-row")).to_be_hidden()  # the list below says what it was for
    await expect(patient.get_by_test_id("payment-success-items").locator("li")).to_have_text(
        ["Consultation A$80.00", "Script A$40.00"]
    )
    await expect(patient.locator("#pw-success-receipt")).not_to_have_text("On its way", timeout=SLOW_MS)

    # The clinician: one pop-up for the payment, listing both requests it paid.
    received = clinician.get_by_test_id("payment-received")
    await expect(received.get_by_test_id("payment-received-items").locator("li")).to_have_text(
        ["A$80.00 Consultation", "A$40.00 Script"], timeout=SLOW_MS
    )
    await expect(received).to_have_count(1)
    await expect(received.locator("h2")).to_have_text("Payment received for 2 requests, paid together")
    await save_screenshot(page, "payall-03-paid-together")
    await assert_accessible(frame_of(page, "/widget/patient"))
    await assert_accessible(frame_of(page, "/widget/clinician"))

    # Paid once: one set, one receipt listing both; the cancelled one charged nothing.
    (receipt,) = await demo.mailbox.wait_for(1, within=30)
    assert receipt.recipients == ("sam@example.com",)
    text = receipt.body("plain") or ""
    assert "Consultation — A$80.00" in text and "Script — A$40.00" in text and "Report" not in text
    async with demo.app[DB]() as db:
        sets = (await db.scalars(select(PayAll))).all()
        statuses = {pr.description: pr.status for pr in (await db.scalars(select(PaymentRequest))).all()}
    assert [(s.status, s.amount) for s in sets] == [("paid", 12000)]
    assert statuses == {"Consultation": "paid", "Script": "paid", "Report": "canceled"}

    # Back in the list: nothing left to pay together, and each paid request has its receipt.
    await patient.locator("#pw-done").click()
    await expect(pay_all).to_be_hidden()
    await expect(patient.get_by_test_id("view-payment")).to_have_count(2)
    await expect(patient.get_by_test_id("pay-now")).to_have_count(0)
    # Either request's receipt is the one receipt of the payment, listing both.
    await patient.locator(".pw-request", has_text="Script").get_by_test_id("view-payment").click()
    await expect(patient.locator("#pw-success-amount")).to_have_text("A$120.00")
    await expect(patient.get_by_test_id("payment-success-items").locator("li")).to_have_text(
        ["Consultation A$80.00", "Script A$40.00"]
    )
    assert len(demo.mailbox.messages) == 1
    assert script_errors(page_errors) == []


async def test_with_a_carer_each_is_offered_only_their_own_and_a_cancel_before_the_card_form_is_told(
    demo: RunningDemo, context: BrowserContext, page: Page, page_errors: list[str]
) -> None:
    await page.goto(f"{demo.addresses.app}/")
    await link_stripe(demo, context, page)
    clinician, patient = panes(page)
    picker = clinician.get_by_test_id("request-payer")
    async with context.expect_page() as opened:
        await page.get_by_test_id("host-add-carer").click()
    carer = await opened.value
    carer_errors: list[str] = []
    carer.on("pageerror", lambda error: carer_errors.append(str(error)))
    await expect(picker.locator("option")).to_have_text(
        ["Anyone in the call", "Sam Patient", "Alex Lee"], timeout=SLOW_MS
    )
    await request_payment(clinician, "80.00", "Consultation")
    await expect(clinician.get_by_test_id("request-list")).to_contain_text("Consultation", timeout=SLOW_MS)
    await expect(picker).to_have_value("")  # the form is ready for the next request
    await picker.select_option(label="Alex Lee")
    await request_payment(clinician, "20.00", "Parking")
    await expect(clinician.get_by_test_id("request-list")).to_contain_text("For Alex Lee to pay", timeout=SLOW_MS)
    await expect(picker).to_have_value("")
    await request_payment(clinician, "40.00", "Script")

    # Sam may pay the two for anyone; Alex those and the one sent to them.
    await expect(patient.get_by_test_id("pay-all")).to_have_text("Pay all (A$120.00)", timeout=SLOW_MS)
    await expect(carer.get_by_test_id("pay-all")).to_have_text("Pay all (A$140.00)", timeout=SLOW_MS)
    await assert_accessible(carer)

    # Sam starts paying both; the clinician cancels the script before Sam has given an email.
    await patient.get_by_test_id("pay-all").click()
    await expect(patient.get_by_test_id("pay-all-items").locator("li")).to_have_text(
        ["Consultation A$80.00", "Script A$40.00"]
    )
    script = clinician.get_by_test_id("request-list").locator("li", has_text="Script")
    await expect(script).to_contain_text("Sam Patient is paying now", timeout=SLOW_MS)
    await script.get_by_role("button", name="Cancel request for A$40.00, Script").click()
    await script.get_by_role("button", name="Yes, cancel anyway the request for A$40.00, Script").click()
    await expect(patient.get_by_test_id("pay-all-changed")).to_have_text(
        "Your clinician cancelled A$40.00 for Script. You haven't been charged for it. The new total is A$80.00.",
        timeout=SLOW_MS,
    )
    await expect(patient.locator("#pw-checkout-title")).to_have_text("Pay A$80.00")
    await expect(patient.get_by_test_id("pay-all-items").locator("li")).to_have_text(["Consultation A$80.00"])
    await save_screenshot(page, "payall-04-cancelled-before-the-card-form")
    await assert_accessible(frame_of(page, "/widget/patient"))

    await patient.get_by_test_id("receipt-email").fill("sam@example.com")
    await fill_card(patient.get_by_test_id("payment-element"), "4242 4242 4242 4242")
    await expect(patient.get_by_test_id("pay-submit")).to_have_text("Pay A$80.00", timeout=SLOW_MS)
    await patient.get_by_test_id("pay-submit").click()
    await expect(patient.get_by_test_id("payment-success")).to_contain_text("Payment successful", timeout=SLOW_MS)
    await expect(patient.locator("#pw-success-amount")).to_have_text("A$80.00")
    await expect(clinician.get_by_test_id("payment-received")).to_contain_text("A$80.00", timeout=SLOW_MS)

    # Alex is left with their own one: Pay now, no Pay all.
    await expect(carer.get_by_test_id("pay-all")).to_be_hidden(timeout=SLOW_MS)
    await expect(carer.get_by_test_id("pay-now")).to_have_count(1)
    await expect(carer.locator(".pw-request", has_text="Parking").get_by_test_id("pay-now")).to_be_visible()
    (receipt,) = await demo.mailbox.wait_for(1, within=30)
    assert receipt.recipients == ("sam@example.com",)
    async with demo.app[DB]() as db:
        statuses = {pr.description: pr.status for pr in (await db.scalars(select(PaymentRequest))).all()}
    assert statuses == {"Consultation": "paid", "Parking": "requested", "Script": "canceled"}
    assert script_errors(page_errors) == [] and carer_errors == []


async def test_a_declined_card_for_pay_all_leaves_both_to_pay_and_another_card_pays_them_once(
    connected: PayStack, page: Page, page_errors: list[str]
) -> None:
    await page.set_viewport_size({"width": 375, "height": 740})  # a phone's call window
    doctor = await connected.socket(await connected.clinician())
    await open_patient(connected, page)
    await connected.request_payment(doctor, amount="80.00", description="Consultation")
    await connected.request_payment(doctor, amount="40.00", description="Script")
    await expect(page.get_by_test_id("pay-all")).to_have_text("Pay all (A$120.00)")
    await save_screenshot(page, "payall-05-phone")
    # By keyboard: Pay all is the first thing to press.
    await page.keyboard.press("Tab")
    await expect(page.get_by_test_id("pay-all")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("receipt-email")).to_be_focused()
    await page.get_by_test_id("receipt-email").fill("pat@example.com")
    element = page.get_by_test_id("payment-element")
    await fill_card(element, "4000 0000 0000 0002")
    await expect(page.get_by_test_id("pay-submit")).to_have_text("Pay A$120.00", timeout=SLOW_MS)
    await page.get_by_test_id("pay-submit").click()
    await expect(page.get_by_test_id("payment-error")).to_have_text(
        "Payment failed — your card was declined. Try another card.", timeout=SLOW_MS
    )
    await expect(payment_frame(element).get_by_test_id("card-number")).to_be_focused()
    await expect(page.get_by_test_id("pay-all-changed")).to_be_hidden()  # still the same two, same total
    await expect(page.get_by_test_id("pay-submit")).to_have_text("Pay A$120.00")
    await assert_accessible(page)

    await fill_card(element, "4242 4242 4242 4242")
    await page.get_by_test_id("pay-submit").click()
    await expect(page.get_by_test_id("payment-success")).to_contain_text("Payment successful", timeout=SLOW_MS)
    await expect(page.get_by_test_id("payment-success-items").locator("li")).to_have_text(
        ["Consultation A$80.00", "Script A$40.00"]
    )
    await connected.webhooks_settled()
    async with connected.app[DB]() as db:
        sets = (await db.scalars(select(PayAll))).all()
        statuses = sorted(pr.status for pr in (await db.scalars(select(PaymentRequest))).all())
        receipts = (await db.scalars(select(OutboxEmail).where(OutboxEmail.kind == "receipt"))).all()
    assert [(s.status, s.amount) for s in sets] == [("paid", 12000)]
    assert statuses == ["paid", "paid"] and len(receipts) == 1
    assert len(connected.published.of("payment_received")) == 2
    assert script_errors(page_errors) == []
