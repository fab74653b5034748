"""``/v1/customers`` and the payment methods saved to them (attach, detach, list), on whichever account the call
acts on: a clinic's connected account keeps its own customers, as on Stripe."""

from __future__ import annotations

import copy
import re
from typing import Any

from aiohttp import web

from . import params, payment_methods, spec
from .api import Call, endpoint, lookup
from .cards import TestCard
from .errors import StripeError, invalid, missing_parameter, no_such
from .events import emit
from .ids import new_id, random_token
from .pagination import paginate
from .state import Account, SandboxState, now

JSON = dict[str, Any]

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def find(call: Call, customer_id: str, *, param: str = "customer") -> JSON:
    """A live customer of this account, or Stripe's ``resource_missing`` naming ``param``."""
    customer = call.account.customers.get(customer_id)
    if customer is None or customer.get("deleted"):
        raise no_such("customer", customer_id, param=param)
    return customer


def _fields(call: Call, customer: JSON) -> None:
    form = call.form
    for name in ("description", "name", "phone"):
        if name in form:
            customer[name] = params.nullable_string(form, name)
    if "email" in form:
        email = params.nullable_string(form, "email")
        if email is not None and not _EMAIL.fullmatch(email):
            raise invalid(f"Invalid email address: {email}", param="email", code="email_invalid")
        customer["email"] = email
    settings = params.hash_param(form, "invoice_settings")
    if settings is not None and "default_payment_method" in settings:
        pm_id = settings["default_payment_method"] or None
        if pm_id is not None:
            pm = lookup(
                call.account.payment_methods, pm_id, "PaymentMethod", param="invoice_settings[default_payment_method]"
            )
            if pm["customer"] != customer["id"]:
                raise invalid(
                    f"The customer does not have a payment method with the ID {pm_id}. The payment method must be "
                    "attached to the customer.",
                    param="invoice_settings[default_payment_method]",
                )
        customer["invoice_settings"]["default_payment_method"] = pm_id
    new_metadata = params.metadata(form, customer["metadata"])
    if new_metadata is not None:
        customer["metadata"] = new_metadata


