"""Events: recorded per account when something happens, listed and retrieved at ``/v1/events``."""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from . import objects, params, spec
from .api import Call, endpoint, lookup
from .pagination import paginate
from .state import Account, SandboxState

JSON = dict[str, Any]


def emit(
    state: SandboxState,
    account: Account,
    type: str,
    obj: JSON,
    *,
    call: Call | None = None,
    previous: JSON | None = None,
    platform_ids: list[str] | None = None,
) -> JSON:
    """Record an event on ``account`` and hand it to the listeners (webhook delivery).

    ``platform_ids`` names the platforms whose Connect endpoints hear it when that is not simply the account's
    current platforms (a deauthorization is told to the platform that was just disconnected).
    """
    platforms = state.platforms_of(account.id) if platform_ids is None else platform_ids
    event = objects.event(
        type=type,
        data_object=copy.deepcopy(obj),
        api_version=params.API_VERSION,
        account_id=account.id if platforms else None,
        request_id=call.request_id if call is not None else None,
        idempotency_key=call.idempotency_key if call is not None else None,
        previous_attributes=previous,
    )
    account.events[event["id"]] = event
    for listener in state.listeners:
        listener(account, event, platforms)
    return event


@endpoint(spec.EVENT_LIST)
def list_events(call: Call) -> JSON:
    wanted = params.string_list(call.form, "types") or []
    single = params.string(call.form, "type")
    if single:
        wanted.append(single)
    events = list(reversed(call.account.events.values()))
    if wanted:
        events = [event for event in events if any(_type_matches(pattern, event["type"]) for pattern in wanted)]
    delivered = params.boolean(call.form, "delivery_success")
    if delivered is not None:
        # Stripe: false lists events still pending or failed at some endpoint; true, those delivered everywhere.
        events = [event for event in events if (event["pending_webhooks"] == 0) == delivered]
    return paginate(call, events, "/v1/events", "event")


def _type_matches(pattern: str, event_type: str) -> bool:
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


@endpoint(spec.EVENT_RETRIEVE)
def retrieve_event(call: Call) -> JSON:
    return lookup(call.account.events, call.request.match_info["id"], "event")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/events", list_events)
    app.router.add_get("/v1/events/{id}", retrieve_event)
