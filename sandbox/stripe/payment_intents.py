"""``/v1/payment_intents``: create, retrieve, update, confirm, capture, cancel, list."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from . import customers, objects, params, payment_flow, payment_methods, spec
from .api import Call, endpoint, lookup
from .currencies import validate_amount, validate_currency
from .errors import StripeError, invalid, missing_parameter, unexpected_state
from .events import emit
from .forms import Form
from .pagination import paginate
from .state import now

JSON = dict[str, Any]

_CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
_CANCELABLE = ("requires_payment_method", "requires_capture", "requires_confirmation", "requires_action", "processing")
_CAPTURE_METHODS = ("automatic", "automatic_async", "manual")
_THREE_D_SECURE = ("automatic", "any", "challenge")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

RETURN_URL_REQUIRED = (
    "This PaymentIntent is configured to accept payment methods enabled in your Dashboard, because "
    "`automatic_payment_methods[enabled]` is set to `true`. Some of these payment methods might redirect your "
    "customer off of your page, so you must provide a `return_url` when confirming. If you don't want to accept "
    "redirect-based payment methods, set `automatic_payment_methods[enabled]` to `true` and "
    "`automatic_payment_methods[allow_redirects]` to `never` when creating Setup Intents and Payment Intents."
)


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


def _automatic_payment_methods(call: Call, types: list[str] | None) -> JSON | None:
    value = params.hash_param(call.form, "automatic_payment_methods")
    if value is None:
        return None if types is not None else {"enabled": True}  # enabled by default since 2023-08-16
    if types is not None:
        raise invalid(
            "You may only specify one of these parameters: automatic_payment_methods, payment_method_types.",
            param="automatic_payment_methods",
        )
    enabled = params.boolean(value, "enabled")
    if enabled is None:
        raise missing_parameter("automatic_payment_methods[enabled]")
    result: JSON = {"enabled": enabled}
    redirects = params.choice(value, "allow_redirects", ("always", "never"))
    if redirects is not None:
        result["allow_redirects"] = redirects
    return result if enabled else None


def payment_method_types(call: Call) -> list[str] | None:
    types = params.string_list(call.form, "payment_method_types")
    if types is None:
        return None
    if not types:
        raise invalid("Invalid array", param="payment_method_types")
    for index, kind in enumerate(types):
        if kind != "card":
            raise invalid(
                f"The payment method type provided: {kind} is invalid. The offline Stripe sandbox takes card "
                "payments only.",
                param=f"payment_method_types[{index}]",
            )
    return types


def three_d_secure_option(call: Call) -> str | None:
    """``payment_method_options[card][request_three_d_secure]``, the one option the sandbox implements."""
    options = params.hash_param(call.form, "payment_method_options")
    card = params.hash_param(options or {}, "card")
    if card is None:
        return None
    value = card.get("request_three_d_secure")
    if value is None:
        return None
    if value not in _THREE_D_SECURE:
        raise invalid(
            "Invalid payment_method_options[card][request_three_d_secure]: must be one of automatic, any, or challenge",
            param="payment_method_options[card][request_three_d_secure]",
        )
    return str(value)


def off_session(form: Form) -> bool:
    value = form.get("off_session")
    if value in ("one_off", "recurring"):
        return True
    return params.boolean(form, "off_session") or False


def _shipping(call: Call) -> JSON | None:
    value = params.hash_param(call.form, "shipping")
    if value is None:
        return None
    if value == {}:
        return None
    if not value.get("name"):
        raise missing_parameter("shipping[name]")
    address = params.hash_param(value, "address") or {}
    return {
        "address": {key: address.get(key) for key in ("city", "country", "line1", "line2", "postal_code", "state")},
        "carrier": value.get("carrier"),
        "name": value["name"],
        "phone": value.get("phone"),
        "tracking_number": value.get("tracking_number"),
    }


def _check_customer_owns(call: Call, pi: JSON, pm: JSON) -> None:
    """A saved payment method is used with the customer it is attached to, as Stripe insists."""
    owner = pm["customer"]
    if owner is None:
        return
    if pi["customer"] is None:
        raise invalid(
            f"The provided PaymentMethod {pm['id']} is attached to a Customer; pass that Customer's id as "
            "`customer` to use it.",
            param="payment_method",
        )
    if owner != pi["customer"]:
        raise invalid(
            f"The provided PaymentMethod {pm['id']} does not belong to the Customer {pi['customer']}.",
            param="payment_method",
        )


def _confirm_with_params(call: Call, pi: JSON) -> None:
    form = call.form
    unattended = off_session(form)
    return_url = params.string(form, "return_url")
    error_on_requires_action = params.boolean(form, "error_on_requires_action") or False
    apm = pi["automatic_payment_methods"]
    if apm and error_on_requires_action:
        raise invalid(
            "error_on_requires_action cannot be used with automatic_payment_methods; list payment_method_types "
            "instead.",
            param="error_on_requires_action",
        )
    if apm and apm.get("allow_redirects") != "never" and not return_url and not unattended:
        raise invalid(RETURN_URL_REQUIRED)
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
    _check_customer_owns(call, pi, pm)
    payment_methods.check_reusable(call, pm)
    payment_flow.confirm(
        call,
        pi,
        pm,
        off_session=unattended,
        error_on_requires_action=error_on_requires_action,
        return_url=return_url,
        use_stripe_sdk=params.boolean(form, "use_stripe_sdk") or False,
    )


@endpoint(spec.PI_CREATE)
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
    confirm_now = params.boolean(form, "confirm") or False
    if "off_session" in form and not confirm_now:
        raise invalid("off_session can only be used when confirm=true.", param="off_session")
    customer = params.string(form, "customer")
    if customer:
        customers.find(call, customer, param="customer")
    types = payment_method_types(call)
    pi = objects.payment_intent(
        amount=amount,
        currency=currency,
        capture_method=params.choice(form, "capture_method", _CAPTURE_METHODS) or "automatic_async",
        confirmation_method=params.choice(form, "confirmation_method", ("automatic", "manual")) or "automatic",
        description=params.nullable_string(form, "description"),
        metadata=params.metadata(form) or {},
        receipt_email=_receipt_email(call),
        application_fee_amount=_application_fee(call, amount),
        automatic_payment_methods=_automatic_payment_methods(call, types),
        payment_method_types=types or ["card"],
        statement_descriptor=statement_descriptor,
        statement_descriptor_suffix=params.nullable_string(form, "statement_descriptor_suffix"),
        setup_future_usage=params.choice(form, "setup_future_usage", ("on_session", "off_session")),
        transfer_group=params.nullable_string(form, "transfer_group"),
        customer=customer or None,
        shipping=_shipping(call),
        request_three_d_secure=three_d_secure_option(call) or "automatic",
    )
    pm = None if confirm_now else payment_methods.from_params(call)
    if pm is not None:
        pi.update(payment_method=pm["id"], status="requires_confirmation")
    call.account.payment_intents[pi["id"]] = pi
    emit(call.state, call.account, "payment_intent.created", pi, call=call)
    if confirm_now:
        _confirm_with_params(call, pi)
    return pi


@endpoint(spec.PI_RETRIEVE, browser=True)
def retrieve(call: Call) -> JSON:
    return _find(call)


@endpoint(spec.PI_UPDATE)
def update(call: Call) -> JSON:
    pi = _find(call)
    form = call.form
    changes: JSON = {}
    for name in ("amount", "currency", "payment_method", "capture_method", "application_fee_amount", "customer"):
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
    for name in ("description", "statement_descriptor", "statement_descriptor_suffix", "transfer_group"):
        if name in form:
            changes[name] = params.nullable_string(form, name)
    if "receipt_email" in form:
        changes["receipt_email"] = _receipt_email(call)
    if "customer" in form:
        customer = params.nullable_string(form, "customer")
        if customer:
            customers.find(call, customer, param="customer")
        changes["customer"] = customer
    if "shipping" in form:
        changes["shipping"] = _shipping(call)
    if "setup_future_usage" in form:
        changes["setup_future_usage"] = params.choice(form, "setup_future_usage", ("on_session", "off_session"))
    three_d_secure = three_d_secure_option(call)
    if three_d_secure is not None:
        changes["payment_method_options"] = {
            "card": {**pi["payment_method_options"]["card"], "request_three_d_secure": three_d_secure}
        }
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


@endpoint(spec.PI_CONFIRM, browser=True)
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
    if "setup_future_usage" in call.form:
        pi["setup_future_usage"] = params.choice(call.form, "setup_future_usage", ("on_session", "off_session"))
    if "shipping" in call.form:
        pi["shipping"] = _shipping(call)
    three_d_secure = three_d_secure_option(call)
    if three_d_secure is not None:
        pi["payment_method_options"]["card"]["request_three_d_secure"] = three_d_secure
    _confirm_with_params(call, pi)
    return pi


@endpoint(spec.PI_CANCEL)
def cancel(call: Call) -> JSON:
    pi = _find(call)
    reason = params.choice(
        call.form, "cancellation_reason", ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
    )
    _expire_if_due(call, pi)
    if pi["status"] not in _CANCELABLE:
        raise unexpected_state(
            f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}. Only a "
            "PaymentIntent with one of the following statuses may be canceled: " + ", ".join(_CANCELABLE) + ".",
            pi,
        )
    payment_flow.cancel(call, pi, reason)
    return pi


def _expire_if_due(call: Call, pi: JSON) -> None:
    """A hold past ``capture_before`` has expired even if its timer has not run yet."""
    if pi["status"] != "requires_capture":
        return
    charge = call.account.charges[pi["latest_charge"]]
    capture_before = charge["payment_method_details"]["card"].get("capture_before")
    if capture_before is not None and now() >= capture_before:
        payment_flow.expire(call.state, call.account, pi, charge["id"])


@endpoint(spec.PI_CAPTURE)
def capture(call: Call) -> JSON:
    pi = _find(call)
    _expire_if_due(call, pi)
    if pi["status"] != "requires_capture":
        raise unexpected_state(
            f"This PaymentIntent could not be captured because it has a status of {pi['status']}. Only a "
            "PaymentIntent with one of the following statuses may be captured: requires_capture.",
            pi,
        )
    if params.boolean(call.form, "final_capture") is False:
        raise invalid(
            "final_capture=false needs multicapture, which the sandbox's cards don't offer: capture once, for the "
            "final amount.",
            param="final_capture",
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
    for name in ("statement_descriptor", "statement_descriptor_suffix"):
        if name in call.form:
            pi[name] = params.nullable_string(call.form, name)
    new_metadata = params.metadata(call.form, pi["metadata"])
    if new_metadata is not None:
        pi["metadata"] = new_metadata
    payment_flow.capture(call, pi, amount)
    return pi


@endpoint(spec.PI_LIST)
def list_intents(call: Call) -> JSON:
    items = list(reversed(call.account.payment_intents.values()))
    customer = params.string(call.form, "customer")
    if customer:
        items = [pi for pi in items if pi["customer"] == customer]
    return paginate(call, items, "/v1/payment_intents", "payment_intent")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/payment_intents", create)
    app.router.add_get("/v1/payment_intents", list_intents)
    app.router.add_get("/v1/payment_intents/{id}", retrieve)
    app.router.add_post("/v1/payment_intents/{id}", update)
    app.router.add_post("/v1/payment_intents/{id}/confirm", confirm)
    app.router.add_post("/v1/payment_intents/{id}/cancel", cancel)
    app.router.add_post("/v1/payment_intents/{id}/capture", capture)
