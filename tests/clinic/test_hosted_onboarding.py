"""Create one for this clinic: an account made through the API, set up on the sandbox's hosted onboarding through
Account Links, its health in view, and relinking that keeps the account and the clinic's history. The app, the
sandbox and its webhook deliveries are real, over HTTP; the onboarding page is driven as a browser drives it."""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from addon.appkeys import DB
from addon.models import AuditEvent, Clinic, ClinicStripeAccount, PaymentRequest
from tests.clinic.conftest import Stack
from tests.conftest import session_from_page

EVERYTHING = {
    "company.name": "Harbour Physio",
    "business_type": "company",
    "business_profile.url": "https://harbour-physio.example",
    "representative.first_name": "Ada",
    "representative.last_name": "Lovelace",
    "representative.dob.day": "10/12/1985",
    "external_account": "000-000 000123456",
    "tos_acceptance.date": "yes",
}
NONCE = re.compile(r'name="nonce" value="([^"]+)"')


@pytest.fixture
async def onboarding(stack: Stack) -> AsyncIterator[Stack]:
    yield stack
    for user in stack.sockets:
        await user.close()


async def _wait_for(check: Callable[[], Awaitable[bool]], seconds: float = 8.0) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


async def _clinic(stack: Stack) -> Clinic:
    async with stack.app[DB]() as db:
        clinic = await db.scalar(select(Clinic).where(Clinic.external_id == "clinic-1"))
        assert clinic is not None
        return clinic


async def _create(stack: Stack, admin: dict[str, Any], country: str = "AU") -> str:
    status, body = await stack.api("POST", "/api/v1/clinic/stripe/accounts", admin, json={"country": country})
    assert status == 201, body
    url: str = body["onboarding_url"]
    assert urlsplit(url).path.startswith("/setup/s/acct_")
    return url


async def _open(stack: Stack, link: str) -> str:
    """The onboarding page a link opens (which uses the link up)."""
    async with stack.http.get(link, allow_redirects=False) as page:
        assert page.status == 200, await page.text()
        text = await page.text()
    assert 'data-testid="onboarding-submit"' in text
    return text


async def _onboard(stack: Stack, link: str, fields: dict[str, str], *, page: str | None = None) -> str:
    """Open the link's page, fill in ``fields``, submit; returns where Stripe sends the person (return_url)."""
    found = NONCE.search(page or await _open(stack, link))
    assert found
    async with stack.http.post(link, data={"nonce": found.group(1), **fields}, allow_redirects=False) as answer:
        assert answer.status == 302, await answer.text()
        location: str = answer.headers["Location"]
    assert location.startswith(f"{stack.url}/clinic-config/stripe/onboarding/return?state=")
    return location


async def _back(stack: Stack, location: str) -> tuple[str, dict[str, Any]]:
    """Follow the return to Callpay: the flash message and the page's new session."""
    status, text = await stack.follow(location)
    assert status == 200, text
    found = re.search(r'data-testid="flash">([^<]*)<', text)
    assert found, text
    return html.unescape(found.group(1)), session_from_page(text)


async def _config(stack: Stack, admin: dict[str, Any]) -> dict[str, Any]:
    status, body = await stack.api("GET", "/api/v1/clinic", admin)
    assert status == 200, body
    return body  # type: ignore[no-any-return]


async def _pay(stack: Stack) -> str:
    stack.account = (await _clinic(stack)).stripe_account_id  # whose Stripe the patient's browser confirms on
    doctor = await stack.socket(await stack.clinician(call="call-1"))
    patient = await stack.patient(call="call-1")
    pr = await stack.request_payment(doctor)
    intent, _ = await stack.pay(pr["id"], patient)
    assert intent["status"] == "succeeded", intent
    await stack.flush_webhooks()

    async def paid() -> bool:
        async with stack.app[DB]() as db:
            return (await db.get_one(PaymentRequest, pr["id"])).status == "paid"

    await _wait_for(paid)
    return str(pr["id"])


