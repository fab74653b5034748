"""Linking a clinic's Stripe account: the whole Connect OAuth dance over HTTP against the sandbox, and every way
the return from Stripe can be wrong."""

from __future__ import annotations

import asyncio
import html
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

from sqlalchemy import func, select, update

from addon.appkeys import DB
from addon.auth.sessions import hash_token, revoke
from addon.models import AuditEvent, Clinic, OAuthState
from addon.models import Session as SessionRow
from tests.clinic.conftest import Stack
from tests.conftest import session_from_page


async def test_the_whole_dance_links_the_account_and_signs_the_admin_back_in(stack: Stack) -> None:
    admin = await stack.session(role="team_admin")
    authorize_url = await stack.start_oauth(admin)
    query = parse_qs(urlsplit(authorize_url).query)
    assert authorize_url.startswith(f"{stack.sandbox.url}/oauth/authorize?")
    assert query["client_id"] == [stack.settings.stripe_connect_client_id]
    assert query["scope"] == ["read_write"]
    assert query["redirect_uri"] == [f"{stack.url}/clinic-config/oauth/callback"]
    assert len(query["state"][0]) >= 22  # at least 128 bits, URL-safe

    back = await stack.consent(authorize_url, name="Harbour Physio")
    assert back.startswith(f"{stack.url}/clinic-config/oauth/callback?")
    status, text = await stack.follow(back)  # a real browser-like GET on the app's port
    assert status == 200
    assert "Your Stripe account Harbour Physio is linked to this clinic." in html.unescape(text)
    page_session = session_from_page(text)
    assert page_session["token"] != admin["token"]
    assert (page_session["role"], page_session["clinic"], page_session["user"]) == (
        "team_admin",
        "clinic-1",
        admin["user"],
    )
    async with stack.app[DB]() as db:  # a round trip never lengthens a sign-in
        ends = {row.token_hash: row.expires_at for row in (await db.scalars(select(SessionRow))).all()}
    assert ends[hash_token(page_session["token"])] == ends[hash_token(admin["token"])]

    status, config = await stack.api("GET", "/api/v1/clinic", page_session)
    assert status == 200
    stripe = config["stripe"]
    assert stripe["account_id"].startswith("acct_")
    assert (stripe["name"], stripe["country"], stripe["default_currency"]) == ("Harbour Physio", "AU", "aud")
    assert stripe["charges_enabled"] is True
    assert stripe["dashboard_url"] == f"https://dashboard.stripe.com/{stripe['account_id']}/test/settings/account"
    assert config["status"] == {
        "clinic": "clinic-1",
        "payments_available": True,
        "reason_code": None,
        "reason": None,
    }
    # The clinic's clinicians are told at once that payments are possible.
    [event] = stack.published.of("clinic_status")
    assert event.data["payments_available"] is True
    async with stack.app[DB]() as db:
        actions = (await db.scalars(select(AuditEvent.action))).all()
    assert "clinic.stripe_connected" in actions


async def test_the_callback_page_has_a_strict_policy_and_no_token_in_any_url(stack: Stack) -> None:
    admin = await stack.session()
    back = await stack.consent(await stack.start_oauth(admin))
    async with stack.http.get(back) as page:
        text = await page.text()
        csp = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors *" in csp and "form-action 'none'" in csp
        assert page.headers["Cache-Control"] == "no-store"
        assert page.headers["Referrer-Policy"] == "no-referrer"
    token = session_from_page(text)["token"]
    assert token not in back


async def test_a_reused_state_is_refused_and_stores_nothing_more(stack: Stack) -> None:
    admin = await stack.session()
    back = await stack.consent(await stack.start_oauth(admin))
    assert (await stack.follow(back))[0] == 200
    status, text = await stack.follow(back)
    assert status == 400
    assert "already been used" in html.unescape(text)
    assert "open Configure > Client Payments again" in html.unescape(text)
    assert "callpay-session" not in text


async def test_a_tampered_or_missing_state_is_refused(stack: Stack) -> None:
    admin = await stack.session()
    back = await stack.consent(await stack.start_oauth(admin))
    query = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
    for state in (query["state"] + "x", query["state"][:-1] + ("A" if query["state"][-1] != "A" else "B"), ""):
        status, text = await stack.follow(
            f"{stack.url}/clinic-config/oauth/callback?" + urlencode({**query, "state": state})
        )
        assert status == 400, state
        assert "can't be matched to a Go to Stripe click" in html.unescape(text)
    status, text = await stack.follow(f"{stack.url}/clinic-config/oauth/callback?code={query['code']}")
    assert status == 400
    await _assert_not_linked(stack)
    # The genuine state still works once: tampering didn't burn it.
    assert (await stack.follow(back))[0] == 200


