"""A clinic admin links Stripe in Chromium: launch Configure > Client Payments, Go to Stripe, authorise on the
sandbox's page, land back linked, change a setting, remove the account."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.accessibility import assert_accessible
from tests.browser_support import save_screenshot, script_errors
from tests.clinic.conftest import Stack
from tests.conftest import launch_token

pytestmark = pytest.mark.browser


async def test_an_admin_links_configures_and_removes_a_stripe_account(
    stack: Stack, page: Page, page_errors: list[str]
) -> None:
    launch = launch_token(role="team_admin", name="Grace Hopper", clinic="harbour-physio", call=None)
    await page.goto(f"{stack.url}/clinic-config?launch={launch}")
    status = page.get_by_test_id("stripe-status")
    await expect(status).to_contain_text("No Stripe account is linked")
    assert "launch=" not in page.url  # the launch leaves the address bar at once
    await save_screenshot(page, "clinic-config-1-not-linked")

    await page.get_by_test_id("go-to-stripe").click()
    authorize = page.get_by_test_id("oauth-authorize")
    await expect(authorize).to_be_visible()
    assert page.url.startswith(f"{stack.sandbox.url}/oauth/authorize")
    await page.get_by_test_id("oauth-business-name").fill("Harbour Physio")
    await save_screenshot(page, "clinic-config-2-stripe-consent")
    await authorize.click()

    await expect(status).to_contain_text("Linked to Harbour Physio. It can take payments.")
    await expect(page.get_by_test_id("flash")).to_have_text(
        "Your Stripe account Harbour Physio is linked to this clinic."
    )
    assert page.url == f"{stack.url}/clinic-config"  # the single-use code and state are out of history
    await expect(page.locator("#acct-country")).to_have_text("AU")
    await expect(page.locator("#acct-currency")).to_have_text("AUD")
    await save_screenshot(page, "clinic-config-3-linked")

    # Every field's problem, and every bad preset, shows at once (the server's verdict); the first takes the focus.
    await page.get_by_label("Preset amounts").fill("80.00, abc, -5")
    await page.get_by_label("ABN").fill("51 824 753 557")
    await page.get_by_label("Phone").fill("call me")
    await page.get_by_test_id("save-settings").click()
    await expect(page.locator("#preset_amounts-error")).to_have_text(
        "Preset amount 'abc': Enter the amount as a number, such as 80.00. "
        "Preset amount '-5': Enter an amount greater than zero."
    )
    await expect(page.locator("#receipt_abn-error")).to_contain_text("That ABN isn't valid")
    await expect(page.locator("#receipt_phone-error")).to_contain_text("digits, spaces")
    await expect(page.get_by_label("Preset amounts")).to_be_focused()
    for name in ("preset_amounts", "receipt_abn", "receipt_phone"):
        await expect(page.locator(f"#{name}")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#announcer")).to_have_text("Settings not saved: 3 fields need fixing.")
    await save_screenshot(page, "clinic-config-4a-field-errors")
    await page.get_by_label("Preset amounts").fill("80.00, 120")
    await page.get_by_label("Phone").fill("")
    await page.get_by_label("Confirm requests above").fill("80,00")
    await page.get_by_test_id("save-settings").click()
    await expect(page.locator("#preset_amounts-error")).to_have_text("")
    await expect(page.locator("#preset_amounts")).not_to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_label("Confirm requests above")).to_be_focused()
    await expect(page.locator("#confirm_above-error")).to_contain_text("write 80.00")
    await expect(page.locator("#receipt_abn-error")).to_contain_text("That ABN isn't valid")
    await expect(page.locator("#announcer")).to_have_text("Settings not saved: 2 fields need fixing.")
    await page.get_by_label("Confirm requests above").fill("A$1,000")
    await page.get_by_label("ABN").fill("51 824 753 556")
    await page.get_by_test_id("save-settings").click()
    await expect(page.locator("#announcer")).to_have_text("Settings saved.")
    await expect(page.locator("#preset_amounts-display")).to_have_text("Clinicians will see: A$80.00, A$120.00")
    await expect(page.locator("#confirm_above-display")).to_have_text("Requests above A$1,000.00 are confirmed first.")
    await expect(page.get_by_label("Confirm requests above")).to_have_value("1000.00")
    await save_screenshot(page, "clinic-config-4-settings-saved")

    await page.get_by_test_id("stripe-disconnect").click()
    confirm = page.get_by_role("button", name="Yes, remove it")
    await expect(confirm).to_be_visible()
    await save_screenshot(page, "clinic-config-5-confirm-remove")
    await confirm.click()
    await expect(status).to_have_text("No Stripe account is linked, so clinicians can't request payments.")
    # Linking again offers the same account first, and takes the focus.
    relink = page.get_by_test_id("relink-stripe-account")
    await expect(relink).to_have_text("Link Harbour Physio again")
    await expect(relink).to_be_focused()
    await save_screenshot(page, "clinic-config-6-removed")
    # The refused ABN (a 400 the page handles) and the sandbox page's missing favicon are only resource errors.
    assert script_errors(page_errors) == []


async def test_an_org_admin_turns_callpay_off_for_a_clinic(stack: Stack, page: Page, page_errors: list[str]) -> None:
    await stack.session(role="team_admin", clinic="harbour-physio", sub="grace")
    await stack.session(role="team_admin", clinic="city-gp", sub="ada")
    launch = launch_token(role="org_admin", clinic=None, call=None, name="Org Boss")
    await page.goto(f"{stack.url}/org-admin?launch={launch}")
    switch = page.get_by_test_id("addon-switch-city-gp")
    await expect(switch).to_be_checked()
    # Turning it off stops the clinic's clinicians mid-call, so the page asks first and says so.
    await switch.click()
    confirm = page.get_by_role("group", name="Turn Callpay off for city-gp?")
    await expect(confirm).to_contain_text("can't request payments from then on, including in calls under way")
    keep = confirm.get_by_role("button", name="Keep it on")
    await expect(keep).to_be_focused()
    await expect(switch).to_be_checked()
    await save_screenshot(page, "org-admin-confirm-off")
    await assert_accessible(page)
    await page.keyboard.press("Enter")  # Keep it on
    await expect(confirm).to_have_count(0)
    await expect(switch).to_be_checked()
    await expect(switch).to_be_focused()
    await switch.press("Space")
    await expect(confirm).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(confirm).to_have_count(0)
    assert stack.published.of("clinic_status") == []  # nothing was changed

    await switch.click()
    await confirm.get_by_role("button", name="Turn off").click()
    await expect(page.locator("#announcer")).to_have_text("Callpay is now off for city-gp.")
    await expect(switch).to_be_focused()
    await expect(switch).not_to_be_checked()
    # Said to the org admin, who is the one to turn it back on: no "ask your organisation admin".
    row = page.locator('[data-clinic="city-gp"]')
    await expect(row).to_contain_text("Callpay is off for this clinic.")
    await expect(page.locator("body")).not_to_contain_text("organisation admin")
    await save_screenshot(page, "org-admin-clinic-off")
    [event] = stack.published.of("clinic_status")
    assert event.data["clinic"] == "city-gp" and event.data["reason_code"] == "addon_disabled"
    # Turning it back on stops nobody: no question.
    await switch.click()
    await expect(page.locator("#announcer")).to_have_text("Callpay is now on for city-gp.")
    await expect(switch).to_be_checked()
    assert page_errors == []


async def test_an_admin_creates_a_stripe_account_and_finishes_onboarding(
    stack: Stack, page: Page, page_errors: list[str]
) -> None:
    launch = launch_token(role="team_admin", name="Grace Hopper", clinic="harbour-physio", call=None)
    await page.goto(f"{stack.url}/clinic-config?launch={launch}")
    status = page.get_by_test_id("stripe-status")
    await expect(status).to_contain_text("No Stripe account is linked")
    await expect(page.get_by_role("heading", name="I have a Stripe account")).to_be_visible()
    await expect(page.get_by_role("heading", name="Create one for this clinic")).to_be_visible()
    await expect(page.get_by_label("Country the clinic is in")).to_have_value("AU")
    await save_screenshot(page, "onboarding-1-two-ways")

    await page.get_by_test_id("create-stripe-account").click()
    submit = page.get_by_test_id("onboarding-submit")
    await expect(submit).to_be_visible()
    assert page.url.startswith(f"{stack.sandbox.url}/setup/s/acct_")
    await page.get_by_label("Business name").fill("Harbour Physio")
    await page.get_by_label("Type of business").select_option("company")
    await page.get_by_label("Business website").fill("https://harbour-physio.example")
    await page.get_by_label("Your first name").fill("Grace")
    await page.get_by_label("Your last name").fill("Hopper")
    await page.get_by_label("Your date of birth").fill("09/12/1986")
    await page.get_by_test_id("onboarding-tos_acceptance.date").check()
    await save_screenshot(page, "onboarding-2-hosted-form")
    await submit.click()  # the bank account left for later

    flash = page.get_by_test_id("flash")
    await expect(flash).to_contain_text("can't take payments yet. Stripe still needs a bank account for payouts.")
    assert page.url == f"{stack.url}/clinic-config"
    needs = page.get_by_test_id("stripe-requirements")
    await expect(needs).to_contain_text("a bank account for payouts")
    await expect(status).to_contain_text("can't take payments yet: click Finish on Stripe")
    await expect(page.locator("#acct-payouts")).to_have_text("Not yet")
    await save_screenshot(page, "onboarding-3-back-unfinished")

    await page.get_by_test_id("finish-on-stripe").click()
    await expect(submit).to_be_visible()
    await expect(page.get_by_label("Your first name")).to_have_count(0)  # only what is left is asked again
    await page.get_by_label("Bank account for payouts").fill("000-000 000123456")
    await submit.click()
    await expect(flash).to_contain_text("is set up and linked to this clinic. It can take payments.")
    await expect(status).to_contain_text("It can take payments.")
    await expect(needs).to_be_hidden()
    await expect(page.locator("#acct-payouts")).to_have_text("Yes")
    await save_screenshot(page, "onboarding-4-ready")

    # Stripe asks for more later: the page shows it live, without a reload.
    account = (await page.locator("#acct-id").text_content() or "").strip()
    async with stack.http.post(
        f"{stack.sandbox.url}/_sandbox/accounts/{account}/requirements",
        json={"currently_due": ["company.tax_id"], "past_due": True},
    ) as answer:
        assert answer.status == 200
    await expect(needs).to_contain_text("the business's ABN or tax number", timeout=10_000)
    await expect(needs).to_contain_text("Stripe has paused payments until the overdue details are given.")
    await expect(status).to_have_text(
        "Linked to Harbour Physio, but Stripe has paused its payments: click Finish on Stripe."
    )
    await expect(page.locator("#announcer")).to_have_text(
        "Linked to Harbour Physio, but Stripe has paused its payments: click Finish on Stripe."
    )
    await save_screenshot(page, "onboarding-5-overdue-live")
    assert script_errors(page_errors) == []
