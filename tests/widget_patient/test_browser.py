"""The patient pays in Chromium: requests arrive live, Pay now, email, card in the sandbox's Payment Element,
confirmation with the receipt; declines, 3-D Secure, double clicks and reloads."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from playwright.async_api import Page, WebSocketRoute, expect

from tests.accessibility import assert_accessible
from tests.browser_support import complete_three_d_secure, fill_card, payment_frame, save_screenshot, script_errors
from tests.conftest import launch_token
from tests.support.payflow import PayStack, SocketUser

pytestmark = pytest.mark.browser
# Socket.IO retries with a growing, jittered delay (up to 5 s); on a loaded machine coming back can take a while.
RECONNECT_MS = 30_000


async def open_patient(stack: PayStack, page: Page, **claims: Any) -> None:
    launch = launch_token(**{"role": "patient", "sub": "patient-1", "name": None, **claims})
    await page.goto(f"{stack.url}/widget/patient?launch={launch}")
    assert "launch=" not in page.url


async def clinician_socket(stack: PayStack) -> SocketUser:
    return await stack.socket(await stack.clinician())


async def requests_in_db(stack: PayStack) -> list[Any]:
    from sqlalchemy import select

    from addon.appkeys import DB
    from addon.models import PaymentRequest

    async with stack.app[DB]() as db:
        return list((await db.execute(select(PaymentRequest))).scalars())


async def test_a_patient_pays_with_4242_and_gets_a_confirmation_and_receipt(
    connected: PayStack, page: Page, page_errors: list[str]
) -> None:
    clinician = await clinician_socket(connected)
    await open_patient(connected, page)
    await expect(page.locator("#pw-empty")).to_contain_text("Nothing to pay right now")
    await assert_accessible(page)

    await connected.request_payment(clinician, amount="80.00", description="Consultation, 20 minutes")
    pay_now = page.get_by_test_id("pay-now")
    await expect(pay_now).to_be_visible()
    await expect(page.locator(".pw-request")).to_contain_text("A$80.00")
    await expect(page.locator(".pw-request")).to_contain_text("Consultation, 20 minutes")
    await save_screenshot(page, "patient-1-request-arrives")
    await assert_accessible(page)

    await pay_now.click()
    email = page.get_by_test_id("receipt-email")
    await expect(email).to_be_focused()
    await page.get_by_test_id("pay-submit").click()
    await expect(page.locator("#pw-email-error")).to_have_text("Enter your email address for the receipt.")
    await email.fill("pat@example")
    await page.get_by_test_id("pay-submit").click()
    await expect(page.locator("#pw-email-error")).to_have_text("Enter an email address like name@example.com.")
    await expect(email).to_have_attribute("aria-invalid", "true")
    await email.fill("pat@example.com")
    await fill_card(page.get_by_test_id("payment-element"), "4242 4242 4242 4242")
    await save_screenshot(page, "patient-2-card-entered")
    await assert_accessible(page)
    await page.get_by_test_id("pay-submit").click()

    success = page.get_by_test_id("payment-success")
    await expect(success).to_be_visible()
    await expect(success).to_contain_text("Payment successful")
    await expect(success).to_contain_text("A$80.00")
    await expect(success).to_contain_text("Consultation, 20 minutes")
    await expect(success).to_contain_text("Harbour Physio")
    await expect(success).to_contain_text("Visa ending in 4242")
    await expect(success).to_contain_text("A receipt is on its way to pat@example.com.")
    await expect(page.locator("#pw-success-title")).to_be_focused()
    (paid,) = await requests_in_db(connected)
    assert paid.status == "paid" and paid.receipt_number
    await expect(page.locator("#pw-success-receipt")).to_have_text(paid.receipt_number)
    # Day, month, year, as the receipt writes it ("22 November 2026"), whatever the browser's own default.
    await expect(page.locator("#pw-success-date")).to_have_text(re.compile(r"^\d{1,2} [A-Z][a-z]+ \d{4}\b"))
    await save_screenshot(page, "patient-3-payment-success")
    await assert_accessible(page)

    async with page.expect_download() as download_info:
        await page.get_by_test_id("download-receipt").click()
    download = await download_info.value
    assert download.suggested_filename.endswith(".pdf")
    path = await download.path()
    assert path is not None and path.read_bytes().startswith(b"%PDF-")

    await clinician.wait_count("payment_received", 1)
    assert script_errors(page_errors) == []


async def test_a_declined_card_says_so_plainly_and_another_card_pays(
    connected: PayStack, page: Page, page_errors: list[str]
) -> None:
    clinician = await clinician_socket(connected)
    await open_patient(connected, page)
    await connected.request_payment(clinician, amount="80.00", description="Consultation")
    await page.get_by_test_id("pay-now").click()
    await page.get_by_test_id("receipt-email").fill("pat@example.com")
    await page.get_by_test_id("pay-submit").click()  # Continue: the card fields open and take focus
    element = page.get_by_test_id("payment-element")
    await fill_card(element, "4000 0000 0000 0002")
    await page.get_by_test_id("pay-submit").click()
    error = page.get_by_test_id("payment-error")
    await expect(error).to_have_text("Payment failed — your card was declined. Try another card.")
    await expect(page.get_by_test_id("pay-submit")).to_be_enabled()
    # Those card details won't pay: the fields are emptied for another card, and the patient is put in the number.
    card = payment_frame(element)
    for field in ("card-number", "card-expiry", "card-cvc"):
        await expect(card.get_by_test_id(field)).to_have_value("")
    await expect(card.get_by_test_id("card-number")).to_be_focused()
    await expect(page.get_by_test_id("receipt-email")).to_have_value("pat@example.com")
    await save_screenshot(page, "patient-4-declined")
    await assert_accessible(page)

    await fill_card(element, "4242 4242 4242 4242")
    await page.get_by_test_id("pay-submit").click()
    await expect(page.get_by_test_id("payment-success")).to_be_visible()
    await clinician.wait_count("payment_received", 1)
    (paid,) = await requests_in_db(connected)
    assert paid.status == "paid"
    assert script_errors(page_errors) == []


async def test_3d_secure_failed_then_completed(connected: PayStack, page: Page, page_errors: list[str]) -> None:
    clinician = await clinician_socket(connected)
    await open_patient(connected, page)
    await connected.request_payment(clinician, amount="120.50", description="Long consultation")
    await page.get_by_test_id("pay-now").click()
    await page.get_by_test_id("receipt-email").fill("pat@example.com")
    await fill_card(page.get_by_test_id("payment-element"), "4000 0025 0000 3155")
    await page.get_by_test_id("pay-submit").click()
    await save_screenshot(page, "patient-5-3ds-challenge")
    await complete_three_d_secure(page, succeed=False)
    await expect(page.get_by_test_id("payment-error")).to_have_text(
        "Payment failed — your bank couldn't confirm it was you. Try again, or try another card."
    )
    await page.get_by_test_id("pay-submit").click()
    await complete_three_d_secure(page, succeed=True)
    success = page.get_by_test_id("payment-success")
    await expect(success).to_contain_text("A$120.50")
    await save_screenshot(page, "patient-6-3ds-success")
    await clinician.wait_count("payment_received", 1)
    assert script_errors(page_errors) == []


async def test_a_double_click_pays_once(connected: PayStack, page: Page, page_errors: list[str]) -> None:
    clinician = await clinician_socket(connected)
    await open_patient(connected, page)
    await connected.request_payment(clinician, amount="80.00", description="Consultation")
    await page.get_by_test_id("pay-now").click()
    await page.get_by_test_id("receipt-email").fill("pat@example.com")
    await fill_card(page.get_by_test_id("payment-element"), "4242 4242 4242 4242")
    await page.get_by_test_id("pay-submit").dblclick()
    await expect(page.get_by_test_id("payment-success")).to_be_visible()
    await clinician.wait_count("payment_received", 1)
    await asyncio.sleep(0.5)
    assert len(clinician.of("payment_received")) == 1
    intents = await connected.stripe("GET", "/v1/payment_intents?limit=100")
    assert [i["status"] for i in intents["data"]] == ["succeeded"]
    assert script_errors(page_errors) == []


async def test_a_reload_shows_what_was_paid_and_what_is_still_open(
    connected: PayStack, page: Page, page_errors: list[str]
) -> None:
    clinician = await clinician_socket(connected)
    patient = await connected.patient()
    first = await connected.request_payment(clinician, amount="80.00", description="Consultation")
    await connected.request_payment(clinician, amount="15.00", description="Script fee")
    await connected.enable_webhooks()
    await connected.pay(first["id"], patient)
    await connected.report(first["id"], patient)

    await open_patient(connected, page, sub="patient-1")
    items = page.locator(".pw-request")
    await expect(items).to_have_count(2)
    await expect(items.filter(has_text="Consultation")).to_contain_text("Paid")
    await expect(items.filter(has_text="Script fee").get_by_test_id("pay-now")).to_be_visible()
    await items.filter(has_text="Consultation").get_by_test_id("view-payment").click()
    await expect(page.get_by_test_id("payment-success")).to_contain_text("A$80.00")
    await save_screenshot(page, "patient-7-after-reload")
    assert script_errors(page_errors) == []


async def test_a_request_canceled_mid_checkout_takes_the_patient_back(
    connected: PayStack, page: Page, page_errors: list[str]
) -> None:
    clinician = await clinician_socket(connected)
    await open_patient(connected, page)
    request = await connected.request_payment(clinician, amount="80.00", description="Consultation")
    await page.get_by_test_id("pay-now").click()
    ack = await clinician.call("cancel_payment_request", {"id": request["id"]})
    assert ack["ok"], ack
    await expect(page.locator("#pw-connection")).to_contain_text("cancelled that payment request")
    await expect(page.locator(".pw-request")).to_contain_text("Cancelled by your clinician")
    await expect(page.get_by_test_id("pay-now")).to_have_count(0)
    assert script_errors(page_errors) == []


async def test_the_whole_payment_works_from_the_keyboard(
    connected: PayStack, page: Page, page_errors: list[str]
) -> None:
    clinician = await clinician_socket(connected)
    await open_patient(connected, page)
    await connected.request_payment(clinician, amount="80.00", description="Consultation")
    pay_now = page.get_by_test_id("pay-now")
    await expect(pay_now).to_be_visible()
    for _ in range(10):  # Tab through the page as a keyboard user does, until Pay now has focus
        if await pay_now.evaluate("node => node === document.activeElement"):
            break
        await page.keyboard.press("Tab")
    await expect(pay_now).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("receipt-email")).to_be_focused()
    await page.keyboard.type("pat@example.com")
    await page.keyboard.press("Enter")  # Continue: the card fields open and take focus
    card_number = payment_frame(page.get_by_test_id("payment-element")).get_by_test_id("card-number")
    await expect(card_number).to_be_focused()
    # Like Stripe's fields, each one moves on to the next by itself once complete.
    await page.keyboard.type("4242424242424242")
    await page.keyboard.type("1234")
    await page.keyboard.type("123")
    await page.keyboard.press("Tab")
    await expect(page.get_by_test_id("pay-submit")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("payment-success")).to_be_visible()
    await expect(page.locator("#pw-success-title")).to_be_focused()
    assert script_errors(page_errors) == []


PATIENT_WORDS = "The clinic can't take card payments right now. Your clinician will tell you how to pay."


async def test_a_patient_learns_live_when_the_clinic_cant_take_card_payments(
    connected: PayStack, page: Page, page_errors: list[str]
) -> None:
    """Callpay turned off, or the Stripe account removed: no Pay now that can't work, and no staff instructions."""
    stack = connected
    clinician = await clinician_socket(stack)
    await open_patient(stack, page)
    await stack.request_payment(clinician, amount="80.00", description="Consultation")
    pay_now = page.get_by_test_id("pay-now")
    await expect(pay_now).to_be_visible()
    notice = page.get_by_test_id("payments-unavailable")
    item = page.locator(".pw-request")

    boss = await stack.session(role="org_admin", sub="boss", clinic=None, call=None)
    await stack.api("PATCH", "/api/v1/org/clinics/clinic-1", boss, json={"addon_enabled": False})
    await expect(notice).to_have_text(PATIENT_WORDS)
    await expect(pay_now).to_have_count(0)
    await expect(item).to_contain_text("Can't be paid by card right now")
    await expect(item).to_contain_text("A$80.00")
    await expect(page.locator("body")).not_to_contain_text("admin")
    await save_screenshot(page, "patient-8-payments-unavailable")
    await assert_accessible(page)

    await stack.api("PATCH", "/api/v1/org/clinics/clinic-1", boss, json={"addon_enabled": True})
    await expect(pay_now).to_be_visible()
    await expect(notice).to_be_hidden()

    # Mid-checkout, before paying: the Stripe account is removed, and the patient is taken back to the list.
    await pay_now.click()
    await expect(page.get_by_test_id("receipt-email")).to_be_focused()
    admin = await stack.session(role="team_admin", sub="admin-1", call=None)
    status, _ = await stack.api("POST", "/api/v1/clinic/stripe/disconnect", admin)
    assert status == 200
    await expect(notice).to_have_text(PATIENT_WORDS)
    await expect(page.get_by_test_id("receipt-email")).to_be_hidden()
    await expect(pay_now).to_have_count(0)
    await expect(page.locator("body")).not_to_contain_text("Configure")
    assert script_errors(page_errors) == []


