"""The 3-D Secure challenge's outcome: ``POST /_sandbox/3ds/{pi}/complete`` and ``…/fail``.

The Stripe.js stand-in calls these from its challenge dialog with the publishable key and the intent's client
secret; tests may call them directly. Both answer the PaymentIntent as it now stands.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import payment_flow
from .api import Call, endpoint, lookup
from .errors import missing_parameter, no_such, unexpected_state

JSON = dict[str, Any]

_ACCEPTED = frozenset({"client_secret", "key", "_stripe_account", "expand"})


def _intent_awaiting_challenge(call: Call) -> JSON:
    pi_id = call.request.match_info["id"]
    pi = lookup(call.account.payment_intents, pi_id, "payment_intent", param="intent")
    client_secret = call.form.get("client_secret")
    if not client_secret:
        raise missing_parameter("client_secret")
    if client_secret != pi["client_secret"]:
        raise no_such("payment_intent", pi_id, param="client_secret")
    if pi["status"] != "requires_action":
        raise unexpected_state(
            f"This PaymentIntent has a status of {pi['status']}; only one in requires_action can be authenticated.",
            pi,
        )
    return pi


@endpoint(_ACCEPTED, browser=True)
def complete(call: Call) -> JSON:
    pi = _intent_awaiting_challenge(call)
    payment_flow.complete_authentication(call, pi)
    return pi


@endpoint(_ACCEPTED, browser=True)
def fail(call: Call) -> JSON:
    pi = _intent_awaiting_challenge(call)
    payment_flow.fail_authentication(call, pi)
    return pi


def add_routes(app: web.Application) -> None:
    app.router.add_post("/_sandbox/3ds/{id}/complete", complete)
    app.router.add_post("/_sandbox/3ds/{id}/fail", fail)
