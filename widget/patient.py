"""The patient's payment widget in the call window: ``GET /widget/patient?launch=…``."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from addon.appkeys import DB, SETTINGS
from addon.auth.roles import Role
from addon.http.surfaces import open_surface, render_surface
from addon.services.patients import patient_view
from addon.settings import Settings


async def patient_page(request: web.Request) -> web.Response:
    opened = await open_surface(request, {Role.PATIENT})
    if isinstance(opened, web.Response):
        return opened
    async with request.app[DB]() as db:
        view = await patient_view(db, opened.principal)
    response = render_surface(request, "patient.html", opened, {"clinic_name": view.clinic_name})
    response.headers["Content-Security-Policy"] = content_security_policy(request.app[SETTINGS], request.host)
    return response


def content_security_policy(settings: Settings, host: str) -> str:
    """The page's own scripts, plus Stripe.js: its script, its card and 3-D Secure frames, and its API calls.

    Stripe.js comes from wherever settings say (Stripe, or the sandbox in the demo and tests), so its origins are
    derived from the same settings rather than written here.
    """
    js = _origin(settings.stripe_js_url)
    api = _origin(settings.stripe_api_base)
    # Stripe's own Stripe.js also loads scripts and frames from its subdomains (Stripe's CSP guidance lists
    # https://*.js.stripe.com and https://hooks.stripe.com for the Payment Element and 3-D Secure).
    on_stripe = js == "https://js.stripe.com"
    stripe_scripts = "https://*.js.stripe.com" if on_stripe else ""
    stripe_frames = "https://*.js.stripe.com https://hooks.stripe.com" if on_stripe else ""
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {js} {stripe_scripts}".strip(),
            f"frame-src {js} {stripe_frames}".strip(),
            f"connect-src 'self' ws://{host} wss://{host} {api} {js}",
            "img-src 'self' data: blob:",
            "style-src 'self'",
            "frame-ancestors *",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def setup(app: web.Application) -> None:
    app.router.add_get("/widget/patient", patient_page)
