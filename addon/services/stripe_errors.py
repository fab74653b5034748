"""What a person reads when Stripe says no: the gateway raises what happened (its StripeFailure types), and the
services put it into words here, or choose their own where they know better who is reading.

:func:`worded` is the default for a call whose failure goes straight back to the person who asked;
:func:`for_people` is the mapping itself, also the last resort of the HTTP and socket error handlers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from addon.errors import CallpayError, CardDeclined, Conflict, InvalidInput, PaymentProviderError
from addon.gateway import (
    AccessRevoked,
    AmountRejected,
    Declined,
    NotCancelable,
    OAuthRefused,
    StripeFailure,
    StripeMisconfigured,
    StripeRefused,
)

UNREACHABLE = "We couldn't reach Stripe just now. Please try again in a moment."
DECLINED = "Your card was declined. Try another card."
MISCONFIGURED = "Payments are not set up correctly. Please tell the clinic."
ACCESS_REVOKED = (
    "The clinic's Stripe account no longer allows Callpay to take payments. Ask the clinic to reconnect it."
)
OAUTH_REFUSED = (
    "Stripe did not accept this authorisation: it may have expired or been used already. "
    "Please click Go to Stripe again."
)
NOT_CANCELABLE = "This payment can no longer be cancelled."
REFUSED = "Stripe could not process this request."


def for_people(exc: StripeFailure) -> CallpayError:
    """The error the contract answers with for a Stripe failure, worded for whoever asked."""
    if isinstance(exc, Declined):
        return CardDeclined(exc.stripe_message or DECLINED, code=exc.code)
    if isinstance(exc, AccessRevoked):
        # What the clinic did (removed Callpay in its Stripe dashboard), not Stripe failing: retrying can't help.
        return Conflict(ACCESS_REVOKED, code="account_access_revoked")
    if isinstance(exc, StripeMisconfigured):
        return PaymentProviderError(MISCONFIGURED)
    if isinstance(exc, AmountRejected):
        size = "large" if exc.too_large else "small"
        return InvalidInput(f"That amount is too {size} for a card payment.", field="amount", code=exc.code)
    if isinstance(exc, OAuthRefused):
        return InvalidInput(OAUTH_REFUSED, code="oauth_refused")
    if isinstance(exc, NotCancelable):
        return Conflict(NOT_CANCELABLE, code="not_cancelable")
    if isinstance(exc, StripeRefused):
        return PaymentProviderError(exc.stripe_message or REFUSED, code=exc.code or "payment_provider_error")
    return PaymentProviderError(UNREACHABLE)


@contextmanager
def worded() -> Iterator[None]:
    """Gateway calls inside answer a failure with :func:`for_people`'s words."""
    try:
        yield
    except StripeFailure as exc:
        raise for_people(exc) from exc