async def test_continue_says_so_in_patient_words_when_payments_stopped_unheard(
    connected: PayStack, page: Page, page_errors: list[str]
) -> None:
    """If the live notice was missed (say, mid-reconnect), Continue's refusal puts the page in the same state."""
    stack = connected
    clinician = await clinician_socket(stack)
    await open_patient(stack, page)
    await stack.request_payment(clinician, amount="80.00", description="Consultation")
    await page.get_by_test_id("pay-now").click()
    from sqlalchemy import update

    from addon.appkeys import DB
    from addon.models import Clinic

    async with stack.app[DB].begin() as db:  # changed behind the page's back: no event goes out
        await db.execute(update(Clinic).values(addon_enabled=False))
    await page.get_by_test_id("receipt-email").fill("pat@example.com")
    await page.get_by_test_id("pay-submit").click()
    await expect(page.get_by_test_id("payments-unavailable")).to_have_text(PATIENT_WORDS)
    await expect(page.get_by_test_id("pay-now")).to_have_count(0)
    assert script_errors(page_errors) == []


async def test_reloading_the_frame_mid_checkout_resumes_with_the_email_typed(
    connected: PayStack, page: Page, page_errors: list[str]
) -> None:
    """The session is kept for the life of the tab (sessionStorage), never in a cookie or the address."""
    clinician = await clinician_socket(connected)
    await open_patient(connected, page)
    await connected.request_payment(clinician, amount="80.00", description="Consultation")
    await page.get_by_test_id("pay-now").click()
    await page.get_by_test_id("receipt-email").fill("pat@example.com")
    await expect(page.get_by_test_id("payment-element").locator("iframe")).to_be_visible()

    await page.reload()
    assert "launch=" not in page.url
    await expect(page.get_by_test_id("receipt-email")).to_have_value("pat@example.com")
    await expect(page.locator("#pw-checkout-title")).to_contain_text("A$80.00")
    await expect(page.locator("#clinic-name")).to_have_text("Harbour Physio")
    assert await page.title() == "Payment · Harbour Physio"
    await save_screenshot(page, "patient-9-reloaded-mid-checkout")
    await assert_accessible(page)
    assert await page.context.cookies() == []
    # The card form comes back on the same PaymentIntent, and paying works as before the reload.
    await fill_card(page.get_by_test_id("payment-element"), "4242 4242 4242 4242")
    await page.get_by_test_id("pay-submit").click()
    await expect(page.get_by_test_id("payment-success")).to_contain_text("A receipt is on its way to pat@example.com.")
    intents = await connected.stripe("GET", "/v1/payment_intents?limit=100")
    assert [i["status"] for i in intents["data"]] == ["succeeded"]
    await clinician.wait_count("payment_received", 1)
    assert script_errors(page_errors) == []