def _new_customer() -> JSON:
    return {
        "id": new_id("cus", 14),
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": now(),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": None,
        "invoice_prefix": random_token(8).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {},
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


@endpoint(spec.CUSTOMER_CREATE)
def create(call: Call) -> JSON:
    customer = _new_customer()
    pm_id = params.string(call.form, "payment_method")
    pm = payment_methods.resolve(call, pm_id, param="payment_method") if pm_id else None
    call.account.customers[customer["id"]] = customer
    if pm is not None:
        attach(call, pm, customer)
    _fields(call, customer)
    emit(call.state, call.account, "customer.created", customer, call=call)
    return customer


@endpoint(spec.CUSTOMER_RETRIEVE)
def retrieve(call: Call) -> JSON:
    return lookup(call.account.customers, call.request.match_info["id"], "customer")


@endpoint(spec.CUSTOMER_UPDATE)
def update(call: Call) -> JSON:
    customer = find(call, call.request.match_info["id"], param="id")
    before = copy.deepcopy(customer)
    _fields(call, customer)
    previous = {key: before[key] for key in customer if before[key] != customer[key]}
    if previous:
        emit(call.state, call.account, "customer.updated", customer, call=call, previous=previous)
    return customer


@endpoint(spec.CUSTOMER_DELETE)
def delete(call: Call) -> JSON:
    customer = find(call, call.request.match_info["id"], param="id")
    for pm in call.account.payment_methods.values():
        if pm["customer"] == customer["id"]:
            pm["customer"] = None
            call.account.set_up_off_session.discard(pm["id"])
    call.account.customers[customer["id"]] = {"id": customer["id"], "object": "customer", "deleted": True}
    emit(call.state, call.account, "customer.deleted", customer, call=call)
    return call.account.customers[customer["id"]]


@endpoint(spec.CUSTOMER_LIST)
def list_customers(call: Call) -> JSON:
    items = [c for c in reversed(call.account.customers.values()) if not c.get("deleted")]
    email = params.string(call.form, "email")
    if email:
        items = [c for c in items if c["email"] == email]  # Stripe matches the email exactly, case-sensitively
    return paginate(call, items, "/v1/customers", "customer")


# --- Payment methods saved to customers --------------------------------------------------------------------------


def _refuse_if_declined(card: TestCard) -> None:
    """Saving a card checks it with the bank: a card that is declined outright cannot be saved."""
    if card.outcome == "decline" and card.setup_declines:
        assert card.decline is not None
        raise StripeError(
            402,
            card.decline.message,
            type="card_error",
            code=card.decline.code,
            decline_code=card.decline.decline_code,
            param=card.decline.param,
        )


def attach(call: Call, pm: JSON, customer: JSON) -> JSON:
    if pm["customer"] == customer["id"]:
        return pm
    if pm["customer"] is not None:
        raise invalid(
            "The payment method you provided has already been attached to a customer.", param="payment_method"
        )
    payment_methods.check_reusable(call, pm)
    _refuse_if_declined(call.account.cards[pm["id"]])
    pm["customer"] = customer["id"]
    emit(call.state, call.account, "payment_method.attached", pm, call=call)
    return pm


def save_for_later(
    state: SandboxState, account: Account, pm: JSON, customer_id: str, usage: str, *, call: Call | None
) -> None:
    """A payment or setup that asked to keep the card: attach it to the customer, and remember that an off-session
    use was authorised (so a card that asks for authentication once need not ask again)."""
    if pm["customer"] is None:
        pm["customer"] = customer_id
        emit(state, account, "payment_method.attached", pm, call=call)
    if usage == "off_session":
        account.set_up_off_session.add(pm["id"])


def _find_pm(call: Call) -> JSON:
    return payment_methods.resolve(call, call.request.match_info["id"], param="payment_method")


@endpoint(spec.PM_ATTACH)
def attach_payment_method(call: Call) -> JSON:
    pm = _find_pm(call)
    customer_id = params.string(call.form, "customer", required=True)
    assert customer_id is not None
    return attach(call, pm, find(call, customer_id))


@endpoint(spec.PM_DETACH)
def detach_payment_method(call: Call) -> JSON:
    pm = _find_pm(call)
    if pm["customer"] is None:
        raise invalid("The payment method you provided is not attached to a customer so detachment is impossible.")
    previous = {"customer": pm["customer"]}
    customer = call.account.customers.get(pm["customer"])
    if customer is not None and customer.get("invoice_settings", {}).get("default_payment_method") == pm["id"]:
        customer["invoice_settings"]["default_payment_method"] = None
    pm["customer"] = None
    call.account.set_up_off_session.discard(pm["id"])
    call.account.spent_payment_methods.add(pm["id"])
    emit(call.state, call.account, "payment_method.detached", pm, call=call, previous=previous)
    return pm


def _customer_payment_methods(call: Call, customer_id: str, url: str) -> JSON:
    find(call, customer_id, param="customer")
    kind = params.string(call.form, "type")
    if kind is not None and kind != "card":
        return paginate(call, [], url, "PaymentMethod")
    items = [pm for pm in reversed(call.account.payment_methods.values()) if pm["customer"] == customer_id]
    return paginate(call, items, url, "PaymentMethod")


@endpoint(spec.PM_LIST)
def list_payment_methods(call: Call) -> JSON:
    customer_id = params.string(call.form, "customer")
    if not customer_id:
        raise missing_parameter("customer")
    return _customer_payment_methods(call, customer_id, "/v1/payment_methods")


@endpoint(spec.CUSTOMER_PM_LIST)
def list_customer_payment_methods(call: Call) -> JSON:
    customer_id = call.request.match_info["id"]
    return _customer_payment_methods(call, customer_id, f"/v1/customers/{customer_id}/payment_methods")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/customers", create)
    app.router.add_get("/v1/customers", list_customers)
    app.router.add_get("/v1/customers/{id}", retrieve)
    app.router.add_post("/v1/customers/{id}", update)
    app.router.add_delete("/v1/customers/{id}", delete)
    app.router.add_get("/v1/customers/{id}/payment_methods", list_customer_payment_methods)
    app.router.add_post("/v1/payment_methods/{id}/attach", attach_payment_method)
    app.router.add_post("/v1/payment_methods/{id}/detach", detach_payment_method)
    app.router.add_get("/v1/payment_methods", list_payment_methods)
