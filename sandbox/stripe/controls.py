"""Test controls under ``/_sandbox/`` (JSON in and out, no key): reset, faults, webhook failures and flushing,
account switches, delivery log. Nothing here exists on Stripe; production code never calls it."""

from __future__ import annotations

import json
import time
from html import escape
from typing import Any

from aiohttp import web

from . import accounts, refunds
from .appkeys import CONFIG, DISPATCHER, FAULTS, STATE, TASKS
from .clock import CLOCK
from .config import REALISTIC, Delivery
from .currencies import format_amount
from .faults import KINDS, Fault

JSON = dict[str, Any]


def _bad(message: str, kind: type[web.HTTPClientError] = web.HTTPBadRequest) -> web.HTTPClientError:
    return kind(text=json.dumps({"error": {"message": message}}), content_type="application/json")


async def _body(request: web.Request) -> JSON:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError as exc:
        raise _bad("The body must be JSON.") from exc
    if not isinstance(body, dict):
        raise _bad("The body must be a JSON object.")
    return body


async def reset(request: web.Request) -> web.Response:
    """Forget everything: accounts, objects, events, idempotent results, faults, pending deliveries."""
    await request.app[DISPATCHER].reset()
    await request.app[TASKS].close()
    request.app[FAULTS].clear()
    request.app[CLOCK].reset()
    request.app[STATE].reset()
    return web.json_response({"reset": True})


async def add_fault(request: web.Request) -> web.Response:
    """``{"route_prefix", "kind" | "kinds": [...], "rate"?, "method"?, "latency_ms"?, "count"?, "seed"?}``: see
    :mod:`.faults` for the kinds. ``seed`` makes the dice repeatable."""
    body = await _body(request)
    prefix, kind, kinds = body.get("route_prefix"), body.get("kind"), body.get("kinds")
    if not isinstance(prefix, str) or not prefix.startswith("/"):
        raise _bad("route_prefix must be a path such as /v1/payment_intents.")
    if kinds is None:
        kinds = [kind]
    if not isinstance(kinds, list) or not kinds or any(k not in KINDS for k in kinds):
        raise _bad(f"kind (or each of kinds) must be one of {', '.join(KINDS)}.")
    rate, latency, count, method = body.get("rate", 1), body.get("latency_ms", 0), body.get("count"), body.get("method")
    seed = body.get("seed")
    if not isinstance(rate, int | float) or not 0 <= rate <= 1:
        raise _bad("rate must be a number from 0 to 1.")
    if not isinstance(latency, int) or latency < 0:
        raise _bad("latency_ms must be a non-negative integer.")
    if count is not None and (not isinstance(count, int) or count < 1):
        raise _bad("count must be a positive integer.")
    if method is not None and not isinstance(method, str):
        raise _bad("method must be an HTTP method such as POST.")
    if seed is not None and not isinstance(seed, int):
        raise _bad("seed must be an integer.")
    chosen = tuple(dict.fromkeys(kinds))
    fault = Fault(prefix, chosen[0], method.upper() if method else None, float(rate), latency, count, chosen)
    if seed is not None:
        request.app[FAULTS].seed(seed)
    request.app[FAULTS].faults.append(fault)
    return web.json_response(fault.as_json(), status=201)


async def list_faults(request: web.Request) -> web.Response:
    """The faults in force, and ``injected``: how many requests each kind hit since they were last cleared."""
    injector = request.app[FAULTS]
    return web.json_response(
        {"faults": [fault.as_json() for fault in injector.faults], "injected": dict(injector.injected)}
    )


async def clear_faults(request: web.Request) -> web.Response:
    injector = request.app[FAULTS]
    injected = dict(injector.injected)
    injector.clear()
    return web.json_response({"faults": [], "injected": injected})


async def fail_webhooks(request: web.Request) -> web.Response:
    """``{"count": N}``: the next N delivery attempts fail; ``{"until": s}``: all attempts for s seconds."""
    body = await _body(request)
    dispatcher = request.app[DISPATCHER]
    count, until = body.get("count"), body.get("until")
    if count is None and until is None:
        raise _bad('Send {"count": N} or {"until": seconds}.')
    if count is not None:
        if not isinstance(count, int) or count < 0:
            raise _bad("count must be a non-negative integer.")
        dispatcher.forced_failures = count
    if until is not None:
        if not isinstance(until, int | float) or until < 0:
            raise _bad("until must be a non-negative number of seconds.")
        dispatcher.fail_until = time.monotonic() + until
    return web.json_response(
        {"count": dispatcher.forced_failures, "until": max(0.0, dispatcher.fail_until - time.monotonic())}
    )


