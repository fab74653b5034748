"""A pay-later link's page, ``GET /pay/{token}``: no launch, the in-call widget's look and card form.

Unknown and wrong tokens get the same page; an expired or canceled link's page says so and names the clinic; a paid
one says it is paid. Rate limited per address and per token, never cached, no referrer (see
:mod:`addon.http.payment_links`, which serves its API).
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from addon.appkeys import CLOCK, DB_READ
from addon.errors import RateLimited
from addon.http.payment_links import VIEW_LIMITS, limit, private
from addon.services import payment_links
from addon.services.link_state import L
from widget.patient import page_policy

ENTRY = "/widget/static/pay_link.js"  # the page's one module of ours (pay_link.html's module_script)


async def pay_page(request: web.Request) -> web.StreamResponse:
    """``GET /pay/{token}``: the link's page. Unknown and wrong tokens get the same page; an expired or canceled
    link's page says so and names the clinic; a paid one says it is paid."""
    try:
        await limit(request, VIEW_LIMITS)
    except RateLimited as exc:
        return _page(request, {"state": "limited", "message": exc.message}, status=429, headers=exc.headers)
    async with request.app[DB_READ]() as db:
        found = await payment_links.public(db, request.match_info["token"], clock=request.app[CLOCK])
    if found.status is None:
        return _page(request, {"state": "unavailable", "clinic_name": None}, status=404)
    if found.status in (L.EXPIRED, L.CANCELED):
        return _page(
            request,
            {"state": "unavailable", "clinic_name": found.clinic_name, "why": found.status.value,
             "timezone": found.timezone},
            status=410,
        )  # fmt: skip
    link = found.body.to_json() if found.body is not None else None
    context = {"state": found.status.value, "clinic_name": found.clinic_name, "link": link, "timezone": found.timezone}
    return _page(request, context)


def _page(
    request: web.Request, context: dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None
) -> web.StreamResponse:
    context.setdefault("clinic_name", None)
    context.setdefault("link", None)
    response = aiohttp_jinja2.render_template("pay_link.html", request, context, status=status)
    response.headers["Content-Security-Policy"] = page_policy(request, ENTRY)
    response.headers.update(headers or {})
    return private(response)


def setup(app: web.Application) -> None:
    app.router.add_get("/pay/{token}", pay_page)
