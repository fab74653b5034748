"""What wraps every request: a ``Request-Id``, Stripe-shaped errors, open CORS for browser calls, injected faults."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from .api import error_response
from .appkeys import FAULTS, REQUEST_ID
from .errors import StripeError, api_error, rate_limited
from .ids import new_id

log = logging.getLogger(__name__)

_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "Authorization, Stripe-Account, Stripe-Version, Content-Type, Idempotency-Key",
    "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
    "Access-Control-Expose-Headers": (
        "Request-Id, Stripe-Should-Retry, Idempotent-Replayed, Stripe-Version, Idempotency-Key"
    ),
    "Access-Control-Max-Age": "300",
}


def _is_api(path: str) -> bool:
    return path.startswith(("/v1/", "/_sandbox/", "/oauth/token", "/oauth/deauthorize"))


@web.middleware
async def stripe_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give every response a Request-Id and turn failures into Stripe's error bodies."""
    request_id = new_id("req", 14)
    request[REQUEST_ID] = request_id
    try:
        response = await handler(request)
    except StripeError as error:
        response = error_response(error)
    except web.HTTPException as exc:
        if exc.status in (404, 405) and request.path.startswith("/v1"):
            response = error_response(
                StripeError(
                    404,
                    f"Unrecognized request URL ({request.method}: {request.path}). Please see https://stripe.com/docs "
                    "or we can help at https://support.stripe.com/.",
                )
            )
        else:
            exc.headers["Request-Id"] = request_id
            raise
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("sandbox request %s %s failed", request.method, request.path)
        response = error_response(api_error())
    response.headers["Request-Id"] = request_id
    return response


@web.middleware
async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Browsers call the API directly (Stripe.js does), so preflights succeed and responses are readable."""
    if not _is_api(request.path):
        return await handler(request)
    if request.method == "OPTIONS":
        return web.Response(status=204, headers={**_CORS, "Request-Id": new_id("req", 14)})
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(_CORS)
        raise
    response.headers.update(_CORS)
    return response


@web.middleware
async def faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/_sandbox/"):
        return await handler(request)
    fault = request.app[FAULTS].pick(request.method, request.path)
    if fault is None:
        return await handler(request)
    if fault.kind == "latency":
        await asyncio.sleep(fault.latency_ms / 1000)
        return await handler(request)
    if fault.kind == "429":
        raise rate_limited()
    if fault.kind == "500":
        raise api_error()
    if fault.kind == "drop_after":
        with contextlib.suppress(StripeError):  # an error answer is lost the same way
            await handler(request)
    # "drop": close the connection without answering, as a network failure would; aiohttp then quietly
    # discards the response below, which nobody can receive
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=500)