async def test_create_onboard_then_take_a_payment(onboarding: Stack) -> None:
    stack = onboarding
    admin = await stack.session()
    config = await _config(stack, admin)
    assert config["onboarding"]["ways"] == ["oauth", "hosted"]
    assert config["stripe"] is None

    link = await _create(stack, admin)
    # Linked at once, and honest about it: no payments until Stripe has what it needs.
    clinic = await _clinic(stack)
    assert clinic.stripe_account_id and clinic.stripe_account_kind == "hosted"
    assert not clinic.stripe_charges_enabled
    config = await _config(stack, admin)
    assert config["status"]["reason_code"] == "charges_disabled"
    assert "a bank account for payouts" in config["stripe"]["health"]["past_due"]
    assert config["stripe"]["finish_on_stripe"] is True

    message, admin = await _back(stack, await _onboard(stack, link, EVERYTHING))
    assert message.endswith("is set up and linked to this clinic. It can take payments."), message
    config = await _config(stack, admin)
    assert config["status"]["payments_available"] is True
    health = config["stripe"]["health"]
    assert health["charges_enabled"] and health["payouts_enabled"] and health["details_submitted"]
    assert health["currently_due"] == health["past_due"] == [] and health["needs_action"] is False

    pr_id = await _pay(stack)
    async with stack.app[DB]() as db:
        assert (await db.get_one(PaymentRequest, pr_id)).stripe_account_id == clinic.stripe_account_id
    async with stack.app[DB]() as db:
        actions = (await db.scalars(select(AuditEvent.action).where(AuditEvent.clinic_id == clinic.id))).all()
    assert "clinic.stripe_account_created" in actions and "clinic.stripe_charges_enabled" in actions


async def test_a_double_click_makes_one_account(onboarding: Stack) -> None:
    stack = onboarding
    admin = await stack.session()
    answers = await asyncio.gather(
        *(stack.api("POST", "/api/v1/clinic/stripe/accounts", admin, json={"country": "AU"}) for _ in range(2))
    )
    assert sorted(status for status, _ in answers) in ([201, 201], [201, 409])
    accounts = {urlsplit(body["onboarding_url"]).path.split("/")[3] for status, body in answers if status == 201}
    assert len(accounts) == 1
    async with stack.http.get(f"{stack.sandbox.url}/_sandbox/accounts") as answer:
        made = [a for a in (await answer.json())["accounts"] if a["id"] in accounts or a["business_name"] == "Clinic"]
    assert len({a["id"] for a in made}) == 1


async def test_return_before_finishing_says_what_is_left_and_finish_on_stripe_carries_on(onboarding: Stack) -> None:
    stack = onboarding
    admin = await stack.session()
    link = await _create(stack, admin)
    partial = {k: v for k, v in EVERYTHING.items() if k not in ("external_account", "tos_acceptance.date")}
    message, admin = await _back(stack, await _onboard(stack, link, partial))
    assert "can't take payments yet. Stripe still needs a bank account for payouts and accepting Stripe's terms." in (
        message
    )
    config = await _config(stack, admin)
    health = config["stripe"]["health"]
    assert health["past_due"] == ["a bank account for payouts", "accepting Stripe's terms"]
    assert config["status"]["payments_available"] is False

    # Finish on Stripe: a fresh link, which asks only for what is left.
    status, body = await stack.api("POST", "/api/v1/clinic/stripe/onboarding-link", admin)
    assert status == 201, body
    text = await _open(stack, body["onboarding_url"])
    assert 'name="external_account"' in text and 'name="business_type"' not in text
    rest = {"external_account": "000-000 000123456", "tos_acceptance.date": "yes"}
    message, admin = await _back(stack, await _onboard(stack, body["onboarding_url"], rest, page=text))
    assert "It can take payments." in message
    assert (await _config(stack, admin))["status"]["payments_available"] is True


async def test_an_expired_or_used_link_comes_back_through_refresh_to_a_fresh_one(onboarding: Stack) -> None:
    stack = onboarding
    admin = await stack.session()
    link = await _create(stack, admin)
    account = urlsplit(link).path.split("/")[3]
    async with stack.http.post(f"{stack.sandbox.url}/_sandbox/account_links/expire", json={"account": account}) as r:
        assert (await r.json())["expired"] == 1
    # Stripe sends an expired link to refresh_url; Callpay answers with a fresh link straight away.
    async with stack.http.get(link, allow_redirects=False) as answer:
        assert answer.status == 302
        refresh = answer.headers["Location"]
    assert refresh.startswith(f"{stack.url}/clinic-config/stripe/onboarding/refresh?state=")
    async with stack.http.get(refresh, allow_redirects=False) as answer:
        assert answer.status == 302, await answer.text()
        fresh = answer.headers["Location"]
    assert fresh != link and urlsplit(fresh).path.startswith(f"/setup/s/{account}/")
    message, _ = await _back(stack, await _onboard(stack, fresh, EVERYTHING))
    assert "It can take payments." in message
    # The refresh address was single use, like the link it stood for.
    status, text = await stack.follow(refresh)
    assert status == 400 and "already been used" in html.unescape(text)
    # A used link, opened again, goes to refresh too (and a made-up token is simply not valid).
    async with stack.http.get(fresh, allow_redirects=False) as answer:
        assert answer.status == 302 and "/onboarding/refresh?state=" in answer.headers["Location"]
    async with stack.http.get(f"{stack.sandbox.url}/setup/s/{account}/nope", allow_redirects=False) as answer:
        assert answer.status == 404