async def test_reloading_after_paying_shows_the_confirmation_again(
    connected: PayStack, page: Page, page_errors: list[str]
) -> None:
    clinician = await clinician_socket(connected)
    await open_patient(connected, page)
    await connected.request_payment(clinician, amount="80.00", description="Consultation")
    await page.get_by_test_id("pay-now").click()
    await page.get_by_test_id("receipt-email").fill("pat@example.com")
    await fill_card(page.get_by_test_id("payment-element"), "4242 4242 4242 4242")
    await page.get_by_test_id("pay-submit").click()
    success = page.get_by_test_id("payment-success")
    await expect(success).to_be_visible()

    await page.reload()
    await expect(success).to_be_visible()
    await expect(success).to_contain_text("A$80.00")
    await expect(success).to_contain_text("Visa ending in 4242")
    await expect(success).to_contain_text("A receipt is on its way to pat@example.com.")
    (paid,) = await requests_in_db(connected)
    await expect(page.locator("#pw-success-receipt")).to_have_text(paid.receipt_number)
    await save_screenshot(page, "patient-10-reloaded-after-paying")
    await assert_accessible(page)
    await page.locator("#pw-done").click()
    await expect(page.locator(".pw-request")).to_contain_text("Paid")
    assert len(clinician.of("payment_received")) == 1
    assert script_errors(page_errors) == []


