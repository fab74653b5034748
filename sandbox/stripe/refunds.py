"""``/v1/refunds``: refund a PaymentIntent's charge in full or in part, never beyond what was paid.

Most refunds succeed at once. Stripe's refund test cards behave as documented: ``4000 0000 0000 7726``
(``pm_card_pendingRefund``) refunds stay ``pending``, then succeed; ``4000 0000 0000 5126`` (``pm_card_refundFail``)
refunds succeed, then fail with ``failure_reason``. Either settles after the sandbox's refund delay (advance the
clock to hurry it), and ``POST /_sandbox/refunds/{id}/succeed|fail`` settles any pending or succeeded refund.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from . import balance, params, spec
from .api import Call, endpoint, lookup
from .clock import current as current_clock
from .currencies import format_amount
from .errors import StripeError, invalid
from .events import emit
from .ids import new_id
from .pagination import paginate
from .state import Account, SandboxState, now

JSON = dict[str, Any]

_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
FAILURE_REASONS = (
    "charge_for_pending_refund_disputed",
    "declined",
    "expired_or_canceled_card",
    "insufficient_funds",
    "lost_or_stolen_card",
    "merchant_request",
    "unknown",
)


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


def _new_refund(charge: JSON, *, amount: int, reason: str | None, metadata: dict[str, str], status: str) -> JSON:
    return {
        "id": new_id("re"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": None,
        "charge": charge["id"],
        "created": now(),
        "currency": charge["currency"],
        "destination_details": {
            "card": {
                "reference": None,
                "reference_status": "pending",
                "reference_type": "acquirer_reference_number",
                "type": "refund",
            },
            "type": "card",
        },
        "metadata": metadata,
        "payment_intent": charge["payment_intent"],
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": status,
        "transfer_reversal": None,
        "customer": None,
        "customer_account": None,
        "payment_method": charge["payment_method"],
    }


@endpoint(spec.REFUND_CREATE)
def create(call: Call) -> JSON:
    form = call.form
    amount = params.integer(form, "amount", minimum=1)
    reason = params.choice(form, "reason", _REASONS)
    metadata = params.metadata(form) or {}
    refund_fee = params.boolean(form, "refund_application_fee") or False
    charge = _charge_to_refund(call)
    unrefunded = charge["amount_captured"] - _refunded_after_capture(charge)
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
    if refund_fee and call.caller.platform is None:
        raise invalid(
            "refund_application_fee can only be used by the platform that collected the application fee.",
            param="refund_application_fee",
        )
    card = call.account.cards.get(charge["payment_method"])
    behaviour = card.refund if card is not None else "succeed"
    refund = _new_refund(
        charge,
        amount=amount,
        reason=reason,
        metadata=metadata,
        status="pending" if behaviour == "pending" else "succeeded",
    )
    if refund["status"] == "pending":
        refund["pending_reason"] = "processing"  # present only while pending, as on Stripe
    balance.refund(call.account, refund)
    call.account.refunds[refund["id"]] = refund
    previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
    if refund_fee:
        balance.refund_application_fee(call.state, call.caller.platform, charge, amount)
    emit(call.state, call.account, "refund.created", refund, call=call)
    emit(call.state, call.account, "charge.refunded", charge, call=call, previous=previous)
    if behaviour != "succeed":
        state, account = call.state, call.account
        outcome = "succeeded" if behaviour == "pending" else "failed"

        def later() -> None:
            if state.accounts.get(account.id) is account:
                settle(state, account, refund, outcome, "expired_or_canceled_card")

        current_clock().after(call.config.refund_settle_delay, later)
    return refund


def _refunded_after_capture(charge: JSON) -> int:
    """What was refunded out of the captured amount (a partial capture's released rest counts as refunded)."""
    refunded: int = charge["amount_refunded"] - (charge["amount"] - charge["amount_captured"])
    return refunded


def settle(state: SandboxState, account: Account, refund: JSON, outcome: str, failure_reason: str) -> bool:
    """Move a refund on: ``pending`` to succeeded or failed, ``succeeded`` to failed. False if it can't."""
    status = refund["status"]
    if outcome == "succeeded" and status != "pending":
        return False
    if outcome == "failed" and status not in ("pending", "succeeded"):
        return False
    previous = {"status": status}
    if "pending_reason" in refund:
        previous["pending_reason"] = refund.pop("pending_reason")
    refund["status"] = outcome
    charge = account.charges[refund["charge"]]
    if outcome == "failed":
        refund["failure_reason"] = failure_reason
        balance.refund_failed(account, refund)
        charge["amount_refunded"] -= refund["amount"]
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        emit(state, account, "refund.failed", refund)
    emit(state, account, "refund.updated", refund, previous=previous)
    emit(state, account, "charge.refund.updated", refund, previous=previous)
    return True


def _find(call: Call) -> JSON:
    return lookup(call.account.refunds, call.request.match_info["id"], "refund")


@endpoint(spec.REFUND_RETRIEVE)
def retrieve(call: Call) -> JSON:
    return _find(call)


@endpoint(spec.REFUND_UPDATE)
def update(call: Call) -> JSON:
    refund = _find(call)
    new_metadata = params.metadata(call.form, refund["metadata"])
    if new_metadata is not None and new_metadata != refund["metadata"]:
        previous = {"metadata": copy.deepcopy(refund["metadata"])}
        refund["metadata"] = new_metadata
        emit(call.state, call.account, "refund.updated", refund, call=call, previous=previous)
    return refund


@endpoint(spec.REFUND_LIST)
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
