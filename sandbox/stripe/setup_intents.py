"""``/v1/setup_intents``: save a card for later, with the customer's consent, on the account the call acts on.

Confirming checks the card with its bank: a card that asks its holder to authenticate does so now (and, if it asks
only once, not again for off-session payments); a card that is declined outright can't be saved; a card whose
trouble is only at charge time (insufficient funds) saves fine and fails later, as on Stripe.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import customers, params, payment_flow, payment_intents, payment_methods, spec
from .api import Call, endpoint, lookup
from .errors import StripeError, invalid, missing_parameter
from .events import emit
from .ids import new_id, random_token
from .pagination import paginate
from .state import now

JSON = dict[str, Any]

_CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
_USAGES = ("off_session", "on_session")


def _unexpected_state(message: str, si: JSON) -> StripeError:
    return StripeError(400, message, code="setup_intent_unexpected_state", extra={"setup_intent": si})


def _new(call: Call) -> JSON:
    form = call.form
    si_id = new_id("seti")
    types = payment_intents.payment_method_types(call)
    apm = params.hash_param(form, "automatic_payment_methods")
    automatic: JSON | None = None if types is not None else {"enabled": True}
    if apm is not None:
        if types is not None:
            raise invalid(
                "You may only specify one of these parameters: automatic_payment_methods, payment_method_types.",
                param="automatic_payment_methods",
            )
        enabled = params.boolean(apm, "enabled")
        if enabled is None:
            raise missing_parameter("automatic_payment_methods[enabled]")
        automatic = {"enabled": True} if enabled else None
        redirects = params.choice(apm, "allow_redirects", ("always", "never"))
        if automatic is not None and redirects is not None:
            automatic["allow_redirects"] = redirects
    customer = params.string(form, "customer")
    if customer:
        customers.find(call, customer, param="customer")
    return {
        "id": si_id,
        "object": "setup_intent",
        "application": call.caller.platform.client_id if call.caller.platform is not None else None,
        "automatic_payment_methods": automatic,
        "cancellation_reason": None,
        "client_secret": f"{si_id}_secret_{random_token(25)}",
        "created": now(),
        "customer": customer or None,
        "description": params.nullable_string(form, "description"),
        "excluded_payment_method_types": None,
        "flow_directions": None,
        "last_setup_error": None,
        "latest_attempt": None,
        "livemode": False,
        "mandate": None,
        "metadata": params.metadata(form) or {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": payment_intents.three_d_secure_option(call) or "automatic",
            }
        },
        "payment_method_types": types or ["card"],
        "single_use_mandate": None,
        "status": "requires_payment_method",
        "usage": params.choice(form, "usage", _USAGES) or "off_session",
    }


def _find(call: Call) -> JSON:
    si = lookup(call.account.setup_intents, call.request.match_info["id"], "setup_intent", param="intent")
    client_secret = params.string(call.form, "client_secret")
    if call.caller.publishable and not client_secret:
        raise missing_parameter("client_secret")
    if client_secret and client_secret != si["client_secret"]:
        raise invalid(
            "The client_secret provided does not match the client_secret associated with the SetupIntent.",
            param="client_secret",
        )
    return si


def _confirm(call: Call, si: JSON) -> None:
    form = call.form
    return_url = params.string(form, "return_url")
    apm = si["automatic_payment_methods"]
    if apm and apm.get("allow_redirects") != "never" and not return_url:
        raise invalid(payment_intents.RETURN_URL_REQUIRED.replace("PaymentIntent", "SetupIntent"))
    pm = payment_methods.from_params(call)
    if pm is None and si["payment_method"]:
        pm = call.account.payment_methods[si["payment_method"]]
    if pm is None:
        raise _unexpected_state(
            "You cannot confirm this SetupIntent because it's missing a payment method. Update it with a payment "
            "method, or confirm it again with one.",
            si,
        )
    if pm["customer"] is not None and si["customer"] not in (None, pm["customer"]):
        raise invalid(
            f"The provided PaymentMethod {pm['id']} does not belong to the Customer {si['customer']}.",
            param="payment_method",
        )
    payment_methods.check_reusable(call, pm)
    payment_flow.check_can_charge(call.account)
    card = call.account.cards[pm["id"]]
    si.update(payment_method=pm["id"], last_setup_error=None, next_action=None, latest_attempt=new_id("setatt"))
    requested = si["payment_method_options"]["card"]["request_three_d_secure"]
    if card.asks_authentication or requested in ("any", "challenge"):
        si.update(
            status="requires_action",
            next_action=payment_flow.next_action(
                call, si, pm, return_url=return_url, use_stripe_sdk=params.boolean(form, "use_stripe_sdk") or False
            ),
        )
        emit(call.state, call.account, "setup_intent.requires_action", si, call=call)
        return
    if card.outcome == "decline" and card.setup_declines:
        assert card.decline is not None
        error = StripeError(
            402,
            card.decline.message,
            type="card_error",
            code=card.decline.code,
            decline_code=card.decline.decline_code,
            param=card.decline.param,
            extra={"payment_method": pm},
        )
        si.update(status="requires_payment_method", payment_method=None, last_setup_error=error.body()["error"])
        emit(call.state, call.account, "setup_intent.setup_failed", si, call=call)
        error.extra["setup_intent"] = si
        raise error
    succeed(call, si)


def succeed(call: Call, si: JSON) -> None:
    pm = call.account.payment_methods[si["payment_method"]]
    if si["customer"]:
        customers.save_for_later(call.state, call.account, pm, si["customer"], si["usage"], call=call)
    elif si["usage"] == "off_session":
        call.account.set_up_off_session.add(pm["id"])
    si.update(status="succeeded", next_action=None, last_setup_error=None)
    emit(call.state, call.account, "setup_intent.succeeded", si, call=call)


def fail_authentication(call: Call, si: JSON) -> None:
    pm = call.account.payment_methods[si["payment_method"]]
    si.update(
        status="requires_payment_method",
        next_action=None,
        payment_method=None,
        last_setup_error=StripeError(
            400,
            payment_flow.AUTHENTICATION_FAILED_MESSAGE,
            code="setup_intent_authentication_failure",
            extra={"payment_method": pm},
        ).body()["error"],
    )
    emit(call.state, call.account, "setup_intent.setup_failed", si, call=call)


@endpoint(spec.SI_CREATE)
def create(call: Call) -> JSON:
    si = _new(call)
    confirm_now = params.boolean(call.form, "confirm") or False
    pm = None if confirm_now else payment_methods.from_params(call)
    if pm is not None:
        si.update(payment_method=pm["id"], status="requires_confirmation")
    call.account.setup_intents[si["id"]] = si
    emit(call.state, call.account, "setup_intent.created", si, call=call)
    if confirm_now:
        _confirm(call, si)
    return si


@endpoint(spec.SI_RETRIEVE, browser=True)
def retrieve(call: Call) -> JSON:
    return _find(call)


@endpoint(spec.SI_UPDATE)
def update(call: Call) -> JSON:
    si = _find(call)
    form = call.form
    if "customer" in form:
        if si["customer"] and form["customer"] != si["customer"]:
            raise invalid("You cannot change the customer of a SetupIntent once it has one.", param="customer")
        customer = params.string(form, "customer")
        if customer:
            customers.find(call, customer, param="customer")
            si["customer"] = customer
    if "description" in form:
        si["description"] = params.nullable_string(form, "description")
    new_metadata = params.metadata(form, si["metadata"])
    if new_metadata is not None:
        si["metadata"] = new_metadata
    pm = payment_methods.from_params(call)
    if pm is not None:
        if si["status"] not in _CONFIRMABLE:
            raise _unexpected_state(f"This SetupIntent has a status of {si['status']}; its payment method is set.", si)
        si.update(payment_method=pm["id"], status="requires_confirmation", next_action=None)
    return si


@endpoint(spec.SI_CONFIRM, browser=True)
def confirm(call: Call) -> JSON:
    si = _find(call)
    if si["status"] not in _CONFIRMABLE:
        raise _unexpected_state(
            f"You cannot confirm this SetupIntent because it has a status of {si['status']}. Only a SetupIntent "
            "with one of the following statuses may be confirmed: " + ", ".join(_CONFIRMABLE) + ".",
            si,
        )
    three_d_secure = payment_intents.three_d_secure_option(call)
    if three_d_secure is not None:
        si["payment_method_options"]["card"]["request_three_d_secure"] = three_d_secure
    _confirm(call, si)
    return si


@endpoint(spec.SI_CANCEL)
def cancel(call: Call) -> JSON:
    si = _find(call)
    reason = params.choice(call.form, "cancellation_reason", ("abandoned", "duplicate", "requested_by_customer"))
    if si["status"] not in _CONFIRMABLE:
        raise _unexpected_state(
            f"You cannot cancel this SetupIntent because it has a status of {si['status']}. Only a SetupIntent "
            "with one of the following statuses may be canceled: " + ", ".join(_CONFIRMABLE) + ".",
            si,
        )
    si.update(status="canceled", cancellation_reason=reason, next_action=None)
    emit(call.state, call.account, "setup_intent.canceled", si, call=call)
    return si


@endpoint(spec.SI_LIST)
def list_setup_intents(call: Call) -> JSON:
    items = list(reversed(call.account.setup_intents.values()))
    for name in ("customer", "payment_method"):
        wanted = params.string(call.form, name)
        if wanted:
            items = [si for si in items if si[name] == wanted]
    return paginate(call, items, "/v1/setup_intents", "setup_intent")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/setup_intents", create)
    app.router.add_get("/v1/setup_intents", list_setup_intents)
    app.router.add_get("/v1/setup_intents/{id}", retrieve)
    app.router.add_post("/v1/setup_intents/{id}", update)
    app.router.add_post("/v1/setup_intents/{id}/confirm", confirm)
    app.router.add_post("/v1/setup_intents/{id}/cancel", cancel)
