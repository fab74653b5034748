"""Request ids, the one error middleware, and security headers.

Errors leave in the contract's shape ``{"error": {"code", "message", "field"?}}`` for the API and as a plain page
for browsers. Anything unexpected is logged with context, sent to Sentry, and answered with a generic 500: the
client never sees exception text.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import sentry_sdk
from aiohttp import web

from addon import input_limits, logs
from addon.errors import CallpayError, InvalidInput
from addon.gateway import StripeFailure
from addon.integrity import SCRIPTS
from addon.observability import redact_link_tokens
from addon.pages import content_security_policy, render_message_page
from addon.services.stripe_errors import for_people

log = logging.getLogger("callpay.http")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}
HTTP_MESSAGES = {
    404: "There is nothing at this address. Check the link, or go back and try again.",
    405: "This address doesn't accept that method.",
    413: "The request is too large.",
}


def _address_is_safe(request: web.Request) -> bool:
    """A NUL byte or a lone surrogate in the path or query (``%00``, ``%ED%A0%80``) never reaches a handler."""
    if not input_limits.safe_path(request.path):
        return False
    return all(input_limits.safe_path(key) and input_limits.safe_path(value) for key, value in request.query.items())


def wants_json(request: web.Request) -> bool:
    path = request.path
    if path.startswith(("/api/", "/stripe/", "/socket.io")) or path in ("/healthz", "/readyz"):
        return True
    return "application/json" in request.headers.get("Accept", "") and "text/html" not in request.headers.get(
        "Accept", ""
    )


def error_response(request: web.Request, status: int, body: Mapping[str, Any]) -> web.Response:
    if wants_json(request):
        return web.json_response({"error": body}, status=status)
    return render_message_page(request, title="Something needs attention", message=body["message"], status=status)


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get("X-Request-Id", "")
    rid = incoming if 8 <= len(incoming) <= 64 and incoming.isascii() else secrets.token_hex(8)
    token = logs.request_id.set(rid)
    try:
        response = await handler(request)
        response.headers["X-Request-Id"] = rid
        return response
    finally:
        logs.request_id.reset(token)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        if not _address_is_safe(request):
            raise InvalidInput("The address holds characters Callpay doesn't accept.")
        return await handler(request)
    except CallpayError as exc:
        response = error_response(request, exc.status, exc.to_dict())
        response.headers.update(exc.headers)
        return response
    except StripeFailure as exc:
        # A Stripe failure a service let through unworded: the default words, never Stripe's internals.
        worded = for_people(exc)
        return error_response(request, worded.status, worded.to_dict())
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = HTTP_CODES.get(exc.status, "error")
        message = HTTP_MESSAGES.get(exc.status) or (exc.text if exc.text and exc.status < 500 else exc.reason)
        if message and message.startswith(f"{exc.status}:"):
            message = HTTP_MESSAGES.get(exc.status, exc.reason)
        return error_response(request, exc.status, {"code": code, "message": message or exc.reason})
    except Exception as exc:
        log.exception("unhandled error", extra={"method": request.method, "path": redact_link_tokens(request.path)})
        sentry_sdk.capture_exception(exc)
        return error_response(
            request,
            500,
            {"code": "internal_error", "message": "Something went wrong on our side. Please try again."},
        )


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin-allow-popups")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(self)")
    if response.content_type == "text/html" and "Content-Security-Policy" not in headers:
        headers["Content-Security-Policy"] = content_security_policy(request.host)
    if wants_json(request):
        headers.setdefault("Cache-Control", "no-store")
    elif (scripts := request.app.get(SCRIPTS)) is not None and scripts.serves(request.path):
        # Static files keep their URLs across deploys while the pages pin each module's hash (addon/integrity.py):
        # a browser must ask again (a 304 when unchanged) rather than reuse an old copy the new hash refuses.
        headers.setdefault("Cache-Control", "no-cache")
    return response
