"""The sandbox's stand-in for Stripe.js, served at ``/v3/``.

The browser code lives in ``static/``: ``stripe.js`` (the ``Stripe()`` global a host page loads), the card-field
page it frames (``elements-inner.*``) and the 3-D Secure challenge page (``three-d-secure.*``). Those pages are
served from the sandbox's own origin so that, as with real Stripe, the host page never touches a card number.

Only a fixed list of files is served: the route takes a name, not a path, so nothing outside ``static/`` can be
reached whatever the request says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from aiohttp import web

__all__ = ["STATIC_DIR", "add_js_routes"]

STATIC_DIR: Final = Path(__file__).parent / "static"

_JS: Final = "application/javascript; charset=utf-8"
_CSS: Final = "text/css; charset=utf-8"
_HTML: Final = "text/html; charset=utf-8"

# name under /v3/ -> (file in static/, content type)
_FILES: Final[dict[str, tuple[str, str]]] = {
    "": ("stripe.js", _JS),
    "stripe.js": ("stripe.js", _JS),
    "elements-inner.html": ("elements-inner.html", _HTML),
    "elements-inner.js": ("elements-inner.js", _JS),
    "elements-inner.css": ("elements-inner.css", _CSS),
    "three-d-secure.html": ("three-d-secure.html", _HTML),
    "three-d-secure.js": ("three-d-secure.js", _JS),
    "three-d-secure.css": ("three-d-secure.css", _CSS),
}

# The framed pages are embedded by whatever site uses the sandbox (any origin, like js.stripe.com), but they may
# only run their own scripts and talk to their own origin: that is what keeps card data inside the frame.
_FRAME_CSP: Final = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors *",
    ]
)

_COMMON_HEADERS: Final = {
    "X-Content-Type-Options": "nosniff",
    # The sandbox changes while developers work on it; a stale cached script would be confusing.
    "Cache-Control": "no-cache",
}


def _headers_for(content_type: str) -> dict[str, str]:
    headers = {**_COMMON_HEADERS, "Content-Type": content_type}
    if content_type == _HTML:
        headers["Content-Security-Policy"] = _FRAME_CSP
        # The frame's address carries the publishable key and the host's origin in its fragment; keep even the
        # path out of Referer headers sent by the frame's own requests.
        headers["Referrer-Policy"] = "no-referrer"
    else:
        # Scripts and styles may be loaded with crossorigin="anonymous" by host pages; allow that as Stripe does.
        headers["Access-Control-Allow-Origin"] = "*"
    return headers


async def _serve(request: web.Request) -> web.StreamResponse:
    entry = _FILES.get(request.match_info.get("name", ""))
    if entry is None:
        raise web.HTTPNotFound()
    filename, content_type = entry
    return web.FileResponse(STATIC_DIR / filename, headers=_headers_for(content_type))


def add_js_routes(app: web.Application) -> None:
    """Mount the Stripe.js stand-in on ``app``: ``/v3`` and ``/v3/`` serve the script, ``/v3/<file>`` its pages."""
    app.router.add_get("/v3", _serve)
    app.router.add_get("/v3/", _serve)
    app.router.add_get("/v3/{name}", _serve)