async def flush_webhooks(request: web.Request) -> web.Response:
    body = await _body(request)
    timeout = body.get("timeout", 30)
    if not isinstance(timeout, int | float) or timeout <= 0:
        raise _bad("timeout must be a positive number of seconds.")
    dispatcher = request.app[DISPATCHER]
    done = await dispatcher.tasks.wait(float(timeout))
    return web.json_response({"done": done, "pending": dispatcher.tasks.pending})


async def deliveries(request: web.Request) -> web.Response:
    attempts = request.app[DISPATCHER].attempts
    event_id, endpoint_id = request.query.get("event"), request.query.get("endpoint")
    rows = [
        attempt.as_json()
        for attempt in attempts
        if (event_id is None or attempt.event == event_id) and (endpoint_id is None or attempt.endpoint == endpoint_id)
    ]
    return web.json_response({"deliveries": rows})


async def charges_enabled(request: web.Request) -> web.Response:
    body = await _body(request)
    enabled = body.get("enabled")
    if not isinstance(enabled, bool):
        raise _bad("enabled must be true or false.")
    state = request.app[STATE]
    account = state.accounts.get(request.match_info["id"])
    if account is None:
        raise _bad("No such account.", web.HTTPNotFound)
    return web.json_response(accounts.set_charges_enabled(state, account, enabled))


async def processing_delay(request: web.Request) -> web.Response:
    """``{"delay_ms": N}``: card confirmations stay ``processing`` for N ms (0: succeed at once, as Stripe)."""
    body = await _body(request)
    delay = body.get("delay_ms")
    if not isinstance(delay, int) or delay < 0:
        raise _bad("delay_ms must be a non-negative integer.")
    request.app[CONFIG].processing_delay = delay / 1000
    return web.json_response({"delay_ms": delay})


def _delivery_json(delivery: Delivery) -> JSON:
    return {
        "realistic": delivery.realistic,
        "duplicate_rate": delivery.duplicate_rate,
        "reorder_window_ms": round(delivery.reorder_window * 1000),
        "delay_ms": round(delivery.delay * 1000),
        "seed": delivery.seed,
    }


async def get_delivery(request: web.Request) -> web.Response:
    return web.json_response(_delivery_json(request.app[CONFIG].delivery))


