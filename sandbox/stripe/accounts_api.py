"""``POST /v1/accounts`` and ``POST /v1/account_links``: accounts a platform makes itself, onboarded on the hosted
onboarding page (``onboarding_page``) through single-use, expiring Account Links.

An account made here starts as Stripe's do: it can't take payments or receive payouts, and its ``requirements``
list what onboarding must collect (``currently_due`` and, since nothing has been collected yet, ``past_due`` with
``disabled_reason: requirements.past_due``). Each change to what is due is one ``account.updated`` event with
``previous_attributes``, told to the platform's Connect endpoints as Stripe tells them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import stripe.params as sp
from aiohttp import web

from . import objects, params
from .api import Call, endpoint
from .appkeys import STATE
from .auth import no_access
from .currencies import SUPPORTED
from .errors import invalid, missing_parameter
from .events import emit
from .ids import random_token
from .state import Account, SandboxState, now

JSON = dict[str, Any]

ACCOUNT_CREATE = params.accepted(sp.AccountCreateParams)
ACCOUNT_LINK_CREATE = params.accepted(sp.AccountLinkCreateParams)

# Stripe's links last a few minutes; the page a visit opens stays usable for a while after that.
LINK_LIFETIME = 300
PAGE_LIFETIME = 3600

# What onboarding collects from a new account, in the order the page asks (a company in Australia, trimmed).
ONBOARDING_REQUIREMENTS = (
    "business_type",
    "business_profile.url",
    "representative.first_name",
    "representative.last_name",
    "representative.dob.day",
    "external_account",
    "tos_acceptance.date",
)
# Stripe's controller for an account that is, in all but name, a standard account: the account pays Stripe's fees,
# Stripe carries the losses and collects the requirements, and the account has the full Stripe dashboard.
STANDARD_CONTROLLER = {
    "fees": {"payer": "account"},
    "losses": {"payments": "stripe"},
    "requirement_collection": "stripe",
    "stripe_dashboard": {"type": "full"},
}
COUNTRY_CURRENCY = {"AU": "aud", "NZ": "nzd", "GB": "gbp", "US": "usd", "CA": "cad", "IE": "eur", "SG": "sgd"}


@dataclass
class AccountLink:
    token: str
    account_id: str
    platform_id: str
    type: str
    refresh_url: str
    return_url: str
    created: int
    expires_at: int
    visited_at: int | None = None
    page_nonce: str | None = None
    submitted: bool = False

    def usable(self, at: int) -> bool:
        return self.visited_at is None and at < self.expires_at


def requirements(currently_due: list[str], *, past_due: bool, eventually_due: list[str] | None = None) -> JSON:
    due = list(dict.fromkeys(currently_due))
    return {
        "currently_due": due,
        "past_due": list(due) if past_due else [],
        "eventually_due": list(dict.fromkeys([*due, *(eventually_due or [])])),
        "pending_verification": [],
        "errors": [],
        "alternatives": [],
        "current_deadline": None if past_due or not due else now() + 7 * 86400,
        "disabled_reason": "requirements.past_due" if past_due and due else None,
    }


def change_account(state: SandboxState, account: Account, mutate: Callable[[Account], None]) -> JSON:
    """Apply ``mutate``; if the account's object changed, one ``account.updated`` with what it was before."""
    before = objects.account(account)
    mutate(account)
    due = (account.requirements or {}).get("past_due") or []
    account.charges_enabled = account.payouts_enabled = not due
    # Once onboarding is submitted it stays submitted, even when Stripe asks for more later.
    account.details_submitted = account.details_submitted or not (account.requirements or {}).get("currently_due")
    after = objects.account(account)
    previous = {key: before[key] for key in after if before[key] != after[key]}
    if previous:
        emit(state, account, "account.updated", after, previous=previous)
    return after


def set_requirements(state: SandboxState, account: Account, value: JSON) -> JSON:
    def apply(acct: Account) -> None:
        acct.requirements = value

    return change_account(state, account, apply)


def still_due(account: Account) -> list[str]:
    return list((account.requirements or {}).get("currently_due") or [])


# --- POST /v1/accounts -------------------------------------------------------------------------------------


@endpoint(ACCOUNT_CREATE)
def create_account(call: Call) -> JSON:
    form = call.form
    if call.caller.stripe_account_header:
        raise invalid("You cannot create accounts on behalf of a connected account.")
    kind = params.string(form, "type")
    controller = form.get("controller")
    if kind is None and not isinstance(controller, dict):
        raise invalid("You must provide either `type` or `controller` when creating an account.", param="type")
    if kind is not None and controller is not None:
        raise invalid("You cannot provide both `type` and `controller`.", param="controller")
    if kind is not None and kind != "standard":
        raise invalid(
            f"The sandbox makes standard accounts only (type=standard or the equivalent controller), not '{kind}'.",
            param="type",
        )
    if isinstance(controller, dict):
        _check_controller(controller)
    country = (params.string(form, "country") or "AU").upper()
    if country not in COUNTRY_CURRENCY:
        raise invalid(f"Country '{country}' is unknown to the sandbox.", param="country")
    currency = (params.string(form, "default_currency") or COUNTRY_CURRENCY[country]).lower()
    if currency not in SUPPORTED:
        raise invalid(f"Invalid currency: {currency}.", param="default_currency")
    profile = form.get("business_profile")
    name = profile.get("name") if isinstance(profile, dict) else None
    account = call.state.create_account(
        business_name=str(name)[:100] if name else "",
        country=country,
        currency=currency,
        email=params.string(form, "email"),
    )
    account.business_name = account.business_name or None
    account.made_on_oauth_page = False  # the platform made it: it isn't offered on other platforms' consent pages
    account.created_by = call.account.id
    account.controller = {"is_controller": True, "type": "application", **copy.deepcopy(STANDARD_CONTROLLER)}
    needed = list(ONBOARDING_REQUIREMENTS) if account.business_name else ["company.name", *ONBOARDING_REQUIREMENTS]
    account.requirements = requirements(needed, past_due=True)
    account.charges_enabled = account.payouts_enabled = account.details_submitted = False
    call.state.connect(call.account.id, account.id)
    return objects.account(account)


