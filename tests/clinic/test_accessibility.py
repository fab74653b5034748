"""Configure > Client Payments and the org-admin page meet WCAG 2.2 AA (axe-core), linked and not."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.accessibility import assert_accessible
from tests.clinic.conftest import Stack
from tests.conftest import launch_token

pytestmark = pytest.mark.browser


async def test_client_payments_page_is_accessible_before_and_after_linking(stack: Stack, page: Page) -> None:
    await page.goto(f"{stack.url}/clinic-config?launch={launch_token(role='team_admin', call=None)}")
    await expect(page.get_by_test_id("go-to-stripe")).to_be_visible()
    await assert_accessible(page)

    await page.get_by_test_id("go-to-stripe").click()
    await page.get_by_test_id("oauth-authorize").click()
    await expect(page.get_by_test_id("stripe-status")).to_contain_text("It can take payments.")
    await assert_accessible(page)

    # An error under a field must be announced and tied to it, not only coloured.
    await page.get_by_label("ABN").fill("123")
    await page.get_by_test_id("save-settings").click()
    await expect(page.get_by_label("ABN")).to_have_attribute("aria-invalid", "true")
    await assert_accessible(page)


async def test_org_admin_page_is_accessible(stack: Stack, page: Page) -> None:
    await stack.session(role="team_admin", clinic="harbour-physio", sub="grace")
    await page.goto(f"{stack.url}/org-admin?launch={launch_token(role='org_admin', clinic=None, call=None)}")
    await expect(page.get_by_test_id("addon-switch-harbour-physio")).to_be_visible()
    await assert_accessible(page)


async def test_client_payments_is_accessible_with_an_account_stripe_still_needs_things_for(
    stack: Stack, page: Page
) -> None:
    await page.goto(f"{stack.url}/clinic-config?launch={launch_token(role='team_admin', call=None)}")
    await expect(page.get_by_test_id("create-stripe-account")).to_be_visible()
    await page.get_by_test_id("create-stripe-account").click()
    submit = page.get_by_test_id("onboarding-submit")
    await expect(submit).to_be_visible()
    await assert_accessible(page)  # the sandbox's hosted onboarding page, as people meet it in the demo
    await submit.click()
    await expect(page.get_by_test_id("stripe-requirements")).to_contain_text("a bank account for payouts")
    await assert_accessible(page)