async def test_the_return_address_proves_nothing_to_another_purpose(onboarding: Stack) -> None:
    """An onboarding state can't be spent at the OAuth callback, and a made-up one is refused with a page."""
    stack = onboarding
    admin = await stack.session()
    link = await _create(stack, admin)
    location = await _onboard(stack, link, EVERYTHING)
    state = location.split("state=")[1]
    status, text = await stack.follow(f"{stack.url}/clinic-config/oauth/callback?state={state}&code=ac_x")
    assert status == 400 and "can't be matched" in html.unescape(text)
    status, text = await stack.follow(f"{stack.url}/clinic-config/stripe/onboarding/return?state=made-up")
    assert status == 400
    # The real one still works once.
    message, _ = await _back(stack, location)
    assert "It can take payments." in message


async def test_requirements_due_later_stop_payments_with_a_clear_message_then_resume(onboarding: Stack) -> None:
    stack = onboarding
    admin = await stack.session()
    _, admin = await _back(stack, await _onboard(stack, await _create(stack, admin), EVERYTHING))
    await _pay(stack)
    account = (await _clinic(stack)).stripe_account_id
    doctor = await stack.socket(await stack.clinician(call="call-1"))
    patient_session = await stack.patient(call="call-1")
    patient = await stack.socket(patient_session)
    pr = await stack.request_payment(doctor)
    stack.account = account

    # Due soon, not yet overdue: payments carry on, and Client Payments says what is coming.
    async with stack.http.post(
        f"{stack.sandbox.url}/_sandbox/accounts/{account}/requirements",
        json={"currently_due": ["company.tax_id"], "past_due": False},
    ) as answer:
        assert answer.status == 200
    await stack.flush_webhooks()

    async def says(check: Callable[[dict[str, Any]], bool]) -> bool:
        return check(await _config(stack, admin))

    await _wait_for(
        lambda: says(lambda c: c["stripe"]["health"]["currently_due"] == ["the business's ABN or tax number"])
    )
    config = await _config(stack, admin)
    assert config["status"]["payments_available"] is True and config["stripe"]["health"]["current_deadline"]

    # Overdue: charges stop; clinicians and patients hear it live, in the words they already know.
    async with stack.http.post(
        f"{stack.sandbox.url}/_sandbox/accounts/{account}/requirements",
        json={"currently_due": ["company.tax_id"], "past_due": True},
    ) as answer:
        assert answer.status == 200
    await stack.flush_webhooks()
    await doctor.wait_for(lambda u: any(s["payments_available"] is False for s in u.of("clinic_status")))
    await patient.wait_for(lambda u: any(s["payments_available"] is False for s in u.of("payments_available")))
    [stopped] = [s for s in doctor.of("clinic_status") if s["payments_available"] is False]
    assert stopped["reason_code"] == "charges_disabled"
    assert stopped["reason"].startswith("The clinic's Stripe account can't take payments")
    [told] = [s for s in patient.of("payments_available") if s["payments_available"] is False]
    assert told["reason"] == "The clinic can't take card payments right now. Your clinician will tell you how to pay."
    status, body = await stack.checkout(pr["id"], patient_session)
    assert status == 409, body
    assert body["error"]["message"] == told["reason"]
    config = await _config(stack, admin)
    assert config["stripe"]["health"]["past_due"] == ["the business's ABN or tax number"]
    assert config["stripe"]["health"]["disabled_reason"] == (
        "Stripe has paused payments until the overdue details are given."
    )

    # Finish on Stripe: payments resume, and the same request can be paid.
    status, body = await stack.api("POST", "/api/v1/clinic/stripe/onboarding-link", admin)
    assert status == 201, body
    message, admin = await _back(
        stack, await _onboard(stack, body["onboarding_url"], {"company.tax_id": "51824753556"})
    )
    assert "It can take payments." in message
    await doctor.wait_for(lambda u: u.of("clinic_status")[-1]["payments_available"] is True)
    intent, _ = await stack.pay(pr["id"], patient_session)
    assert intent["status"] == "succeeded"


