"""The sandbox's app factory: Stripe's API at ``/v1``, Connect OAuth at ``/oauth``, the Stripe.js stand-in at
``/v3`` and test controls at ``/_sandbox``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from . import (
    accounts,
    accounts_api,
    charges,
    controls,
    customers,
    dashboard,
    events,
    ledger,
    oauth,
    onboarding_page,
    payment_intents,
    payment_methods,
    refunds,
    setup_intents,
    three_d_secure,
    webhook_endpoints,
)
from .appkeys import CONFIG, DISPATCHER, FAULTS, STATE, TASKS
from .clock import CLOCK, Clock, clock_context
from .config import Delivery, SandboxConfig
from .delivery import WebhookDispatcher
from .faults import FaultInjector
from .js import add_js_routes
from .middleware import cors, faults, stripe_errors
from .state import SandboxState
from .tasks import BackgroundTasks

_ROUTES: tuple[Callable[[web.Application], None], ...] = (
    accounts.add_routes,
    accounts_api.add_routes,
    onboarding_page.add_routes,
    dashboard.add_routes,
    payment_intents.add_routes,
    payment_methods.add_routes,
    charges.add_routes,
    refunds.add_routes,
    customers.add_routes,
    setup_intents.add_routes,
    ledger.add_routes,
    events.add_routes,
    webhook_endpoints.add_routes,
    oauth.add_routes,
    three_d_secure.add_routes,
    controls.add_routes,
    add_js_routes,
)


def create_sandbox_app(
    *,
    public_url: str | None = None,
    webhook_retry_base: float = 0.5,
    webhook_max_attempts: int = 6,
    processing_delay: float = 0.0,
    delivery: Delivery | None = None,
    refund_settle_delay: float = 2.0,
) -> web.Application:
    """An offline Stripe. ``public_url`` is the address browsers reach it at (default: each request's Host);
    ``delivery`` makes webhooks arrive as Stripe's may (duplicated, shuffled, late)."""
    app = web.Application(middlewares=[clock_context, cors, stripe_errors, faults])
    state = SandboxState()
    config = SandboxConfig(
        public_url=public_url,
        webhook_retry_base=webhook_retry_base,
        webhook_max_attempts=webhook_max_attempts,
        processing_delay=processing_delay,
        delivery=delivery or Delivery(),
        refund_settle_delay=refund_settle_delay,
    )
    app[STATE] = state
    app[CLOCK] = Clock()
    app[CONFIG] = config
    app[FAULTS] = FaultInjector()
    app[TASKS] = BackgroundTasks()
    app[DISPATCHER] = WebhookDispatcher(state, config)
    app.cleanup_ctx.append(_background)
    for add_routes in _ROUTES:
        add_routes(app)
    return app


async def _background(app: web.Application) -> AsyncIterator[None]:
    await app[DISPATCHER].start()
    yield
    await app[TASKS].close()
    await app[DISPATCHER].close()
    app[CLOCK].reset()
