"""Stripe's error bodies and HTTP statuses, raised by handlers as :class:`StripeError`."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

DOCS = "https://docs.stripe.com/error-codes/"


class StripeError(Exception):
    """An error answered as Stripe answers it: ``{"error": {...}}`` with Stripe's HTTP status.

    ``replayable`` says whether an idempotent request that ended in this error stores it for replay: Stripe does
    not save results of requests whose parameters failed validation.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        extra: JSON | None = None,
        headers: dict[str, str] | None = None,
        replayable: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.extra = extra or {}
        self.headers = headers or {}
        self.replayable = replayable

    def body(self) -> JSON:
        error: JSON = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = DOCS + self.code.replace("_", "-")
        if self.decline_code is not None:
            error["decline_code"] = self.decline_code
        if self.param is not None:
            error["param"] = self.param
        error.update(self.extra)
        return {"error": error}


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> StripeError:
    """A 400 ``invalid_request_error`` about the request's parameters (not stored for idempotent replay)."""
    return StripeError(400, message, code=code, param=param, replayable=False)


def unknown_parameter(name: str) -> StripeError:
    return invalid(f"Received unknown parameter: {name}", param=name, code="parameter_unknown")


def missing_parameter(name: str) -> StripeError:
    return invalid(f"Missing required param: {name}.", param=name, code="parameter_missing")


def no_such(kind: str, object_id: str, *, param: str = "id") -> StripeError:
    """Stripe's ``resource_missing``: a 404 for the object the URL names, a 400 for one a parameter names."""
    status = 404 if param in ("id", "intent") else 400
    return StripeError(status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def unexpected_state(message: str, payment_intent: JSON | None = None) -> StripeError:
    extra = {"payment_intent": payment_intent} if payment_intent is not None else None
    return StripeError(400, message, code="payment_intent_unexpected_state", extra=extra)


def api_error() -> StripeError:
    return StripeError(
        500,
        "Sorry, something went wrong. We've already been notified of the problem, "
        "but if you need any help, you can reach us at https://support.stripe.com/contact/.",
        type="api_error",
        replayable=False,
    )


def rate_limited() -> StripeError:
    return StripeError(
        429,
        "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
        code="rate_limit",
        headers={"Stripe-Should-Retry": "true"},
        replayable=False,
    )


def injected_api_error(status: int) -> StripeError:
    """A 500 or 503 from Stripe's front line: the request never reached its endpoint, so nothing is saved under its
    idempotency key, and Stripe says a retry is safe (``Stripe-Should-Retry: true``)."""
    error = api_error()
    error.status = status
    error.headers = {"Stripe-Should-Retry": "true"}
    return error


def lock_timeout() -> StripeError:
    """Stripe's 429 ``lock_timeout``: another request (or Stripe itself) holds the object just now."""
    return StripeError(
        429,
        "This object cannot be accessed right now because another API request or Stripe process is currently "
        "accessing it. If you see this error intermittently, retry the request. If you see this error frequently "
        "and are making multiple concurrent requests to a single object, make your requests serially or at a "
        "lower rate.",
        code="lock_timeout",
        headers={"Stripe-Should-Retry": "true"},
        replayable=False,
    )
