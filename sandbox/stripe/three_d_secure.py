"""The 3-D Secure challenge's outcome, for PaymentIntents and SetupIntents alike.

``POST /_sandbox/3ds/{intent}/complete`` and ``…/fail``: the Stripe.js stand-in calls these from its challenge
dialog with the publishable key and the intent's client secret; tests may call them directly. Both answer the
intent as it now stands.

``GET /_sandbox/3ds/{intent}?client_secret=…&return_url=…``: the page a ``redirect_to_url`` next action sends the
customer to (a server-side confirm with a ``return_url``); choosing an outcome there sends them back to the
``return_url`` with the intent's id, client secret and ``redirect_status``, as Stripe does.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from . import payment_flow, setup_intents
from .api import Call, endpoint, lookup
from .appkeys import CONFIG, REQUEST_ID, STATE
from .auth import Caller
from .errors import StripeError, missing_parameter, no_such, unexpected_state
from .state import Account

JSON = dict[str, Any]

_ACCEPTED = frozenset({"client_secret", "key", "_stripe_account", "expand"})


def _intent_awaiting_challenge(call: Call) -> JSON:
    intent_id = call.request.match_info["id"]
    setup = intent_id.startswith("seti_")
    collection = call.account.setup_intents if setup else call.account.payment_intents
    intent = lookup(collection, intent_id, "setup_intent" if setup else "payment_intent", param="intent")
    client_secret = call.form.get("client_secret")
    if not client_secret:
        raise missing_parameter("client_secret")
    if client_secret != intent["client_secret"]:
        raise no_such("setup_intent" if setup else "payment_intent", intent_id, param="client_secret")
    if intent["status"] != "requires_action":
        message = f"This intent has a status of {intent['status']}; only one in requires_action can be authenticated."
        if setup:
            raise StripeError(400, message, code="setup_intent_unexpected_state", extra={"setup_intent": intent})
        raise unexpected_state(message, intent)
    return intent


def _finish(call: Call, intent: JSON, passed: bool) -> None:
    if intent["object"] == "setup_intent":
        if passed:
            setup_intents.succeed(call, intent)
        else:
            setup_intents.fail_authentication(call, intent)
    elif passed:
        payment_flow.complete_authentication(call, intent)
    else:
        payment_flow.fail_authentication(call, intent)


@endpoint(_ACCEPTED, browser=True)
def complete(call: Call) -> JSON:
    intent = _intent_awaiting_challenge(call)
    _finish(call, intent, True)
    return intent


@endpoint(_ACCEPTED, browser=True)
def fail(call: Call) -> JSON:
    intent = _intent_awaiting_challenge(call)
    _finish(call, intent, False)
    return intent


# --- The redirect flow's page -----------------------------------------------------------------------------------


def _owner(request: web.Request, intent_id: str) -> tuple[Account, JSON]:
    for account in request.app[STATE].accounts.values():
        intent = account.setup_intents.get(intent_id) or account.payment_intents.get(intent_id)
        if intent is not None:
            return account, intent
    raise web.HTTPNotFound(text="No such intent.")


def _page_call(request: web.Request, account: Account, client_secret: str) -> Call:
    """A call acting for the account that owns the intent, as the page's own requests would."""
    state = request.app[STATE]
    platforms = state.platforms_of(account.id)
    platform = state.accounts.get(platforms[0]) if platforms else None
    caller = Caller(account.publishable_key, True, account, platform, None)
    form = {"client_secret": client_secret}
    return Call(request, state, request.app[CONFIG], caller, form, request.get(REQUEST_ID, ""), None)


def _return_address(return_url: str, intent: JSON) -> str:
    kind = "setup_intent" if intent["object"] == "setup_intent" else "payment_intent"
    status = intent["status"]
    redirect_status = "succeeded" if status in ("succeeded", "requires_capture") else "failed"
    if status == "processing":
        redirect_status = "pending"
    query = urlencode(
        {kind: intent["id"], f"{kind}_client_secret": intent["client_secret"], "redirect_status": redirect_status}
    )
    return f"{return_url}{'&' if urlsplit(return_url).query else '?'}{query}"


async def redirect_page(request: web.Request) -> web.Response:
    _, intent = _owner(request, request.match_info["id"])
    secret, return_url = request.query.get("client_secret", ""), request.query.get("return_url", "")
    if secret != intent["client_secret"] or urlsplit(return_url).scheme not in ("http", "https"):
        raise web.HTTPBadRequest(text="This authentication link is incomplete.")
    fields = (
        f'<input type="hidden" name="client_secret" value="{escape(secret)}">'
        f'<input type="hidden" name="return_url" value="{escape(return_url)}">'
    )
    body = (
        "<!doctype html><html lang=en><meta charset=utf-8><title>3D Secure test authentication</title>"
        "<main><h1>3D Secure test authentication</h1><p>The sandbox's stand-in for the bank's page.</p>"
        f'<form method="post">{fields}'
        '<button name="action" value="complete" data-testid="3ds-complete">Complete authentication</button> '
        '<button name="action" value="fail" data-testid="3ds-fail">Fail authentication</button></form></main>'
    )
    return web.Response(text=body, content_type="text/html")


async def redirect_submit(request: web.Request) -> web.Response:
    account, intent = _owner(request, request.match_info["id"])
    form = await request.post()
    secret, return_url, action = (str(form.get(name, "")) for name in ("client_secret", "return_url", "action"))
    if secret != intent["client_secret"] or urlsplit(return_url).scheme not in ("http", "https"):
        raise web.HTTPBadRequest(text="This authentication link is incomplete.")
    if intent["status"] == "requires_action" and action in ("complete", "fail"):
        _finish(_page_call(request, account, secret), intent, action == "complete")
    raise web.HTTPFound(_return_address(return_url, intent))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/_sandbox/3ds/{id}/complete", complete)
    app.router.add_post("/_sandbox/3ds/{id}/fail", fail)
    app.router.add_get("/_sandbox/3ds/{id}", redirect_page)
    app.router.add_post("/_sandbox/3ds/{id}", redirect_submit)
