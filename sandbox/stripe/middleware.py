"""What wraps every request: a ``Request-Id``, Stripe-shaped errors, open CORS for browser calls, injected faults."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from .api import error_response
from .appkeys import FAULTS, REQUEST_ID
from .errors import StripeError, api_error, injected_api_error, lock_timeout, rate_limited
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
    firing = request.app[FAULTS].pick(request.method, request.path)
    if firing is None:
        return await handler(request)
    kind = firing.kind
    if kind == "latency":
        await asyncio.sleep(firing.delay_ms / 1000)
        return await handler(request)
    if kind == "429":
        raise rate_limited()
    if kind == "lock_timeout":
        raise lock_timeout()
    if kind in ("500", "503"):
        raise injected_api_error(int(kind))
    if kind in ("stall", "drop_body"):
        return await _cut_short(request, handler, stall=firing.delay_ms / 1000 if kind == "stall" else None)
    if kind == "drop_after":
        with contextlib.suppress(StripeError):  # an error answer is lost the same way
            await handler(request)
    # "drop": close the connection without answering, as a network failure would; aiohttp then quietly
    # discards the response below, which nobody can receive
    _abort(request)
    return web.Response(status=500)


def _abort(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


async def _cut_short(request: web.Request, handler: Handler, *, stall: float | None) -> web.StreamResponse:
    """Handle the request, send its status, headers and the first half of its body, then either wait ``stall``
    seconds before the rest (a body slower than the client's timeout) or, with no stall, drop the connection."""
    try:
        answer = await handler(request)
    except StripeError as error:
        answer = error_response(error)
    if not isinstance(answer, web.Response) or not isinstance(answer.body, bytes):
        return answer
    body = answer.body
    stream = web.StreamResponse(status=answer.status, headers=answer.headers)
    stream.headers["Request-Id"] = request[REQUEST_ID]
    stream.content_length = len(body)
    try:
        await stream.prepare(request)
        await stream.write(body[: len(body) // 2])
        if stall is None:
            _abort(request)
            return stream
        await _stall(request, stall)
        await stream.write(body[len(body) // 2 :])
        await stream.write_eof()
    except (ConnectionResetError, ConnectionError):
        pass  # the client gave up waiting, as it should
    return stream


async def _stall(request: web.Request, seconds: float) -> None:
    """Wait ``seconds``, or until the client hangs up (so a stalled answer doesn't outlive its connection)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        await asyncio.sleep(min(0.05, max(deadline - asyncio.get_running_loop().time(), 0)))