async def test_a_tab_with_nothing_to_resume_says_how_to_open_the_page_and_the_launch_stays_single_use(
    connected: PayStack, page: Page, page_errors: list[str]
) -> None:
    # Opened on its own (a copied address in a new tab): nothing kept, so the page says where to open it from.
    await page.goto(f"{connected.url}/widget/patient")
    reopen = page.locator("#pw-reopen")
    await expect(reopen).to_be_visible()
    await expect(reopen).to_contain_text("Open it again from the video call.")
    await expect(page.locator("#pw-list")).to_be_hidden()
    await assert_accessible(page)

    # A launch already used is refused even in the tab that used it: a reload resumes the session, not the launch.
    launch = launch_token(role="patient", sub="patient-1", name=None)
    await page.goto(f"{connected.url}/widget/patient?launch={launch}")
    await expect(page.locator("#pw-empty")).to_contain_text("Nothing to pay right now")
    await page.goto(f"{connected.url}/widget/patient?launch={launch}")
    await expect(page.locator("body")).to_contain_text("already been used")
    assert script_errors(page_errors) == []


async def test_an_ended_session_is_not_resumed(connected: PayStack, page: Page, page_errors: list[str]) -> None:
    await open_patient(connected, page)
    await expect(page.locator("#pw-empty")).to_contain_text("Nothing to pay right now")
    # The session the tab kept has ended (here: expired): a reload doesn't try it, it says how to open the page.
    await page.evaluate(
        """() => {
          const kept = JSON.parse(sessionStorage.getItem("callpay.patient"));
          kept.session.expires_at = new Date(Date.now() - 1000).toISOString();
          sessionStorage.setItem("callpay.patient", JSON.stringify(kept));
        }"""
    )
    await page.reload()
    await expect(page.locator("#pw-reopen")).to_be_visible()
    assert script_errors(page_errors) == []