async def set_delivery(request: web.Request) -> web.Response:
    """How webhooks arrive: ``{"realistic": true}`` for Stripe-like defaults, or the figures themselves
    (``duplicate_rate`` 0..1, ``reorder_window_ms``, ``delay_ms``, ``seed``); ``{"realistic": false}``: in order,
    once, at once."""
    body = await _body(request)
    known = {"realistic", "duplicate_rate", "reorder_window_ms", "delay_ms", "seed"}
    for name in body:
        if name not in known:
            raise _bad(f"Unknown setting {name}; use {', '.join(sorted(known))}.")
    realistic = body.get("realistic")
    if realistic is not None and not isinstance(realistic, bool):
        raise _bad("realistic must be true or false.")
    base = REALISTIC if realistic else Delivery()
    rate = body.get("duplicate_rate", base.duplicate_rate)
    window = body.get("reorder_window_ms", round(base.reorder_window * 1000))
    delay = body.get("delay_ms", round(base.delay * 1000))
    seed = body.get("seed")
    if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 <= rate <= 1:
        raise _bad("duplicate_rate must be a number from 0 to 1.")
    for name, value in (("reorder_window_ms", window), ("delay_ms", delay)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise _bad(f"{name} must be a non-negative integer.")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise _bad("seed must be an integer.")
    delivery = Delivery(float(rate), window / 1000, delay / 1000, seed)
    request.app[DISPATCHER].set_delivery(delivery)
    return web.json_response(_delivery_json(delivery))


async def get_clock(request: web.Request) -> web.Response:
    clock = request.app[CLOCK]
    return web.json_response({"now": clock.now(), "offset_seconds": clock.offset, "timers": clock.pending})


async def advance_clock(request: web.Request) -> web.Response:
    """``{"seconds": N}`` (or ``"days"``/``"hours"``): move the sandbox's clock forward, running whatever falls
    due on the way (card holds expiring, refunds settling), in order."""
    body = await _body(request)
    units = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
    total = 0.0
    for name, value in body.items():
        if name not in units:
            raise _bad(f"Unknown unit {name}; use seconds, minutes, hours or days.")
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise _bad(f"{name} must be a non-negative number.")
        total += value * units[name]
    if not body:
        raise _bad('Send {"seconds": N} (or minutes, hours, days).')
    clock = request.app[CLOCK]
    clock.advance(total)
    return web.json_response({"now": clock.now(), "offset_seconds": clock.offset, "timers": clock.pending})


async def settle_refund(request: web.Request) -> web.Response:
    """``POST /_sandbox/refunds/{id}/succeed`` (a pending refund) or ``…/fail`` (pending or succeeded;
    ``{"failure_reason": …}``, default ``expired_or_canceled_card``), with the events Stripe sends."""
    body = await _body(request)
    outcome = "succeeded" if request.match_info["outcome"] == "succeed" else "failed"
    reason = body.get("failure_reason", "expired_or_canceled_card")
    if reason not in refunds.FAILURE_REASONS:
        raise _bad(f"failure_reason must be one of {', '.join(refunds.FAILURE_REASONS)}.")
    state = request.app[STATE]
    for account in state.accounts.values():
        refund = account.refunds.get(request.match_info["id"])
        if refund is not None:
            if not refunds.settle(state, account, refund, outcome, reason):
                raise _bad(f"A {refund['status']} refund can't be moved to {outcome}.", web.HTTPConflict)
            return web.json_response(refund)
    raise _bad("No such refund.", web.HTTPNotFound)


async def list_accounts(request: web.Request) -> web.Response:
    state = request.app[STATE]
    rows = [
        {
            "id": account.id,
            "business_name": account.business_name,
            "charges_enabled": account.charges_enabled,
            "connected_to": state.platforms_of(account.id),
            "connected": sorted(state.connections.get(account.id, set())),
        }
        for account in state.accounts.values()
    ]
    return web.json_response({"accounts": rows})


async def receipt(request: web.Request) -> web.Response:
    """What a charge's ``receipt_url`` opens: a plain receipt, so links in the product lead somewhere."""
    charge_id = request.match_info["id"]
    for account in request.app[STATE].accounts.values():
        charge = account.charges.get(charge_id)
        if charge is not None:
            card = charge["payment_method_details"]["card"]
            amount = format_amount(charge["amount"], charge["currency"])
            body = (
                f"<h1>Receipt from {escape(account.business_name or account.id)}</h1>"
                f"<p>{escape(amount)} {escape(charge['currency'].upper())} paid with {escape(card['brand'])} "
                f"•••• {escape(card['last4'])}</p><p>{escape(charge['description'] or '')}</p>"
                f"<p><small>{escape(charge['id'])} · sandbox</small></p>"
            )
            return web.Response(
                text=f"<!doctype html><meta charset=utf-8><title>Receipt</title>{body}", content_type="text/html"
            )
    raise web.HTTPNotFound(text="No such receipt.")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/_sandbox/reset", reset)
    app.router.add_get("/_sandbox/faults", list_faults)
    app.router.add_post("/_sandbox/faults", add_fault)
    app.router.add_delete("/_sandbox/faults", clear_faults)
    app.router.add_post("/_sandbox/webhooks/fail", fail_webhooks)
    app.router.add_post("/_sandbox/webhooks/flush", flush_webhooks)
    app.router.add_get("/_sandbox/deliveries", deliveries)
    app.router.add_post("/_sandbox/accounts/{id}/charges_enabled", charges_enabled)
    app.router.add_get("/_sandbox/accounts", list_accounts)
    app.router.add_post("/_sandbox/processing", processing_delay)
    app.router.add_get("/_sandbox/webhooks/delivery", get_delivery)
    app.router.add_post("/_sandbox/webhooks/delivery", set_delivery)
    app.router.add_get("/_sandbox/clock", get_clock)
    app.router.add_post("/_sandbox/refunds/{id}/{outcome:succeed|fail}", settle_refund)
    app.router.add_post("/_sandbox/clock/advance", advance_clock)
    app.router.add_get("/_sandbox/receipts/{id}", receipt)