async def test_an_expired_state_is_refused(stack: Stack) -> None:
    admin = await stack.session()
    back = await stack.consent(await stack.start_oauth(admin))
    async with stack.app[DB].begin() as db:
        await db.execute(update(OAuthState).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    status, text = await stack.follow(back)
    assert status == 400
    assert "came too late" in html.unescape(text)
    await _assert_not_linked(stack)


async def test_access_denied_says_so_and_keeps_the_admin_signed_in(stack: Stack) -> None:
    admin = await stack.session()
    back = await stack.consent(await stack.start_oauth(admin), action="cancel")
    assert "error=access_denied" in back
    status, text = await stack.follow(back)
    assert status == 200
    assert "You cancelled on Stripe, so no account was linked." in html.unescape(text)
    assert 'data-testid="go-to-stripe"' in text
    again = session_from_page(text)
    await _assert_not_linked(stack, again)
    assert stack.published.events == []


async def test_a_failed_exchange_stores_nothing_and_says_what_to_do(stack: Stack) -> None:
    admin = await stack.session()
    back = await stack.consent(await stack.start_oauth(admin))
    query = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
    forged = f"{stack.url}/clinic-config/oauth/callback?" + urlencode({**query, "code": "ac_not_a_real_code"})
    status, text = await stack.follow(forged)
    assert status == 200
    assert "Stripe did not accept this authorisation" in html.unescape(text)
    await _assert_not_linked(stack, session_from_page(text))


async def test_a_state_outlives_no_revoked_session(stack: Stack) -> None:
    admin = await stack.session()
    back = await stack.consent(await stack.start_oauth(admin))
    async with stack.app[DB].begin() as db:
        await revoke(db, hash_token(admin["token"]))
    status, text = await stack.follow(back)
    assert status == 401
    assert "session ended while you were on Stripe" in html.unescape(text)
    await _assert_not_linked(stack)


async def test_a_linked_clinic_must_remove_its_account_before_linking_another(stack: Stack) -> None:
    admin = await stack.session()
    await stack.connect(admin)
    status, body = await stack.api("POST", "/api/v1/clinic/stripe/connect", admin)
    assert status == 409
    assert body["error"]["code"] == "already_connected"


async def test_one_stripe_account_cant_be_linked_to_two_clinics(stack: Stack) -> None:
    first = await stack.session(clinic="clinic-1", sub="admin-1")
    await stack.connect(first)
    async with stack.app[DB]() as db:
        account = await db.scalar(select(Clinic.stripe_account_id).where(Clinic.external_id == "clinic-1"))
    second = await stack.session(clinic="clinic-2", sub="admin-2")
    url = await stack.start_oauth(second)
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    form = {**query, "account": account, "action": "authorize"}
    async with stack.http.post(f"{stack.sandbox.url}/oauth/authorize", data=form, allow_redirects=False) as answer:
        back = answer.headers["Location"]
    status, text = await stack.follow(back)
    assert status == 200
    assert "already linked to another clinic" in html.unescape(text)
    async with stack.app[DB]() as db:
        linked = await db.scalar(select(func.count()).where(Clinic.stripe_account_id == account))
    assert linked == 1


async def _assert_not_linked(stack: Stack, session: dict[str, object] | None = None) -> None:
    async with stack.app[DB]() as db:
        linked = await db.scalar(select(func.count()).where(Clinic.stripe_account_id.is_not(None)))
        actions = (await db.scalars(select(AuditEvent.action))).all()
    assert linked == 0
    assert "clinic.stripe_connected" not in actions
    if session is not None:
        status, config = await stack.api("GET", "/api/v1/clinic", session)
        assert status == 200 and config["stripe"] is None


async def test_two_returns_racing_with_one_state_link_once(stack: Stack) -> None:
    admin = await stack.session()
    back = await stack.consent(await stack.start_oauth(admin))
    results = await asyncio.gather(stack.follow(back), stack.follow(back))
    assert sorted(status for status, _ in results) == [200, 400]
    async with stack.app[DB]() as db:
        actions = (await db.scalars(select(AuditEvent.action))).all()
    assert actions.count("clinic.stripe_connected") == 1
    assert len(stack.published.of("clinic_status")) == 1
