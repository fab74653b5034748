"""``/v1/account`` and ``/v1/accounts/{id}``: the platform itself and the accounts connected to it."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import objects, spec
from .api import Call, endpoint
from .auth import no_access
from .events import emit
from .state import Account, SandboxState

JSON = dict[str, Any]


@endpoint(spec.ACCOUNT_RETRIEVE)
def retrieve_own(call: Call) -> JSON:
    return objects.account(call.account)


@endpoint(spec.ACCOUNT_RETRIEVE)
def retrieve(call: Call) -> JSON:
    account_id = call.request.match_info["id"]
    if account_id == call.account.id:
        return objects.account(call.account)
    target = call.state.connected_account(call.account.id, account_id)
    if target is None:
        raise no_access(call.caller.key, account_id)
    return objects.account(target)


def set_charges_enabled(state: SandboxState, account: Account, enabled: bool) -> JSON:
    """Flip whether the account can take payments (as finishing or losing verification does), with its event."""
    before = objects.account(account)
    account.charges_enabled = enabled
    account.payouts_enabled = enabled
    after = objects.account(account)
    previous = {key: before[key] for key in after if before[key] != after[key]}
    if previous:
        emit(state, account, "account.updated", after, previous=previous)
    return after


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/account", retrieve_own)
    app.router.add_get("/v1/accounts/{id}", retrieve)
