"""Connect OAuth at ``/oauth/…``: the consent page, the code-for-token exchange and deauthorization.

Errors use OAuth's shape, ``{"error": "invalid_grant", "error_description": "…"}``, as Stripe's do.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from aiohttp import web

from . import oauth_page
from .appkeys import CONFIG, STATE
from .auth import bearer_key, resolve_key
from .errors import StripeError
from .events import emit
from .forms import Form, decode, decode_pairs
from .ids import new_id, random_token
from .state import Account, OAuthCode, SandboxState

JSON = dict[str, Any]

DENIED = "The user denied your request"


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def response(self) -> web.Response:
        body = {"error": self.error, "error_description": self.description}
        return web.json_response(body, status=self.status, dumps=lambda value: json.dumps(value, indent=2))


def _platform_for_client_id(state: SandboxState, client_id: object) -> Account | None:
    if not isinstance(client_id, str) or not client_id.startswith("ca_") or len(client_id) <= 3:
        return None
    token = client_id[3:]
    if token in state.access_tokens or not token.replace("_", "").isalnum():
        return None
    return state.account_for_token(token)


def _bad_link(message: str) -> web.HTTPBadRequest:
    """A consent link that can't be honoured: a page for the person who followed it, not JSON."""
    return web.HTTPBadRequest(text=oauth_page.error_page(message), content_type="text/html")


def _with_query(url: str, values: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(values)]))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _checked_request(state: SandboxState, form: Form) -> tuple[Account, str, str | None, str | None]:
    """(platform, scope, redirect_uri, state) of an authorize request, or an error page."""
    platform = _platform_for_client_id(state, form.get("client_id"))
    if platform is None:
        raise _bad_link("Invalid client_id: the link you followed names no Connect platform.")
    if form.get("response_type", "code") != "code":
        raise _bad_link("Invalid response_type: only 'code' is supported.")
    scope = form.get("scope") or "read_only"
    if scope not in ("read_only", "read_write"):
        raise _bad_link(f"Invalid scope: {scope}")
    redirect_uri = form.get("redirect_uri") or None
    if redirect_uri is not None and urlsplit(str(redirect_uri)).scheme not in ("http", "https"):
        raise _bad_link("Invalid redirect_uri: it must be an http(s) URL.")
    oauth_state = form.get("state")
    return platform, str(scope), redirect_uri, oauth_state if isinstance(oauth_state, str) else None


async def authorize_page(request: web.Request) -> web.Response:
    state = request.app[STATE]
    form = decode_pairs(request.query.items())
    platform, scope, redirect_uri, oauth_state = _checked_request(state, form)
    stripe_user = form.get("stripe_user")
    prefill: dict[str, Any] = stripe_user if isinstance(stripe_user, dict) else {}
    existing = [
        account for account in state.accounts.values() if account.made_on_oauth_page and account is not platform
    ]
    page = oauth_page.consent_page(
        platform=platform,
        scope=scope,
        redirect_uri=redirect_uri,
        state=oauth_state,
        existing=existing,
        prefill=prefill,
    )
    return web.Response(text=page, content_type="text/html")


async def authorize_submit(request: web.Request) -> web.Response:
    state = request.app[STATE]
    form = decode(await request.text())
    platform, scope, redirect_uri, oauth_state = _checked_request(state, form)
    extra = {"state": oauth_state} if oauth_state is not None else {}
    if form.get("action") == "cancel":
        if redirect_uri is None:
            return web.Response(text=oauth_page.error_page(DENIED), content_type="text/html")
        raise web.HTTPFound(_with_query(redirect_uri, {"error": "access_denied", "error_description": DENIED, **extra}))
    account = _chosen_account(state, platform, form)
    code = new_id("ac", 32)
    state.oauth_codes[code] = OAuthCode(
        platform.id, account.id, scope, time.monotonic() + request.app[CONFIG].oauth_code_ttl
    )
    if redirect_uri is None:
        return web.Response(text=oauth_page.code_page(code), content_type="text/html")
    raise web.HTTPFound(_with_query(redirect_uri, {"scope": scope, "code": code, **extra}))


def _chosen_account(state: SandboxState, platform: Account, form: Form) -> Account:
    choice = form.get("account", "new")
    if isinstance(choice, str) and choice != "new":
        chosen = state.accounts.get(choice)
        if chosen is None or chosen is platform:
            raise _bad_link("That account does not exist.")
        return chosen
    name = str(form.get("business_name") or "").strip() or "Sandbox Clinic"
    country = str(form.get("country") or "AU").strip().upper()[:2] or "AU"
    currency = str(form.get("currency") or "aud").strip().lower()[:3] or "aud"
    email = str(form.get("email") or "").strip() or None
    return state.create_account(business_name=name[:100], country=country, currency=currency, email=email)


