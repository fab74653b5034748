"""Payment methods: Stripe's ready-made test ones (``pm_card_visa``…), typed cards from Stripe.js, and
``/v1/payment_methods``."""

from __future__ import annotations

import re
import time
from typing import Any

from aiohttp import web

from . import objects, params, spec
from .api import Call, endpoint, lookup
from .cards import TestCard, card_for_number, card_for_test_payment_method, luhn_ok
from .errors import StripeError, invalid, missing_parameter

JSON = dict[str, Any]


def _card_error(code: str, message: str, param: str) -> StripeError:
    return StripeError(402, message, type="card_error", code=code, param=param)


def _card_from_data(call: Call, data: dict[str, Any], prefix: str) -> tuple[TestCard, str | None]:
    def name(field: str) -> str:
        return f"{prefix}[{field}]" if prefix else field

    if data.get("type") != "card":
        raise invalid(f"Invalid {name('type')}: the sandbox supports only card", param=name("type"))
    if call.caller.publishable is False:
        raise invalid(
            "Sending credit card numbers directly to the Stripe API is generally unsafe. We suggest you use test "
            "tokens that map to the test card you are using, see https://stripe.com/docs/testing.",
            param=name("card") + "[number]",
        )
    card = data.get("card")
    if not isinstance(card, dict):
        raise missing_parameter(name("card"))
    for field in ("number", "exp_month", "exp_year"):
        if not card.get(field):
            raise missing_parameter(f"{name('card')}[{field}]")
    number = re.sub(r"[\s-]", "", str(card["number"]))
    if not number.isdigit() or not 12 <= len(number) <= 19 or not luhn_ok(number):
        raise _card_error("incorrect_number", "Your card number is incorrect.", "number")
    month, year = str(card["exp_month"]), str(card["exp_year"])
    if not month.isdigit() or not 1 <= int(month) <= 12:
        raise _card_error("invalid_expiry_month", "Your card's expiration month is invalid.", "exp_month")
    if not year.isdigit():
        raise _card_error("invalid_expiry_year", "Your card's expiration year is invalid.", "exp_year")
    full_year = int(year) + 2000 if len(year) == 2 else int(year)
    today = time.gmtime()
    if (full_year, int(month)) < (today.tm_year, today.tm_mon) or full_year > today.tm_year + 50:
        raise _card_error("invalid_expiry_year", "Your card's expiration year is invalid.", "exp_year")
    cvc = card.get("cvc")
    if cvc is not None and not re.fullmatch(r"\d{3,4}", str(cvc)):
        raise _card_error("invalid_cvc", "Your card's security code is invalid.", "cvc")
    billing = data.get("billing_details")
    email = billing.get("email") if isinstance(billing, dict) else None
    return card_for_number(number, int(month), full_year), email if isinstance(email, str) else None


def _store(call: Call, card: TestCard, email: str | None) -> JSON:
    pm = objects.payment_method(card, billing_email=email)
    call.account.payment_methods[pm["id"]] = pm
    call.account.cards[pm["id"]] = card
    return pm


def from_params(call: Call) -> JSON | None:
    """The payment method a create/confirm names, made on this account; None when it names none."""
    form = call.form
    data = params.hash_param(form, "payment_method_data")
    if data:
        card, email = _card_from_data(call, data, "payment_method_data")
        return _store(call, card, email)
    name = params.string(form, "payment_method")
    if not name:
        return None
    return resolve(call, name, param="payment_method")


def check_reusable(call: Call, pm: JSON) -> None:
    """Stripe lets a payment method that was never saved to a customer pay once; after that, or once detached, it
    can't be used again."""
    if pm["id"] in call.account.spent_payment_methods:
        raise invalid(
            "The provided PaymentMethod was previously used with a PaymentIntent without Customer attachment, "
            "shared with a connected account without Customer attachment, or was detached from a Customer. It may "
            "not be used again. To use a PaymentMethod multiple times, you must attach it to a Customer first.",
            param="payment_method",
        )


def resolve(call: Call, name: str, *, param: str) -> JSON:
    """A payment method of this account by id, or a new one made from one of Stripe's test ids (``pm_card_visa``),
    which Stripe accepts wherever a payment method id goes."""
    test_card = card_for_test_payment_method(name)
    if test_card is not None:
        return _store(call, test_card, None)
    return lookup(call.account.payment_methods, name, "PaymentMethod", param=param)


@endpoint(spec.PM_CREATE, browser=True)
def create(call: Call) -> JSON:
    kind = params.string(call.form, "type", required=True)
    data = {key: value for key, value in call.form.items() if key in ("type", "card", "billing_details")}
    if kind != "card":
        raise invalid("Invalid type: the sandbox supports only card", param="type")
    if isinstance(data.get("card"), str):  # card=pm_card_visa-style shortcuts are not Stripe's API
        raise invalid("Invalid object", param="card")
    card, email = _card_from_data(call, data, "")
    return _store(call, card, email)


@endpoint(spec.PM_RETRIEVE, browser=True)
def retrieve(call: Call) -> JSON:
    return lookup(call.account.payment_methods, call.request.match_info["id"], "PaymentMethod", param="payment_method")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/payment_methods", create)
    app.router.add_get("/v1/payment_methods/{id}", retrieve)
