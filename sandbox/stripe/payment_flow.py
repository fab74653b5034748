"""What happens to a PaymentIntent when it is confirmed, authenticated, captured, canceled or left to expire:
statuses, charges, money, errors and events, following Stripe's card flow."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from . import balance, customers, objects
from .api import Call
from .cards import Decline, TestCard
from .clock import current as current_clock
from .errors import StripeError, invalid
from .events import emit
from .state import Account, SandboxState, now

JSON = dict[str, Any]

AUTHENTICATION_REQUIRED = Decline(
    "authentication_required",
    "authentication_required",
    "Your card was declined. This transaction requires authentication.",
)
AUTHENTICATION_FAILED_MESSAGE = (
    "We are unable to authenticate your payment method. Please choose a different payment method and try again."
)


def check_can_charge(account: Account) -> None:
    if not account.charges_enabled:
        raise invalid(
            "Your account cannot currently make charges. To find out why charge creation is currently disabled, "
            f"look at the `requirements.disabled_reason` property on this account (/v1/accounts/{account.id})."
        )


def needs_authentication(account: Account, card: TestCard, pm: JSON, options: JSON | None) -> bool:
    """Whether the bank asks the holder to authenticate this payment. A card that asks only once does not ask
    again after a SetupIntent authenticated it for later use; ``request_three_d_secure=any|challenge`` asks."""
    requested = ((options or {}).get("card") or {}).get("request_three_d_secure")
    if requested in ("any", "challenge"):
        return True
    if not card.asks_authentication:
        return False
    return card.authentication == "always" or pm["id"] not in account.set_up_off_session


def next_action(call: Call, intent: JSON, pm: JSON, *, return_url: str | None, use_stripe_sdk: bool) -> JSON:
    """3-D Secure as Stripe asks for it: through Stripe.js (``use_stripe_sdk``), or, for a server-side confirm
    with a ``return_url``, as a page to send the customer to (``redirect_to_url``)."""
    page = f"{call.base_url}/_sandbox/3ds/{intent['id']}"
    if return_url and not use_stripe_sdk:
        query = urlencode({"client_secret": intent["client_secret"], "return_url": return_url})
        return {"type": "redirect_to_url", "redirect_to_url": {"return_url": return_url, "url": f"{page}?{query}"}}
    return {
        "type": "use_stripe_sdk",
        "use_stripe_sdk": {"type": "three_d_secure_redirect", "stripe_js": page, "source": pm["id"]},
    }


def confirm(
    call: Call,
    pi: JSON,
    pm: JSON,
    *,
    off_session: bool,
    error_on_requires_action: bool,
    return_url: str | None,
    use_stripe_sdk: bool,
) -> None:
    """Confirm ``pi`` with ``pm``; a decline raises the 402 the confirm call answers with."""
    account = call.account
    check_can_charge(account)
    card = account.cards[pm["id"]]
    pi.update(payment_method=pm["id"], last_payment_error=None, next_action=None)
    if needs_authentication(account, card, pm, pi["payment_method_options"]):
        if off_session or error_on_requires_action:
            decline(call.state, account, pi, pm, AUTHENTICATION_REQUIRED, call=call)
        pi.update(
            status="requires_action",
            next_action=next_action(call, pi, pm, return_url=return_url, use_stripe_sdk=use_stripe_sdk),
        )
        emit(call.state, account, "payment_intent.requires_action", pi, call=call)
        return
    if card.outcome == "decline":
        assert card.decline is not None
        decline(call.state, account, pi, pm, card.decline, call=call)
    authorize(call, pi, pm)


def authorize(call: Call, pi: JSON, pm: JSON) -> None:
    """The issuer approved: succeed now, or after the configured ``processing`` pause."""
    state, account, platform, base_url = call.state, call.account, call.caller.platform, call.base_url
    validity = call.config.authorization_validity
    delay = call.config.processing_delay
    if delay <= 0:
        succeed(state, account, platform, pi, pm, call=call, base_url=base_url, validity=validity)
        return
    pi["status"] = "processing"
    pi["processing"] = {"type": "card", "card": {}}
    emit(state, account, "payment_intent.processing", pi, call=call)

    def later() -> None:
        if pi["status"] == "processing" and state.accounts.get(account.id) is account:
            succeed(state, account, platform, pi, pm, call=None, base_url=base_url, validity=validity)

    call.spawn_later(delay, later)


def succeed(
    state: SandboxState,
    account: Account,
    platform: Account | None,
    pi: JSON,
    pm: JSON,
    *,
    call: Call | None,
    base_url: str,
    validity: float,
) -> None:
    charge = objects.charge(pi, pm, status="succeeded")
    charge["receipt_url"] = f"{base_url}/_sandbox/receipts/{charge['id']}"
    charge.update(paid=True, outcome=objects.outcome(paid=True))
    if platform is not None:
        charge["application"] = platform.client_id
    account.charges[charge["id"]] = charge
    pi.update(latest_charge=charge["id"], next_action=None, processing=None, last_payment_error=None)
    if pi["setup_future_usage"] and pi["customer"]:
        customers.save_for_later(state, account, pm, pi["customer"], pi["setup_future_usage"], call=call)
    elif pm["customer"] is None:
        account.spent_payment_methods.add(pm["id"])
    manual = pi["capture_method"] == "manual"
    if manual:
        capture_before = charge["created"] + int(validity)
        charge["payment_method_details"]["card"]["capture_before"] = capture_before
        pi.update(status="requires_capture", amount_capturable=pi["amount"])
        current_clock().at(capture_before, lambda: expire(state, account, pi, charge["id"]))
    else:
        charge.update(captured=True, amount_captured=pi["amount"])
        balance.capture(state, account, platform, charge, pi["amount"])
        pi.update(status="succeeded", amount_received=pi["amount"])
    emit(state, account, "charge.succeeded", charge, call=call)
    emit(
        state,
        account,
        "payment_intent.amount_capturable_updated" if manual else "payment_intent.succeeded",
        pi,
        call=call,
    )


def expire(state: SandboxState, account: Account, pi: JSON, charge_id: str) -> None:
    """A card hold not captured by ``capture_before``: the bank releases it and Stripe cancels the intent."""
    if pi["status"] != "requires_capture" or pi["latest_charge"] != charge_id:
        return
    if state.accounts.get(account.id) is not account:
        return  # the sandbox was reset since
    charge = account.charges[charge_id]
    charge.update(refunded=True, amount_refunded=charge["amount"])
    pi.update(status="canceled", canceled_at=now(), cancellation_reason="automatic", amount_capturable=0)
    emit(state, account, "charge.expired", charge)
    emit(state, account, "payment_intent.canceled", pi)


def decline(
    state: SandboxState,
    account: Account,
    pi: JSON,
    pm: JSON,
    reason: Decline,
    *,
    call: Call | None,
    raise_error: bool = True,
) -> None:
    """A card decline: failed charge, ``last_payment_error``, back to ``requires_payment_method``, a 402."""
    charge = objects.charge(pi, pm, status="failed")
    charge.update(
        failure_code=reason.code,
        failure_message=reason.message,
        outcome=objects.outcome(paid=False, decline_code=reason.decline_code),
    )
    account.charges[charge["id"]] = charge
    error = StripeError(
        402,
        reason.message,
        type="card_error",
        code=reason.code,
        decline_code=reason.decline_code,
        param=reason.param,
        extra={"charge": charge["id"], "payment_method": pm},
    )
    pi.update(
        status="requires_payment_method",
        latest_charge=charge["id"],
        last_payment_error=error.body()["error"],  # the same body the 402 answers with, less the intent itself
        next_action=None,
        payment_method=None,
    )
    emit(state, account, "charge.failed", charge, call=call)
    emit(state, account, "payment_intent.payment_failed", pi, call=call)
    if raise_error:
        error.extra["payment_intent"] = pi
        raise error


def complete_authentication(call: Call, pi: JSON) -> None:
    """The 3-D Secure challenge was passed: the issuer now decides as for any card."""
    pm = call.account.payment_methods[pi["payment_method"]]
    card: TestCard = call.account.cards[pm["id"]]
    if card.outcome == "authenticate_then_decline":
        assert card.decline is not None
        decline(call.state, call.account, pi, pm, card.decline, call=call, raise_error=False)
        return
    if card.outcome == "decline":  # a decline card asked to authenticate by request_three_d_secure
        assert card.decline is not None
        decline(call.state, call.account, pi, pm, card.decline, call=call, raise_error=False)
        return
    authorize(call, pi, pm)


def fail_authentication(call: Call, pi: JSON) -> None:
    pm = call.account.payment_methods[pi["payment_method"]]
    pi.update(
        status="requires_payment_method",
        next_action=None,
        payment_method=None,
        last_payment_error=StripeError(
            400,
            AUTHENTICATION_FAILED_MESSAGE,
            code="payment_intent_authentication_failure",
            extra={"payment_method": pm},
        ).body()["error"],
    )
    emit(call.state, call.account, "payment_intent.payment_failed", pi, call=call)


def capture(call: Call, pi: JSON, amount: int) -> None:
    """Capture ``amount`` of the hold; the rest is released to the cardholder."""
    charge = call.account.charges[pi["latest_charge"]]
    released = pi["amount"] - amount
    charge.update(captured=True, amount_captured=amount, application_fee_amount=pi["application_fee_amount"])
    if released:
        charge.update(amount_refunded=released)
    balance.capture(call.state, call.account, call.caller.platform, charge, amount)
    pi.update(status="succeeded", amount_received=amount, amount_capturable=0)
    emit(call.state, call.account, "charge.captured", charge, call=call)
    emit(call.state, call.account, "payment_intent.succeeded", pi, call=call)


def cancel(call: Call, pi: JSON, reason: str | None) -> None:
    if pi["status"] == "requires_capture":
        charge = call.account.charges[pi["latest_charge"]]
        charge.update(refunded=True, amount_refunded=charge["amount"])
        emit(call.state, call.account, "charge.refunded", charge, call=call)
    pi.update(status="canceled", canceled_at=now(), cancellation_reason=reason, next_action=None, amount_capturable=0)
    emit(call.state, call.account, "payment_intent.canceled", pi, call=call)
