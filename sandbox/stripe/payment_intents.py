"""``/v1/payment_intents``: create, retrieve, update, confirm, capture, cancel, list."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from . import objects, params, payment_flow, payment_methods
from .api import Call, endpoint, lookup
from .currencies import validate_amount, validate_currency
from .errors import StripeError, invalid, missing_parameter, unexpected_state
from .events import emit
from .pagination import paginate

JSON = dict[str, Any]

_CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
_CANCELABLE = ("requires_payment_method", "requires_capture", "requires_confirmation", "requires_action", "processing")
_CAPTURE_METHODS = ("automatic", "automatic_async", "manual")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _find(call: Call) -> JSON:
    pi = lookup(call.account.payment_intents, call.request.match_info["id"], "payment_intent", param="intent")
    client_secret = params.string(call.form, "client_secret")
    if call.caller.publishable and not client_secret:
        raise missing_parameter("client_secret")
    if client_secret and client_secret != pi["client_secret"]:
        raise invalid(
            "The client_secret provided does not match the client_secret associated with the PaymentIntent.",
            param="client_secret",
        )
    return pi


def _receipt_email(call: Call) -> str | None:
    email = params.nullable_string(call.form, "receipt_email")
    if email is not None and not _EMAIL.fullmatch(email):
        raise invalid(f"Invalid email address: {email}", param="receipt_email", code="email_invalid")
    return email


def _application_fee(call: Call, amount: int) -> int | None:
    fee = params.integer(call.form, "application_fee_amount", minimum=0)
    if fee is None:
        return None
    if call.caller.platform is None:
        raise invalid(
            "Can only apply an application_fee_amount when the PaymentIntent is attempting a direct payment "
            "(using an OAuth key or Stripe-Account header) or destination payment (using "
            "`transfer_data[destination]`).",
            param="application_fee_amount",
        )
    if fee > amount:
        raise invalid("The application fee amount cannot be greater than the amount.", param="application_fee_amount")
    return fee


def _automatic_payment_methods(call: Call) -> JSON | None:
    value = params.hash_param(call.form, "automatic_payment_methods", keys=("enabled", "allow_redirects"))
    if value is None:
        return {"enabled": True}
    enabled = params.boolean(value, "enabled")
    if enabled is None:
        raise missing_parameter("automatic_payment_methods[enabled]")
    result: JSON = {"enabled": enabled}
    redirects = params.choice(value, "allow_redirects", ("always", "never"))
    if redirects is not None:
        result["allow_redirects"] = redirects
    return result if enabled else None


def _confirm_with_params(call: Call, pi: JSON) -> None:
    pm = payment_methods.from_params(call)
    if pm is None and pi["payment_method"]:
        pm = call.account.payment_methods[pi["payment_method"]]
    if pm is None:
        raise unexpected_state(
            "You cannot confirm this PaymentIntent because it's missing a payment method. You can either update "
            "the PaymentIntent with a payment method and then confirm it again, or confirm it again directly "
            "with a payment method.",
            pi,
        )
    payment_flow.confirm(
        call,
        pi,
        pm,
        off_session=params.boolean(call.form, "off_session") or False,
        error_on_requires_action=params.boolean(call.form, "error_on_requires_action") or False,
    )


@endpoint(params.PI_CREATE)
def create(call: Call) -> JSON:
    form = call.form
    amount = params.integer(form, "amount", required=True)
    currency_param = params.string(form, "currency", required=True)
    assert amount is not None and currency_param is not None
    currency = validate_currency(currency_param)
    validate_amount(amount, currency)
    statement_descriptor = params.nullable_string(form, "statement_descriptor")
    if statement_descriptor is not None and len(statement_descriptor) > 22:
        raise invalid("The statement descriptor must be at most 22 characters.", param="statement_descriptor")
    pi = objects.payment_intent(
        amount=amount,
        currency=currency,
        capture_method=params.choice(form, "capture_method", _CAPTURE_METHODS) or "automatic_async",
        confirmation_method=params.choice(form, "confirmation_method", ("automatic", "manual")) or "automatic",
        description=params.nullable_string(form, "description"),
        metadata=params.metadata(form) or {},
        receipt_email=_receipt_email(call),
        application_fee_amount=_application_fee(call, amount),
        automatic_payment_methods=_automatic_payment_methods(call),
        payment_method_types=["card"],
        statement_descriptor=statement_descriptor,
        statement_descriptor_suffix=params.nullable_string(form, "statement_descriptor_suffix"),
        setup_future_usage=params.choice(form, "setup_future_usage", ("on_session", "off_session")),
        transfer_group=params.nullable_string(form, "transfer_group"),
    )
    confirm_now = params.boolean(form, "confirm") or False
    pm = None if confirm_now else payment_methods.from_params(call)
    if pm is not None:
        pi.update(payment_method=pm["id"], status="requires_confirmation")
    call.account.payment_intents[pi["id"]] = pi
    emit(call.state, call.account, "payment_intent.created", pi, call=call)
    if confirm_now:
        _confirm_with_params(call, pi)
    return pi


@endpoint(params.PI_RETRIEVE, browser=True)
def retrieve(call: Call) -> JSON:
    return _find(call)


@endpoint(params.PI_UPDATE)
def update(call: Call) -> JSON:
    pi = _find(call)
    form = call.form
    changes: JSON = {}
    for name in ("amount", "currency", "payment_method", "capture_method", "application_fee_amount"):
        if name in form and pi["status"] not in _CONFIRMABLE:
            raise unexpected_state(
                f"This PaymentIntent's {name} could not be updated because it has a status of {pi['status']}. You "
                f"may only update the {name} of a PaymentIntent with one of the following statuses: "
                + ", ".join(_CONFIRMABLE)
                + ".",
                pi,
            )
    currency = validate_currency(form["currency"]) if isinstance(form.get("currency"), str) else pi["currency"]
    amount = params.integer(form, "amount")
    new_amount: int = pi["amount"] if amount is None else amount
    if amount is not None or currency != pi["currency"]:
        changes["amount"] = validate_amount(new_amount, currency)
        changes["currency"] = currency
    if "application_fee_amount" in form:
        changes["application_fee_amount"] = _application_fee(call, new_amount)
    if "description" in form:
        changes["description"] = params.nullable_string(form, "description")
    if "receipt_email" in form:
        changes["receipt_email"] = _receipt_email(call)
    capture_method = params.choice(form, "capture_method", _CAPTURE_METHODS)
    if capture_method is not None:
        changes["capture_method"] = capture_method
    new_metadata = params.metadata(form, pi["metadata"])
    if new_metadata is not None:
        changes["metadata"] = new_metadata
    pm = payment_methods.from_params(call)
    if pm is not None:
        changes.update(payment_method=pm["id"], status="requires_confirmation", next_action=None)
    pi.update(changes)
    return pi


@endpoint(params.PI_CONFIRM, browser=True)
def confirm(call: Call) -> JSON:
    pi = _find(call)
    if pi["status"] not in _CONFIRMABLE:
        raise unexpected_state(
            f"You cannot confirm this PaymentIntent because it has a status of {pi['status']}. Only a "
            "PaymentIntent with one of the following statuses may be confirmed: " + ", ".join(_CONFIRMABLE) + ".",
            pi,
        )
    if "receipt_email" in call.form:
        pi["receipt_email"] = _receipt_email(call)
    capture_method = params.choice(call.form, "capture_method", _CAPTURE_METHODS)
    if capture_method is not None:
        pi["capture_method"] = capture_method
    _confirm_with_params(call, pi)
    return pi


@endpoint(params.PI_CANCEL)
def cancel(call: Call) -> JSON:
    pi = _find(call)
    reason = params.choice(
        call.form, "cancellation_reason", ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
    )
    if pi["status"] not in _CANCELABLE:
        raise unexpected_state(
            f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}. Only a "
            "PaymentIntent with one of the following statuses may be canceled: " + ", ".join(_CANCELABLE) + ".",
            pi,
        )
    payment_flow.cancel(call, pi, reason)
    return pi


@endpoint(params.PI_CAPTURE)
def capture(call: Call) -> JSON:
    pi = _find(call)
    if pi["status"] != "requires_capture":
        raise unexpected_state(
            f"This PaymentIntent could not be captured because it has a status of {pi['status']}. Only a "
            "PaymentIntent with one of the following statuses may be captured: requires_capture.",
            pi,
        )
    amount = params.integer(call.form, "amount_to_capture", minimum=1)
    if amount is None:
        amount = pi["amount_capturable"]
    if amount > pi["amount_capturable"]:
        raise StripeError(
            400,
            "The amount_to_capture must be less than or equal to the amount_capturable.",
            code="amount_too_large",
            param="amount_to_capture",
            replayable=False,
        )
    if "application_fee_amount" in call.form:
        pi["application_fee_amount"] = _application_fee(call, amount)
    new_metadata = params.metadata(call.form, pi["metadata"])
    if new_metadata is not None:
        pi["metadata"] = new_metadata
    payment_flow.capture(call, pi, amount)
    return pi


@endpoint(params.PI_LIST)
def list_intents(call: Call) -> JSON:
    items = list(reversed(call.account.payment_intents.values()))
    return paginate(call, items, "/v1/payment_intents", "payment_intent")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/payment_intents", create)
    app.router.add_get("/v1/payment_intents", list_intents)
    app.router.add_get("/v1/payment_intents/{id}", retrieve)
    app.router.add_post("/v1/payment_intents/{id}", update)
    app.router.add_post("/v1/payment_intents/{id}/confirm", confirm)
    app.router.add_post("/v1/payment_intents/{id}/cancel", cancel)
    app.router.add_post("/v1/payment_intents/{id}/capture", capture)
