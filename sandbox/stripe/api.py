"""The plumbing every ``/v1`` handler shares: read the form, authenticate, check parameters, replay idempotent
requests, expand, answer JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from . import expansion, params, versions
from .appkeys import CONFIG, REQUEST_ID, STATE, TASKS
from .auth import Caller, authenticate
from .config import SandboxConfig
from .errors import StripeError, invalid, no_such
from .forms import Form, decode, decode_pairs
from .idempotency import fingerprint, replay, store
from .spec import Accepts
from .state import Account, SandboxState

JSON = dict[str, Any]


@dataclass
class Call:
    """One authenticated API request, as handlers see it."""

    request: web.Request
    state: SandboxState
    config: SandboxConfig
    caller: Caller
    form: Form
    request_id: str
    idempotency_key: str | None
    api_version: str = versions.DEFAULT

    @property
    def account(self) -> Account:
        return self.caller.account

    @property
    def accounts(self) -> list[Account]:
        """Where ids this call names may live: its account, then the platform acting for it (application fees)."""
        platform = self.caller.platform
        return [self.account] if platform is None else [self.account, platform]

    @property
    def base_url(self) -> str:
        """Where browsers reach the sandbox: the configured public address, else this request's own."""
        if self.config.public_url:
            return self.config.public_url.rstrip("/")
        return f"{self.request.scheme}://{self.request.host}"

    def spawn_later(self, delay: float, action: Callable[[], None]) -> None:
        self.request.app[TASKS].call_later(delay, action)


async def read_form(request: web.Request) -> Form:
    if request.method in ("GET", "DELETE", "OPTIONS", "HEAD"):
        return decode_pairs(request.query.items())
    content_type = request.content_type
    if content_type not in ("application/x-www-form-urlencoded", "application/octet-stream", ""):
        raise invalid(
            f"Invalid request: unsupported Content-Type {content_type}. If error persists and you need "
            "assistance, please contact support@stripe.com."
        )
    form = decode(await request.text())
    if request.query:
        form = {**decode_pairs(request.query.items()), **form}
    return form


def json_response(body: JSON, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(body, indent=2).encode(), status=status, content_type="application/json")


def error_response(error: StripeError) -> web.Response:
    response = json_response(error.body(), error.status)
    response.headers.update(error.headers)
    return response


Operation = Callable[[Call], JSON]
Handler = Callable[[web.Request], Any]


Allowed = frozenset[str] | Accepts


def endpoint(allowed: Allowed, *, browser: bool = False) -> Callable[[Operation], Handler]:
    """Wrap ``operation(call) -> object`` as an aiohttp handler with Stripe's request semantics.

    ``allowed`` is what the endpoint implements (an :class:`~.spec.Accepts`, or top-level names only); anything
    else is refused. ``browser`` routes also take a publishable key (as Bearer or Stripe.js's ``key`` parameter).
    Every answer says which ``Stripe-Version`` it was made for, and a POST's answer echoes its ``Idempotency-Key``.
    """

    def wrap(operation: Operation) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
            version: str | None = None
            try:
                version = versions.requested(request.headers.get("Stripe-Version"))
                response = await _handle(request, operation, allowed, browser, key, version)
            except StripeError as error:
                response = error_response(error)
            if version is not None:
                response.headers["Stripe-Version"] = version
            if key is not None:
                response.headers["Idempotency-Key"] = key
            return response

        return handler

    return wrap


async def _handle(
    request: web.Request, operation: Operation, allowed: Allowed, browser: bool, key: str | None, version: str
) -> web.Response:
    state = request.app[STATE]
    form = await read_form(request)
    caller = authenticate(request, state, form, browser=browser)
    call = Call(request, state, request.app[CONFIG], caller, form, request.get(REQUEST_ID, ""), key, version)
    if key is None:
        return _run(call, operation, allowed)
    scope = (caller.key, caller.stripe_account_header or "", key)
    print_ = fingerprint(request.method, request.path, form)
    replayed = replay(state, scope, print_)
    if replayed is not None:
        return replayed
    try:
        response = _run(call, operation, allowed)
    except StripeError as error:
        if error.replayable:  # Stripe keeps no result for requests that failed validation
            store(state, scope, print_, call.request_id, error_response(error))
        raise
    store(state, scope, print_, call.request_id, response)
    return response


def _run(call: Call, operation: Operation, allowed: Allowed) -> web.Response:
    if isinstance(allowed, Accepts):
        allowed.refuse_unknown(call.form)
    else:
        params.check_known(call.form, allowed)
    result = operation(call)
    return json_response(expansion.render(call.accounts, result, params.expand(call.form), call.api_version))


T = TypeVar("T")


def lookup(collection: Mapping[str, T], object_id: str, kind: str, *, param: str = "id") -> T:
    """``collection[object_id]``, or Stripe's 404 for a ``kind`` with that id."""
    found = collection.get(object_id)
    if found is None:
        raise no_such(kind, object_id, param=param)
    return found


def find_object(account: Account, object_id: str) -> JSON | None:
    return expansion.find_object([account], object_id)


def expand(account: Account, obj: JSON, paths: list[str]) -> JSON:
    """Replace ids named by ``expand[]`` paths (``latest_charge``, ``data.payment_intent``…) with objects."""
    return expansion.render([account], obj, paths, versions.DEFAULT)
