"""``/v1/refunds``: refund a PaymentIntent's charge in full or in part, never beyond what was paid."""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from . import objects, params
from .api import Call, endpoint, lookup
from .currencies import format_amount
from .errors import StripeError, invalid
from .events import emit
from .pagination import paginate

JSON = dict[str, Any]

_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def _charge_to_refund(call: Call) -> JSON:
    pi_id = params.string(call.form, "payment_intent")
    charge_id = params.string(call.form, "charge")
    if not pi_id and not charge_id:
        raise invalid(
            "One of the following params should be provided for this request: payment_intent or charge.",
            param="payment_intent",
            code="parameter_missing",
        )
    if pi_id:
        pi = lookup(call.account.payment_intents, pi_id, "payment_intent", param="payment_intent")
        if pi["status"] != "succeeded" or not pi["latest_charge"]:
            raise invalid(
                f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.", param="payment_intent"
            )
        if charge_id and charge_id != pi["latest_charge"]:
            raise invalid(f"The charge {charge_id} does not belong to the PaymentIntent {pi_id}.", param="charge")
        return lookup(call.account.charges, pi["latest_charge"], "charge", param="payment_intent")
    assert charge_id is not None
    charge = lookup(call.account.charges, charge_id, "charge", param="charge")
    if charge["status"] != "succeeded" or not charge["captured"]:
        raise invalid(f"Charge {charge_id} has not been captured and cannot be refunded.", param="charge")
    return charge


@endpoint(params.REFUND_CREATE)
def create(call: Call) -> JSON:
    form = call.form
    amount = params.integer(form, "amount", minimum=1)
    reason = params.choice(form, "reason", _REASONS)
    metadata = params.metadata(form) or {}
    charge = _charge_to_refund(call)
    unrefunded = charge["amount"] - charge["amount_refunded"]
    if unrefunded <= 0:
        raise StripeError(400, f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded")
    if amount is None:
        amount = unrefunded
    if amount > unrefunded:
        currency = charge["currency"]
        raise StripeError(
            400,
            f"Refund amount ({format_amount(amount, currency)}) is greater than unrefunded amount on charge "
            f"({format_amount(unrefunded, currency)})",
            code="amount_too_large",
            param="amount",
        )
    refund = objects.refund(charge, amount=amount, reason=reason, metadata=metadata)
    call.account.refunds[refund["id"]] = refund
    previous = {
        "amount_refunded": charge["amount_refunded"],
        "refunded": charge["refunded"],
        "refunds": copy.deepcopy(charge["refunds"]),
    }
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
    charge["refunds"]["data"].insert(0, refund)
    emit(call.state, call.account, "refund.created", refund, call=call)
    emit(call.state, call.account, "charge.refunded", charge, call=call, previous=previous)
    return refund


def _find(call: Call) -> JSON:
    return lookup(call.account.refunds, call.request.match_info["id"], "refund")


@endpoint(params.REFUND_RETRIEVE)
def retrieve(call: Call) -> JSON:
    return _find(call)


@endpoint(params.REFUND_UPDATE)
def update(call: Call) -> JSON:
    refund = _find(call)
    new_metadata = params.metadata(call.form, refund["metadata"])
    if new_metadata is not None and new_metadata != refund["metadata"]:
        previous = {"metadata": refund["metadata"]}
        refund["metadata"] = new_metadata  # the charge's refunds list holds this same object
        emit(call.state, call.account, "refund.updated", refund, call=call, previous=previous)
    return refund


@endpoint(params.REFUND_LIST)
def list_refunds(call: Call) -> JSON:
    items = list(reversed(call.account.refunds.values()))
    pi_id = params.string(call.form, "payment_intent")
    if pi_id:
        items = [refund for refund in items if refund["payment_intent"] == pi_id]
    charge_id = params.string(call.form, "charge")
    if charge_id:
        items = [refund for refund in items if refund["charge"] == charge_id]
    return paginate(call, items, "/v1/refunds", "refund")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/refunds", create)
    app.router.add_get("/v1/refunds", list_refunds)
    app.router.add_get("/v1/refunds/{id}", retrieve)
    app.router.add_post("/v1/refunds/{id}", update)