async def test_relinking_offers_the_account_linked_before_and_keeps_history(onboarding: Stack) -> None:
    stack = onboarding
    admin = await stack.session()
    _, admin = await _back(stack, await _onboard(stack, await _create(stack, admin), EVERYTHING))
    account = (await _clinic(stack)).stripe_account_id
    assert account
    before = await _pay(stack)

    status, config = await stack.api("POST", "/api/v1/clinic/stripe/disconnect", admin)
    assert status == 200 and config["stripe"] is None
    [offered] = config["onboarding"]["previous_accounts"]
    assert offered["account_id"] == account and offered["kind"] == "hosted"
    # Removing never took the platform's access (it made the account), so linking again needs no trip to Stripe.
    status, config = await stack.api("POST", "/api/v1/clinic/stripe/relink", admin, json={"account_id": account})
    assert status == 200, config
    assert config["stripe"]["account_id"] == account and config["status"]["payments_available"] is True
    assert config["onboarding"]["previous_accounts"] == []
    after = await _pay(stack)

    clinic = await _clinic(stack)
    async with stack.app[DB]() as db:
        rows = (await db.scalars(select(PaymentRequest).where(PaymentRequest.clinic_id == clinic.id))).all()
        history = (await db.scalars(select(ClinicStripeAccount))).all()
    assert {r.id for r in rows} == {before, after}
    assert {r.stripe_account_id for r in rows} == {account}
    assert [(h.account_id, h.unlinked_at) for h in history] == [(account, None)]
    # The receipt from before the relink is still the clinic's to open.
    response = await stack.client.get(
        f"/api/v1/payment-requests/{before}/receipt.pdf", headers={"Authorization": f"Bearer {admin['token']}"}
    )
    assert response.status == 200 and (await response.read()).startswith(b"%PDF")
    # Only accounts this clinic had can be relinked.
    await stack.api("POST", "/api/v1/clinic/stripe/disconnect", admin)
    status, body = await stack.api("POST", "/api/v1/clinic/stripe/relink", admin, json={"account_id": "acct_other"})
    assert status == 404, body


async def test_relinking_an_oauth_account_offers_it_and_stripe_links_the_same_one(onboarding: Stack) -> None:
    stack = onboarding
    admin = await stack.connect(await stack.session())
    account = (await _clinic(stack)).stripe_account_id
    before = await _pay(stack)
    status, config = await stack.api("POST", "/api/v1/clinic/stripe/disconnect", admin)
    assert status == 200
    [offered] = config["onboarding"]["previous_accounts"]
    assert offered == {**offered, "account_id": account, "kind": "oauth", "name": "Harbour Physio"}
    status, body = await stack.api("POST", "/api/v1/clinic/stripe/relink", admin, json={"account_id": account})
    assert status == 409 and body["error"]["code"] == "relink_on_stripe"
    # On Stripe's consent page the person picks the same account.
    authorize = await stack.start_oauth(admin)
    async with stack.http.get(authorize) as page:
        assert f'value="{account}"' in await page.text()
    from urllib.parse import parse_qs

    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    async with stack.http.post(
        f"{stack.sandbox.url}/oauth/authorize",
        data={**query, "account": account, "action": "authorize"},
        allow_redirects=False,
    ) as answer:
        assert answer.status == 302
        status, text = await stack.follow(answer.headers["Location"])
    assert status == 200 and "is linked to this clinic" in html.unescape(text)
    async with stack.app[DB]() as db:
        kept = await db.scalar(select(func.count()).select_from(ClinicStripeAccount))
        paid = await db.get_one(PaymentRequest, before)
    assert kept == 1 and paid.status == "paid" and paid.clinic_id == (await _clinic(stack)).id
    assert (await _clinic(stack)).stripe_account_id == account


async def test_the_platform_chooses_the_ways_offered(
    sandbox: Any, database_url: str, aiohttp_client: Any, http: Any
) -> None:
    from tests.support.payflow import build_stack

    stack = await build_stack(
        sandbox, database_url, aiohttp_client, http, kind=Stack, sandbox_delivers=True, stripe_onboarding="hosted"
    )
    assert isinstance(stack, Stack)
    admin = await stack.session()
    assert (await _config(stack, admin))["onboarding"]["ways"] == ["hosted"]
    status, body = await stack.api("POST", "/api/v1/clinic/stripe/connect", admin)
    assert status == 409 and body["error"]["code"] == "onboarding_way_unavailable"
    status, body = await stack.api("POST", "/api/v1/clinic/stripe/accounts", admin, json={"country": "Narnia"})
    assert status == 400 and body["error"]["field"] == "country"

    only_oauth = await build_stack(
        sandbox, database_url, aiohttp_client, http, kind=Stack, sandbox_delivers=True, stripe_onboarding="oauth"
    )
    admin = await only_oauth.session()
    status, body = await only_oauth.api("POST", "/api/v1/clinic/stripe/accounts", admin, json={"country": "AU"})
    assert status == 409 and body["error"]["code"] == "onboarding_way_unavailable"


async def test_open_stripe_dashboard_goes_where_the_setting_says(onboarding: Stack) -> None:
    stack = onboarding
    admin = await stack.connect(await stack.session())
    config = await _config(stack, admin)
    account = config["stripe"]["account_id"]
    # The suite's settings leave the dashboard at Stripe's real address.
    assert config["stripe"]["dashboard_url"] == f"https://dashboard.stripe.com/{account}/test/settings/account"