async def test_the_patient_hears_when_the_connection_drops_and_when_it_is_back(
    connected: PayStack, page: Page, page_errors: list[str]
) -> None:
    clinician = await clinician_socket(connected)
    await open_patient(connected, page)
    await expect(page.locator("#pw-empty")).to_contain_text("Nothing to pay right now")
    await page.context.set_offline(True)
    await expect(page.locator("#pw-connection")).to_have_text("Connection lost. Reconnecting…")
    await connected.request_payment(clinician, amount="80.00", description="Consultation")  # sent meanwhile
    await page.context.set_offline(False)
    await expect(page.locator("#pw-status")).to_have_text("Connected again.", timeout=RECONNECT_MS)
    await expect(page.locator("#pw-connection")).to_be_hidden()
    await expect(page.get_by_test_id("pay-now")).to_be_visible()  # the list the server sent on reconnecting
    assert script_errors(page_errors) == []


async def test_a_request_announced_before_the_connect_list_arrives_is_kept(
    connected: PayStack, page: Page, page_errors: list[str]
) -> None:
    """The list sent on connecting was read as the connection opened; a request announced meanwhile can reach the
    page first. Here the first list is held back until the request's own event has arrived: it must not erase it."""
    released: list[bool] = []
    held: list[str | bytes] = []

    def intercept(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            if not released and isinstance(message, str) and message.startswith('42["payment_requests"'):
                held.append(message)
                return
            ws.send(message)
            if isinstance(message, str) and message.startswith('42["payment_request",'):
                released.append(True)
                for stale in held:
                    ws.send(stale)

        server.on_message(from_server)

    await page.route_web_socket(re.compile(r"/socket\.io/"), intercept)
    clinician = await clinician_socket(connected)
    await open_patient(connected, page)
    for _ in range(100):
        if held:
            break
        await asyncio.sleep(0.05)
    assert held, "the page's socket never got its list"
    await connected.request_payment(clinician, amount="80.00", description="Consultation")
    await expect(page.get_by_test_id("pay-now")).to_be_visible()
    assert released
    await page.wait_for_timeout(300)  # the stale list has been delivered after the event
    await expect(page.get_by_test_id("pay-now")).to_be_visible()
    await expect(page.locator("#pw-empty")).to_be_hidden()
    assert script_errors(page_errors) == []
