"""The project's own errors. Services raise these; the error middleware turns them into the contract's shape.

Each carries a stable ``code`` for programs, a ``message`` that tells a person what to fix, and optionally the
``field`` at fault. Messages are written for users: they never contain exception text from a library.
"""

from __future__ import annotations

from typing import Any


class CallpayError(Exception):
    status = 400
    code = "bad_request"
    # Response headers the answer carries (e.g. Retry-After on a 429).
    headers: dict[str, str] = {}

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body


class InvalidInput(CallpayError):
    status = 400
    code = "invalid"


class Unauthenticated(CallpayError):
    status = 401
    code = "unauthenticated"


class Forbidden(CallpayError):
    status = 403
    code = "forbidden"


class NotFound(CallpayError):
    status = 404
    code = "not_found"


class Conflict(CallpayError):
    status = 409
    code = "conflict"


class PaymentsUnavailable(CallpayError):
    """The clinic can't take payments right now (add-on off, no Stripe account, charges disabled)."""

    status = 409
    code = "payments_unavailable"


class PaymentProviderError(CallpayError):
    """Stripe refused or could not be reached; the message is safe to show."""

    status = 502
    code = "payment_provider_error"


class CardDeclined(CallpayError):
    status = 402
    code = "card_declined"


class InvalidFields(InvalidInput):
    """Several fields, or several items of one field, are wrong at once: every problem is reported together, so a
    person fixes them in one go. The body keeps the contract's shape (the first problem's ``field``) and adds
    ``errors``, one ``{code, message, field}`` per problem."""

    def __init__(self, problems: list[InvalidInput], *, summary: str | None = None) -> None:
        first = problems[0]
        message = summary or (first.message if len(problems) == 1 else f"{len(problems)} entries need fixing.")
        # One problem is that problem (its own code); several are "invalid", each keeping its code in ``errors``.
        super().__init__(message, field=first.field, code=first.code if len(problems) == 1 else None)
        self.problems = problems

    @classmethod
    def of(cls, problems: list[InvalidInput]) -> InvalidInput:
        """What to raise for ``problems``: one problem is raised as itself (the contract's plain shape), several
        together."""
        return problems[0] if len(problems) == 1 else cls(problems)

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["errors"] = [problem.to_dict() for problem in self.problems]
        return body


class RateLimited(CallpayError):
    """Too many tries: the answer says when to try again, in words and in ``Retry-After``."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
        self.headers = {"Retry-After": str(self.retry_after)}
