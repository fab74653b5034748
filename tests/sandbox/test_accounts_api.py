"""``POST /v1/accounts`` and ``POST /v1/account_links`` through the official SDK, the hosted onboarding page as a
browser meets it, ``account.updated`` as a Connect endpoint hears it, and the dashboard stand-in."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import pytest
import stripe

from sandbox.stripe import RunningSandbox
from tests.sandbox.conftest import ClientFactory, connect_account

CONTROLLER: Any = {
    "fees": {"payer": "account"},
    "losses": {"payments": "stripe"},
    "stripe_dashboard": {"type": "full"},
}
LINK: Any = {
    "type": "account_onboarding",
    "refresh_url": "https://p.example/refresh",
    "return_url": "https://p.example/back",
}
NONCE = re.compile(r'name="nonce" value="([^"]+)"')


async def _make(client: stripe.StripeClient, **extra: Any) -> stripe.Account:
    return await client.v1.accounts.create_async(
        {"controller": CONTROLLER, "country": "AU", "business_profile": {"name": "Harbour Physio"}, **extra}
    )


async def _page(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url, allow_redirects=False) as page:
        assert page.status == 200, await page.text()
        return await page.text()


async def _submit(http: aiohttp.ClientSession, url: str, page: str, fields: dict[str, str]) -> str:
    found = NONCE.search(page)
    assert found
    async with http.post(url, data={"nonce": found.group(1), **fields}, allow_redirects=False) as answer:
        assert answer.status == 302
        return answer.headers["Location"]


async def test_a_new_account_needs_onboarding_before_it_can_take_payments(client: stripe.StripeClient) -> None:
    account = await _make(client)
    assert account.id.startswith("acct_")
    assert account.charges_enabled is False and account.payouts_enabled is False
    assert account.details_submitted is False
    assert account.controller is not None and account.controller.type == "application"
    assert account.controller.is_controller is True
    assert account.requirements is not None
    assert "external_account" in (account.requirements.currently_due or [])
    assert account.requirements.past_due == account.requirements.currently_due
    assert account.requirements.disabled_reason == "requirements.past_due"
    assert account.business_profile is not None and account.business_profile.name == "Harbour Physio"
    # The platform that made it can read it, as a connected account.
    again = await client.v1.accounts.retrieve_async(account.id)
    assert again.id == account.id


async def test_bad_account_parameters_are_refused_as_stripe_refuses_them(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as neither:
        await client.v1.accounts.create_async({"country": "AU"})
    assert neither.value.param == "type"
    with pytest.raises(stripe.InvalidRequestError) as express:
        await client.v1.accounts.create_async({"type": "express", "country": "AU"})
    assert express.value.param == "type"
    with pytest.raises(stripe.InvalidRequestError) as both:
        await client.v1.accounts.create_async({"type": "standard", "controller": CONTROLLER})
    assert both.value.param == "controller"
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        await client.v1.accounts.create_async({"type": "standard", "colour": "blue"})  # type: ignore[typeddict-unknown-key]
    assert unknown.value.param == "colour"


async def test_an_idempotency_key_makes_one_account(client: stripe.StripeClient) -> None:
    first, second = await asyncio.gather(
        *(
            client.v1.accounts.create_async({"type": "standard", "country": "AU"}, options={"idempotency_key": "k1"})
            for _ in range(2)
        )
    )
    assert first.id == second.id


async def test_onboarding_link_is_single_use_and_collects_what_is_due(
    client: stripe.StripeClient, http: aiohttp.ClientSession
) -> None:
    account = await _make(client)
    link = await client.v1.account_links.create_async({"account": account.id, **LINK})
    assert link.object == "account_link"
    assert 60 <= link.expires_at - link.created <= 600
    page = await _page(http, link.url)
    assert 'data-testid="onboarding-submit"' in page and 'name="external_account"' in page
    # A second visit is sent to refresh_url, as Stripe does with a used link.
    async with http.get(link.url, allow_redirects=False) as answer:
        assert answer.status == 302 and answer.headers["Location"] == LINK["refresh_url"]
    back = await _submit(http, link.url, page, {"business_type": "company", "external_account": "000-000 000123456"})
    assert back == LINK["return_url"]
    after = await client.v1.accounts.retrieve_async(account.id)
    assert after.requirements is not None
    assert "external_account" not in (after.requirements.currently_due or [])
    assert "tos_acceptance.date" in (after.requirements.currently_due or [])
    assert after.charges_enabled is False
    # The page works once: posting it again goes to refresh_url and changes nothing.
    again = await _submit(http, link.url, page, {"tos_acceptance.date": "yes"})
    assert again == LINK["refresh_url"]


async def test_an_expired_link_goes_to_refresh_url(
    client: stripe.StripeClient, http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    account = await _make(client)
    link = await client.v1.account_links.create_async({"account": account.id, **LINK})
    async with http.post(f"{sandbox.url}/_sandbox/account_links/expire", json={"account": account.id}) as answer:
        assert (await answer.json()) == {"expired": 1}
    async with http.get(link.url, allow_redirects=False) as answer:
        assert answer.status == 302 and answer.headers["Location"] == LINK["refresh_url"]


async def test_account_links_only_for_accounts_the_platform_made(
    client: stripe.StripeClient,
    make_client: ClientFactory,
    http: aiohttp.ClientSession,
    sandbox: RunningSandbox,
    platform_key: str,
) -> None:
    with pytest.raises(stripe.PermissionError):
        await client.v1.account_links.create_async({**LINK, "account": "acct_x"})
    mine = await _make(client)
    with pytest.raises(stripe.InvalidRequestError) as update:
        await client.v1.account_links.create_async({**LINK, "account": mine.id, "type": "account_update"})
    assert update.value.param == "type"
    with pytest.raises(stripe.InvalidRequestError) as no_urls:
        await client.v1.account_links.create_async({"account": mine.id, "type": "account_onboarding"})
    assert no_urls.value.param == "refresh_url"
    # Another platform can't reach it at all; an OAuth-linked account isn't the platform's to onboard.
    other = make_client("sk_test_someoneelse0001")
    with pytest.raises(stripe.PermissionError):
        await other.v1.account_links.create_async({**LINK, "account": mine.id})
    linked = await connect_account(http, sandbox.url, platform_key)
    with pytest.raises(stripe.InvalidRequestError) as oauth:
        await client.v1.account_links.create_async({**LINK, "account": linked["stripe_user_id"]})
    assert oauth.value.param == "account"


async def test_requirements_change_with_account_updated(
    client: stripe.StripeClient, http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    account = await _make(client)
    async with http.post(
        f"{sandbox.url}/_sandbox/accounts/{account.id}/requirements", json={"currently_due": [], "past_due": False}
    ) as answer:
        body = await answer.json()
    assert body["charges_enabled"] is True and body["requirements"]["currently_due"] == []
    async with http.post(
        f"{sandbox.url}/_sandbox/accounts/{account.id}/requirements",
        json={"currently_due": ["individual.verification.document"], "past_due": True},
    ) as answer:
        body = await answer.json()
    assert body["charges_enabled"] is False
    assert body["requirements"]["disabled_reason"] == "requirements.past_due"
    events = await client.v1.events.list_async({"type": "account.updated"}, options={"stripe_account": account.id})
    assert len(events.data) == 2
    latest = events.data[0]
    assert latest.account == account.id
    assert latest.data.previous_attributes is not None
    assert latest.data.previous_attributes["charges_enabled"] is True
    async with http.post(f"{sandbox.url}/_sandbox/accounts/{account.id}/requirements", json={"past_due": "x"}) as bad:
        assert bad.status == 400


async def test_dashboard_shows_the_account_and_its_payments(
    client: stripe.StripeClient, http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    account = await _make(client)
    async with http.post(
        f"{sandbox.url}/_sandbox/accounts/{account.id}/requirements", json={"currently_due": []}
    ) as answer:
        assert answer.status == 200
    intent = await client.v1.payment_intents.create_async(
        {
            "amount": 8000,
            "currency": "aud",
            "description": "Consultation <b>",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
        },
        options={"stripe_account": account.id},
    )
    await client.v1.refunds.create_async(
        {"payment_intent": intent.id, "amount": 3000}, options={"stripe_account": account.id}
    )
    async with http.get(f"{sandbox.url}/dashboard/{account.id}/test/settings/account") as page:
        assert page.status == 200 and page.content_type == "text/html"
        text = await page.text()
    assert "Harbour Physio" in text and account.id in text
    assert intent.id in text and "80.00 AUD" in text and "30.00 AUD" in text
    assert "Consultation &lt;b&gt;" in text and "<b>" not in text.split("<main>")[1].split("Refunds")[0]
    async with http.get(f"{sandbox.url}/dashboard/") as page:
        index = await page.text()
    assert account.id in index and "/setup/s/" in index and 'href="/dashboard/' in index
    async with http.get(f"{sandbox.url}/dashboard/acct_nope") as page:
        assert page.status == 404


async def test_a_link_expires_after_five_minutes_of_the_sandbox_clock(
    client: stripe.StripeClient, http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    account = await _make(client)
    early = await client.v1.account_links.create_async({"account": account.id, **LINK})
    late = await client.v1.account_links.create_async({"account": account.id, **LINK})
    async with http.post(f"{sandbox.url}/_sandbox/clock/advance", json={"seconds": 240}) as answer:
        assert answer.status == 200
    assert 'data-testid="onboarding-submit"' in await _page(http, early.url)  # four minutes: still good
    async with http.post(f"{sandbox.url}/_sandbox/clock/advance", json={"seconds": 61}) as answer:
        assert answer.status == 200
    async with http.get(late.url, allow_redirects=False) as answer:
        assert answer.status == 302 and answer.headers["Location"] == LINK["refresh_url"]
