"""The plumbing every ``/v1`` handler shares: read the form, authenticate, check parameters, replay idempotent
requests, expand, answer JSON."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from . import params
from .appkeys import CONFIG, REQUEST_ID, STATE, TASKS
from .auth import Caller, authenticate
from .config import SandboxConfig
from .errors import StripeError, invalid, no_such
from .forms import Form, decode, decode_pairs
from .idempotency import fingerprint, replay, store
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

    @property
    def account(self) -> Account:
        return self.caller.account

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


def endpoint(allowed: frozenset[str], *, browser: bool = False) -> Callable[[Operation], Handler]:
    """Wrap ``operation(call) -> object`` as an aiohttp handler with Stripe's request semantics.

    ``browser`` routes also take a publishable key (as Bearer or Stripe.js's ``key`` parameter).
    """

    def wrap(operation: Operation) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            state = request.app[STATE]
            form = await read_form(request)
            caller = authenticate(request, state, form, browser=browser)
            key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
            call = Call(request, state, request.app[CONFIG], caller, form, request.get(REQUEST_ID, ""), key)
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

        return handler

    return wrap


def _run(call: Call, operation: Operation, allowed: frozenset[str]) -> web.Response:
    params.check_known(call.form, allowed)
    result = operation(call)
    paths = params.expand(call.form)
    if paths:
        result = expand(call.account, result, paths)
    return json_response(result)


T = TypeVar("T")


def lookup(collection: Mapping[str, T], object_id: str, kind: str, *, param: str = "id") -> T:
    """``collection[object_id]``, or Stripe's 404 for a ``kind`` with that id."""
    found = collection.get(object_id)
    if found is None:
        raise no_such(kind, object_id, param=param)
    return found


_COLLECTIONS = {"pi": "payment_intents", "ch": "charges", "re": "refunds", "pm": "payment_methods"}


def find_object(account: Account, object_id: str) -> JSON | None:
    collection = _COLLECTIONS.get(object_id.partition("_")[0])
    if collection is None:
        return None
    found: JSON | None = getattr(account, collection).get(object_id)
    return found


def expand(account: Account, obj: JSON, paths: list[str]) -> JSON:
    """Replace ids named by ``expand[]`` paths (``latest_charge``, ``data.payment_intent``…) with objects."""
    result = copy.deepcopy(obj)
    for path in paths:
        _expand_path(account, result, path.split("."), path)
    return result


def _expand_path(account: Account, node: Any, parts: list[str], path: str) -> None:
    head, *rest = parts
    if isinstance(node, dict) and node.get("object") == "list" and head == "data":
        for item in node["data"]:
            if rest:
                _expand_path(account, item, rest, path)
        return
    if not isinstance(node, dict) or head not in node:
        raise invalid(f"This property cannot be expanded ({head}).", param="expand")
    value = node[head]
    if isinstance(value, str):
        found = find_object(account, value)
        if found is None:
            raise invalid(f"This property cannot be expanded ({head}).", param="expand")
        node[head] = value = copy.deepcopy(found)
    if rest and value is not None:
        _expand_path(account, value, rest, path)