def _check_controller(controller: JSON) -> None:
    fees = (controller.get("fees") or {}).get("payer")
    dashboard = (controller.get("stripe_dashboard") or {}).get("type")
    if dashboard not in (None, "full"):
        raise invalid(
            "The sandbox makes accounts with the full Stripe dashboard only (controller[stripe_dashboard][type]=full).",
            param="controller[stripe_dashboard][type]",
        )
    if fees not in (None, "account"):
        raise invalid(
            "Accounts with the full Stripe dashboard pay their own fees (controller[fees][payer]=account).",
            param="controller[fees][payer]",
        )


# --- POST /v1/account_links --------------------------------------------------------------------------------


@endpoint(ACCOUNT_LINK_CREATE)
def create_account_link(call: Call) -> JSON:
    form = call.form
    account_id = params.string(form, "account")
    if not account_id:
        raise missing_parameter("account")
    kind = params.string(form, "type")
    if not kind:
        raise missing_parameter("type")
    if kind not in ("account_onboarding", "account_update"):
        raise invalid("Invalid type: must be one of account_onboarding or account_update", param="type")
    target = call.state.connected_account(call.account.id, account_id)
    if target is None:
        raise no_access(call.caller.key, account_id)
    if target.created_by != call.account.id:
        raise invalid(
            "You can only create Account Links for accounts your platform created with the API.", param="account"
        )
    if kind == "account_update":
        raise invalid(
            "You cannot create `account_update` type Account Links for accounts with access to a Stripe-hosted "
            "Dashboard. Use `account_onboarding` instead.",
            param="type",
        )
    urls = {}
    for name in ("refresh_url", "return_url"):
        value = params.string(form, name)
        if not value:
            raise missing_parameter(name)
        if not value.startswith(("http://", "https://")):
            raise invalid("Not a valid URL", param=name)
        urls[name] = value
    created = now()
    link = AccountLink(
        token=random_token(12),
        account_id=target.id,
        platform_id=call.account.id,
        type=kind,
        refresh_url=urls["refresh_url"],
        return_url=urls["return_url"],
        created=created,
        expires_at=created + LINK_LIFETIME,
    )
    call.state.account_links[link.token] = link
    return {
        "object": "account_link",
        "created": link.created,
        "expires_at": link.expires_at,
        "url": f"{call.base_url}/setup/s/{target.id}/{link.token}",
    }


def find_link(state: SandboxState, account_id: str, token: str) -> AccountLink | None:
    link = state.account_links.get(token)
    if not isinstance(link, AccountLink) or link.account_id != account_id:
        return None
    return link


def expire_links(state: SandboxState, account_id: str) -> int:
    """Test control: every unvisited link of the account expires now, as if its minutes had run out."""
    count = 0
    for link in state.account_links.values():
        if isinstance(link, AccountLink) and link.account_id == account_id and link.visited_at is None:
            link.expires_at = min(link.expires_at, now() - 1)
            count += 1
    return count


# --- Test controls (``/_sandbox/``, JSON, no key) ----------------------------------------------------------


async def _control_body(request: web.Request) -> JSON:
    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": {"message": "The body must be a JSON object."}}), content_type="application/json"
        )
    return body


def _control_error(message: str, kind: type[web.HTTPClientError] = web.HTTPBadRequest) -> web.HTTPClientError:
    return kind(text=json.dumps({"error": {"message": message}}), content_type="application/json")


async def requirements_control(request: web.Request) -> web.Response:
    """``{"currently_due": [...], "past_due": bool, "eventually_due": [...]}``: what Stripe needs from the account
    from now on, as when Stripe asks for more after the account has been taking payments. ``past_due: true`` stops
    charges and payouts (``disabled_reason: requirements.past_due``); false gives a deadline a week away."""
    body = await _control_body(request)
    state = request.app[STATE]
    account = state.accounts.get(request.match_info["id"])
    if account is None:
        raise _control_error("No such account.", web.HTTPNotFound)
    due, overdue, later = body.get("currently_due", []), body.get("past_due", False), body.get("eventually_due", [])
    if not isinstance(due, list) or not all(isinstance(item, str) and item for item in due):
        raise _control_error("currently_due must be a list of requirement names such as external_account.")
    if not isinstance(later, list) or not all(isinstance(item, str) and item for item in later):
        raise _control_error("eventually_due must be a list of requirement names.")
    if not isinstance(overdue, bool):
        raise _control_error("past_due must be true or false.")
    return web.json_response(
        set_requirements(state, account, requirements(due, past_due=overdue, eventually_due=later))
    )


async def expire_links_control(request: web.Request) -> web.Response:
    """``{"account": "acct_…"}``: the account's unvisited Account Links expire now."""
    body = await _control_body(request)
    account_id = body.get("account")
    if not isinstance(account_id, str) or account_id not in request.app[STATE].accounts:
        raise _control_error("account must be the id of a sandbox account.")
    return web.json_response({"expired": expire_links(request.app[STATE], account_id)})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/accounts", create_account)
    app.router.add_post("/v1/account_links", create_account_link)
    app.router.add_post("/_sandbox/accounts/{id}/requirements", requirements_control)
    app.router.add_post("/_sandbox/account_links/expire", expire_links_control)
