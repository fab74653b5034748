"""Connect OAuth on the sandbox: consent page, redirects, code exchange (raw and through the SDK), refresh,
errors shaped as Stripe's OAuth errors, and deauthorization."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import stripe

from sandbox.stripe import RunningSandbox
from sandbox.stripe.appkeys import CONFIG

from .conftest import ClientFactory, Receiver, connect_account, new_platform_key

REDIRECT = "https://platform.example/callback"


async def authorize(http: aiohttp.ClientSession, base: str, key: str, **form: str) -> dict[str, list[str]]:
    query = {
        "response_type": "code",
        "client_id": "ca_" + key.removeprefix("sk_test_"),
        "scope": "read_write",
        "redirect_uri": REDIRECT,
        "state": "s-1",
    }
    async with http.post(f"{base}/oauth/authorize", data={**query, **form}, allow_redirects=False) as answer:
        assert answer.status == 302, await answer.text()
        location = answer.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    return parse_qs(urlsplit(location).query)


async def exchange(http: aiohttp.ClientSession, base: str, key: str, **form: str) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{base}/oauth/token", data=form, headers={"Authorization": f"Bearer {key}"}) as answer:
        return answer.status, await answer.json()


async def test_consent_page_is_served_with_defaults(sandbox: RunningSandbox, http: aiohttp.ClientSession) -> None:
    key = new_platform_key()
    params = {
        "response_type": "code",
        "client_id": "ca_" + key[8:],
        "scope": "read_write",
        "redirect_uri": REDIRECT,
        "state": "abc",
        "stripe_user[business_name]": "Coast <Clinic>",
    }
    async with http.get(f"{sandbox.url}/oauth/authorize", params=params) as page:
        html = await page.text()
    assert page.status == 200 and page.content_type == "text/html"
    assert 'data-testid="oauth-authorize"' in html and 'value="AU"' in html and 'value="aud"' in html
    assert "Coast &lt;Clinic&gt;" in html and "<Clinic>" not in html
    async with http.get(f"{sandbox.url}/oauth/authorize", params={**params, "client_id": "nope"}) as page:
        assert page.status == 400


async def test_full_dance_and_the_token_works(
    sandbox: RunningSandbox, http: aiohttp.ClientSession, make_client: ClientFactory
) -> None:
    key = new_platform_key()
    token = await connect_account(http, sandbox.url, key, business_name="Harbour Physio")
    assert set(token) == {
        "access_token",
        "livemode",
        "refresh_token",
        "scope",
        "stripe_publishable_key",
        "stripe_user_id",
        "token_type",
    }
    assert token["livemode"] is False and token["token_type"] == "bearer" and token["scope"] == "read_write"
    assert token["stripe_user_id"].startswith("acct_") and token["access_token"].startswith("sk_test_")
    assert token["stripe_publishable_key"].startswith("pk_test_")
    platform = make_client(key)
    account = await platform.v1.accounts.retrieve_async(token["stripe_user_id"])
    assert account.business_profile is not None and account.business_profile.name == "Harbour Physio"
    assert account.country == "AU" and account.default_currency == "aud" and account.charges_enabled is True
    as_account = make_client(token["access_token"])
    own = await as_account.v1.accounts.retrieve_current_async()
    assert own.id == token["stripe_user_id"]
    intent = await as_account.v1.payment_intents.create_async(
        {"amount": 5000, "currency": "aud", "application_fee_amount": 100}
    )
    fetched = await platform.v1.payment_intents.retrieve_async(
        intent.id, options={"stripe_account": token["stripe_user_id"]}
    )
    assert fetched.application_fee_amount == 100


async def test_existing_account_can_be_chosen(sandbox: RunningSandbox, http: aiohttp.ClientSession) -> None:
    first = await connect_account(http, sandbox.url, new_platform_key())
    other_platform = new_platform_key()
    values = await authorize(http, sandbox.url, other_platform, account=first["stripe_user_id"])
    status, token = await exchange(
        http, sandbox.url, other_platform, grant_type="authorization_code", code=values["code"][0]
    )
    assert status == 200 and token["stripe_user_id"] == first["stripe_user_id"]


async def test_cancel_redirects_with_access_denied(sandbox: RunningSandbox, http: aiohttp.ClientSession) -> None:
    values = await authorize(http, sandbox.url, new_platform_key(), action="cancel")
    assert values["error"] == ["access_denied"] and values["state"] == ["s-1"]
    assert values["error_description"][0]


async def test_codes_are_single_use_and_belong_to_their_platform(
    sandbox: RunningSandbox, http: aiohttp.ClientSession
) -> None:
    key = new_platform_key()
    code = (await authorize(http, sandbox.url, key))["code"][0]
    status, body = await exchange(http, sandbox.url, new_platform_key(), grant_type="authorization_code", code=code)
    assert status == 400 and body["error"] == "invalid_grant"
    code = (await authorize(http, sandbox.url, key))["code"][0]
    status, _ = await exchange(http, sandbox.url, key, grant_type="authorization_code", code=code)
    assert status == 200
    status, body = await exchange(http, sandbox.url, key, grant_type="authorization_code", code=code)
    assert status == 400 and body == {
        "error": "invalid_grant",
        "error_description": f"Authorization code does not exist: {code}",
    }


async def test_codes_expire(sandbox: RunningSandbox, http: aiohttp.ClientSession) -> None:
    sandbox.app[CONFIG].oauth_code_ttl = 0.01
    key = new_platform_key()
    code = (await authorize(http, sandbox.url, key))["code"][0]
    await asyncio.sleep(0.05)
    status, body = await exchange(http, sandbox.url, key, grant_type="authorization_code", code=code)
    assert status == 400 and body["error"] == "invalid_grant" and "expired" in body["error_description"]


async def test_token_errors(sandbox: RunningSandbox, http: aiohttp.ClientSession) -> None:
    key = new_platform_key()
    status, body = await exchange(http, sandbox.url, key, grant_type="password")
    assert status == 400 and body["error"] == "unsupported_grant_type"
    status, body = await exchange(http, sandbox.url, key, grant_type="authorization_code")
    assert status == 400 and body["error"] == "invalid_request"
    async with http.post(f"{sandbox.url}/oauth/token", data={"grant_type": "authorization_code", "code": "x"}) as a:
        assert a.status == 401 and (await a.json())["error"] == "invalid_request"


async def test_client_secret_parameter_and_refresh(sandbox: RunningSandbox, http: aiohttp.ClientSession) -> None:
    key = new_platform_key()
    code = (await authorize(http, sandbox.url, key))["code"][0]
    async with http.post(
        f"{sandbox.url}/oauth/token", data={"grant_type": "authorization_code", "code": code, "client_secret": key}
    ) as answer:
        token = await answer.json()
    assert answer.status == 200
    status, refreshed = await exchange(
        http, sandbox.url, key, grant_type="refresh_token", refresh_token=token["refresh_token"]
    )
    assert status == 200 and refreshed["stripe_user_id"] == token["stripe_user_id"]
    status, body = await exchange(http, sandbox.url, key, grant_type="refresh_token", refresh_token="rt_nope")
    assert status == 400 and body["error"] == "invalid_grant"


async def test_sdk_oauth_token_and_deauthorize(
    sandbox: RunningSandbox, http: aiohttp.ClientSession, make_client: ClientFactory, receiver: Receiver
) -> None:
    key = new_platform_key()
    platform = make_client(key)
    await platform.v1.webhook_endpoints.create_async(
        {"url": receiver.url, "enabled_events": ["account.application.deauthorized"], "connect": True}
    )
    code = (await authorize(http, sandbox.url, key))["code"][0]
    # the SDK's OAuth calls are synchronous only; its default (requests) transport runs in a thread
    sync_client = stripe.StripeClient(
        key, base_addresses={"api": sandbox.url, "connect": sandbox.url}, client_id="ca_" + key[8:]
    )
    token = await asyncio.to_thread(sync_client.oauth.token, {"grant_type": "authorization_code", "code": code})
    account = token["stripe_user_id"]
    with pytest.raises(stripe.oauth_error.InvalidGrantError):
        await asyncio.to_thread(sync_client.oauth.token, {"grant_type": "authorization_code", "code": code})
    done = await asyncio.to_thread(sync_client.oauth.deauthorize, {"stripe_user_id": account})
    assert done["stripe_user_id"] == account
    with pytest.raises(stripe.PermissionError):
        await platform.v1.payment_intents.list_async(options={"stripe_account": account})
    with pytest.raises(stripe.AuthenticationError):
        await make_client(token["access_token"]).v1.payment_intents.list_async()
    await receiver.wait_for(1)
    event = receiver.events()[0]
    assert event["type"] == "account.application.deauthorized" and event["account"] == account
    with pytest.raises(stripe.oauth_error.InvalidClientError):
        await asyncio.to_thread(sync_client.oauth.deauthorize, {"stripe_user_id": account})
