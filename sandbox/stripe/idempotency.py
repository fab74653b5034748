"""Idempotent POSTs: the first result under a key is stored and replayed; other parameters are refused.

Handlers run without awaiting, so two requests with one key never overlap and no in-progress state is needed.
"""

from __future__ import annotations

import json

from aiohttp import web

from .errors import StripeError
from .forms import Form
from .state import IdempotentResult, SandboxState

Scope = tuple[str, str, str]  # (API key, Stripe-Account, Idempotency-Key)
Fingerprint = tuple[str, str, str]  # (method, path, parameters)


def fingerprint(method: str, path: str, form: Form) -> Fingerprint:
    return (method, path, json.dumps(form, sort_keys=True))


def replay(state: SandboxState, scope: Scope, print_: Fingerprint) -> web.Response | None:
    key = scope[2]
    if len(key) > 255:
        raise StripeError(
            400, "Idempotency-Key must be at most 255 characters long.", type="idempotency_error", replayable=False
        )
    previous = state.idempotency.get(scope)
    if previous is None:
        return None
    if previous.fingerprint[:2] != print_[:2]:
        raise StripeError(
            400,
            "Keys for idempotent requests can only be used for the same endpoint they were first used for "
            f"('{previous.fingerprint[1]}' vs '{print_[1]}'). Try using a key other than '{key}' if you meant "
            "to execute a different request.",
            type="idempotency_error",
            replayable=False,
        )
    if previous.fingerprint != print_:
        raise StripeError(
            400,
            "Keys for idempotent requests can only be used with the same parameters they were first used with. "
            f"Try using a key other than '{key}' if you meant to execute a different request.",
            type="idempotency_error",
            replayable=False,
        )
    response = web.Response(body=previous.body, status=previous.status, content_type="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    response.headers["Original-Request"] = previous.request_id
    return response


def store(state: SandboxState, scope: Scope, print_: Fingerprint, request_id: str, response: web.Response) -> None:
    assert isinstance(response.body, bytes)
    state.idempotency[scope] = IdempotentResult(print_, response.status, response.body, request_id)
