"""Who is calling: API keys (``sk_test_X`` / ``pk_test_X`` / OAuth access tokens) and the Stripe-Account header."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from aiohttp import web

from .errors import StripeError
from .forms import Form
from .state import Account, SandboxState

_KEY = re.compile(r"(sk|pk)_test_([A-Za-z0-9_]+)")


@dataclass(frozen=True)
class Caller:
    key: str
    publishable: bool
    account: Account  # the account the call acts on
    platform: Account | None  # the platform acting for ``account`` (Stripe-Account header or OAuth token)
    stripe_account_header: str | None


def mask(key: str) -> str:
    return key[:8] + "*" * max(len(key) - 12, 0) + key[-4:] if len(key) > 12 else key[:3] + "***"


def bearer_key(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and value.strip():
        try:
            user = base64.b64decode(value.strip()).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user or None
    return None


def _unauthenticated(message: str) -> StripeError:
    return StripeError(401, message, replayable=False)


def no_access(key: str, account_id: str) -> StripeError:
    return StripeError(
        403,
        f"The provided key '{mask(key)}' does not have access to account '{account_id}' (or that account does "
        "not exist). Application access may have been revoked.",
        code="account_invalid",
        replayable=False,
    )


def resolve_key(state: SandboxState, key: str) -> tuple[Account, Account | None, bool]:
    """(key owner, platform if it is an OAuth access token, publishable?) or a 401."""
    match = _KEY.fullmatch(key)
    if match is None:
        raise _unauthenticated(f"Invalid API Key provided: {mask(key)}")
    kind, token = match.groups()
    link = state.access_tokens.get(token)
    if link is not None:
        platform_id, account_id = link
        return state.accounts[account_id], state.accounts[platform_id], kind == "pk"
    if token.startswith("oauth"):  # a revoked access token must not quietly become a new platform
        raise _unauthenticated(f"Expired API Key provided: {mask(key)}. Application access may have been revoked.")
    return state.account_for_token(token), None, kind == "pk"


def authenticate(request: web.Request, state: SandboxState, form: Form, *, browser: bool) -> Caller:
    key = bearer_key(request)
    if key is None and browser and isinstance(form.get("key"), str):
        key = form["key"]  # Stripe.js sends its publishable key as a parameter
    if key is None:
        raise _unauthenticated(
            "You did not provide an API key. You need to provide your API key in the Authorization header, "
            "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
            "https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/."
        )
    owner, oauth_platform, publishable = resolve_key(state, key)
    if publishable and not browser:
        raise StripeError(
            401,
            "This API call cannot be made with a publishable API key. Please use a secret API key. You can find "
            "a list of your API keys at https://dashboard.stripe.com/account/apikeys.",
            code="secret_key_required",
            replayable=False,
        )
    header = request.headers.get("Stripe-Account")
    if header is None and browser and isinstance(form.get("_stripe_account"), str):
        header = form["_stripe_account"]
    if header and header != owner.id:
        target = state.connected_account(owner.id, header)
        if target is None:
            raise no_access(key, header)
        return Caller(key, publishable, target, owner, header)
    return Caller(key, publishable, owner, oauth_platform, header or None)