def _oauth_platform(request: web.Request, state: SandboxState, form: Form) -> Account:
    key = bearer_key(request) or form.get("client_secret")
    if not isinstance(key, str) or not key:
        raise OAuthError(
            401,
            "invalid_request",
            "No authentication was provided. Send your secret API key using "
            "the Authorization header, or as a client_secret POST parameter.",
        )
    try:
        owner, oauth_platform, publishable = resolve_key(state, key)
    except StripeError as error:
        raise OAuthError(401, "invalid_client", error.message) from error
    if publishable or oauth_platform is not None:
        raise OAuthError(401, "invalid_client", "Use your platform's secret API key to authenticate.")
    return owner


def _application(platform: Account) -> JSON:
    return {"id": platform.client_id, "object": "application", "name": platform.business_name}


async def token(request: web.Request) -> web.Response:
    state = request.app[STATE]
    form = decode(await request.text())
    try:
        platform = _oauth_platform(request, state, form)
        grant = form.get("grant_type")
        if grant == "authorization_code":
            account_id, scope = _redeem_code(state, platform, form)
            state.connect(platform.id, account_id)
            emit(
                state,
                state.accounts[account_id],
                "account.application.authorized",
                _application(platform),
                platform_ids=[platform.id],
            )
            refresh = new_id("rt", 32)
            state.refresh_tokens[refresh] = (platform.id, account_id)
        elif grant == "refresh_token":
            refresh = str(form.get("refresh_token") or "")
            link = state.refresh_tokens.get(refresh)
            if link is None or link[0] != platform.id:
                raise OAuthError(400, "invalid_grant", f"Invalid refresh token: {refresh}")
            account_id = link[1]
            scope = str(form.get("scope") or "read_write")
        elif not grant:
            raise OAuthError(400, "invalid_request", "No grant type specified")
        else:
            raise OAuthError(400, "unsupported_grant_type", f"Unsupported grant type: {grant}")
    except OAuthError as error:
        return error.response()
    access = "oauth" + random_token(24)
    state.access_tokens[access] = (platform.id, account_id)
    return web.json_response(
        {
            "access_token": f"sk_test_{access}",
            "livemode": False,
            "refresh_token": refresh,
            "scope": scope,
            "stripe_publishable_key": f"pk_test_{access}",
            "stripe_user_id": account_id,
            "token_type": "bearer",
        }
    )


def _redeem_code(state: SandboxState, platform: Account, form: Form) -> tuple[str, str]:
    code = form.get("code")
    if not isinstance(code, str) or not code:
        raise OAuthError(400, "invalid_request", "No authorization code provided")
    found = state.oauth_codes.pop(code, None)  # single use: gone even when refused below
    if found is None:
        raise OAuthError(400, "invalid_grant", f"Authorization code does not exist: {code}")
    if found.platform_id != platform.id:
        raise OAuthError(400, "invalid_grant", "Authorization code provided does not belong to you")
    if time.monotonic() > found.expires_at:
        raise OAuthError(400, "invalid_grant", f"Authorization code expired: {code}")
    return found.account_id, found.scope


async def deauthorize(request: web.Request) -> web.Response:
    state = request.app[STATE]
    form = decode(await request.text())
    try:
        platform = _oauth_platform(request, state, form)
        if form.get("client_id") != platform.client_id:
            raise OAuthError(401, "invalid_client", f"No such application: '{form.get('client_id')}'")
        account_id = form.get("stripe_user_id")
        if not isinstance(account_id, str) or not state.is_connected(platform.id, account_id):
            raise OAuthError(
                400,
                "invalid_client",
                f"This application is not connected to stripe account {account_id}, or that account does not exist.",
            )
    except OAuthError as error:
        return error.response()
    state.disconnect(platform.id, account_id)
    emit(
        state,
        state.accounts[account_id],
        "account.application.deauthorized",
        _application(platform),
        platform_ids=[platform.id],
    )
    return web.json_response({"stripe_user_id": account_id})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/oauth/authorize", authorize_page)
    app.router.add_post("/oauth/authorize", authorize_submit)
    app.router.add_post("/oauth/token", token)
    app.router.add_post("/oauth/deauthorize", deauthorize)
