"""Background work that lives as long as the app: the outbox worker that sends receipt emails, the pay-later and
card-hold sweepers, reconciliation with Stripe, and (registered by addon/http/webhooks.py) the Stripe inbox's
polling round (retries, and events kept by a worker that died; the process that keeps an event works on it
itself, background jobs or not).

Each job is a cleanup context registered with :func:`job`; it runs only in a process whose settings have
``background`` on (the default, and always in ``callpay worker``). Web workers started with
``CALLPAY_BACKGROUND=off`` (or ``callpay serve --no-background``) leave them to the worker process. Every job is
safe to run in several processes at once: the outbox and the inbox claim rows with a lease, and a sweep's updates
are conditional."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta

from aiohttp import web

from addon import metrics
from addon.appkeys import AFTER_COMMIT, CLOCK, DB, DB_READ, GATEWAY, OUTBOX, RECONCILED, SETTINGS
from addon.mail import SEND_TIMEOUT, SmtpTransport
from addon.outbound import Outbound
from addon.publish import publish_after_commit
from addon.services import holds, payment_links, plans, reconciliation, saved_cards
from addon.services.outbox import OutboxWorker

log = logging.getLogger("callpay.outbox")
# Longer than an SMTP send normally takes, shorter than a platform's stop timeout.
SHUTDOWN_GRACE = 10.0


Job = Callable[[web.Application], AsyncIterator[None]]


def job(app: web.Application, context: Job) -> None:
    """Register one background job: it opens and closes with the app in processes that run background work."""
    if app[SETTINGS].background:
        app.cleanup_ctx.append(context)


def setup(app: web.Application) -> None:
    job(app, _outbox_worker)
    job(app, _link_sweeper)
    job(app, _hold_sweeper)
    job(app, _plan_sweeper)
    job(app, _stalled_charge_sweeper)
    job(app, _reconciler)
    app[AFTER_COMMIT].append(lambda events: _wake_outbox(app, events))


def _wake_outbox(app: web.Application, events: Sequence[Outbound]) -> None:
    """A payment announced means its receipt was queued in the transaction just committed: send it now, not at the
    outbox's next poll."""
    if OUTBOX in app and any(event.event in ("payment_received", "payment_link") for event in events):
        app[OUTBOX].wake()


async def _outbox_worker(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if not settings.smtp_url:
        # Receipts stay queued in the database and go out once SMTP is configured and the app restarted.
        log.warning("CALLPAY_SMTP_URL is not set: receipt emails are queued but not sent.")
        yield
        return
    lease = timedelta(seconds=settings.outbox_lease_seconds)
    transport = SmtpTransport(settings.smtp_url, timeout=min(SEND_TIMEOUT, settings.outbox_lease_seconds / 2))
    worker = OutboxWorker(app[DB], transport, mail_from=settings.mail_from, lease=lease)
    app[OUTBOX] = worker
    task = asyncio.create_task(worker.run(), name="callpay-outbox")
    try:
        yield
    finally:
        worker.stop()
        try:
            await asyncio.wait_for(asyncio.shield(task), SHUTDOWN_GRACE)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


SWEEP_INTERVAL = 15.0


async def sweep_links_once(app: web.Application) -> payment_links.Swept:
    """One round of the pay-later links' work (expiry, automatic reminders), its events published; the one entry
    point a separate worker process can call on its own schedule."""
    swept = await payment_links.sweep(app[DB], app[GATEWAY], clock=app[CLOCK])
    await publish_after_commit(app, swept.events)
    return swept


def _link_sweeper(app: web.Application) -> AsyncIterator[None]:
    return _periodic(app, sweep_links_once, SWEEP_INTERVAL, "pay-later sweep")


HOLD_SWEEP_INTERVAL = 300.0


async def sweep_holds_once(app: web.Application) -> holds.Swept:
    """One round of the card holds' sweeper (charge or release those close to Stripe's capture_before), its events
    published; the one entry point a separate worker process can call on its own schedule."""
    swept = await holds.sweep(app[DB], app[GATEWAY], clock=app[CLOCK])
    await publish_after_commit(app, swept.events)
    return swept


def _hold_sweeper(app: web.Application) -> AsyncIterator[None]:
    return _periodic(app, sweep_holds_once, HOLD_SWEEP_INTERVAL, "card hold sweep")


PLAN_SWEEP_INTERVAL = 30.0


async def sweep_plans_once(app: web.Application) -> plans.Swept:
    """One round of the instalment plans' scheduler (reminders, due instalments charged or sent as links), its
    events published; the one entry point a separate worker process can call on its own schedule."""
    swept = await plans.sweep(app[DB], app[GATEWAY], clock=app[CLOCK], base_url=app[SETTINGS].public_url)
    await publish_after_commit(app, swept.events)
    if OUTBOX in app and (swept.reminded or swept.charged or swept.linked):
        app[OUTBOX].wake()
    return swept


def _plan_sweeper(app: web.Application) -> AsyncIterator[None]:
    return _periodic(app, sweep_plans_once, PLAN_SWEEP_INTERVAL, "instalment plan sweep")


STALLED_CHARGE_INTERVAL = 60.0


async def resume_stalled_charges_once(app: web.Application) -> saved_cards.Resumed:
    """One round of asking Stripe again about card-on-file charges whose answer was lost, its events published; the
    one entry point a separate worker process can call on its own schedule."""
    resumed = await saved_cards.resume_stalled(
        app[DB], app[GATEWAY], clock=app[CLOCK], base_url=app[SETTINGS].public_url
    )
    await publish_after_commit(app, resumed.events)
    if OUTBOX in app and resumed.finished:
        app[OUTBOX].wake()
    return resumed


def _stalled_charge_sweeper(app: web.Application) -> AsyncIterator[None]:
    return _periodic(app, resume_stalled_charges_once, STALLED_CHARGE_INTERVAL, "stalled charge sweep")


async def _periodic(
    app: web.Application, once: Callable[[web.Application], Awaitable[object]], interval: float, what: str
) -> AsyncIterator[None]:
    """Run ``once`` every ``interval`` seconds while the app lives.

    It stops on an event rather than on cancellation alone: on Python 3.11 ``asyncio.wait_for`` (used deep in the
    database layer) can swallow a cancellation that lands as its inner wait completes, and a sweep loop that lost
    its cancellation went back to sleep and kept the app's shutdown waiting forever."""
    stopping = asyncio.Event()

    async def loop() -> None:
        while not stopping.is_set():
            try:
                await once(app)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s failed", what)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), interval)

    task = asyncio.create_task(loop(), name=f"callpay-{what.replace(' ', '-')}")
    try:
        yield
    finally:
        stopping.set()
        # Bounded: a round caught mid-call to Stripe never holds up the app's shutdown.
        _done, pending = await asyncio.wait([task], timeout=SHUTDOWN_GRACE)
        for late in pending:
            late.cancel()


def _reconciler(app: web.Application) -> AsyncIterator[None]:
    """Ask Stripe about open payments once on start-up and every minute after (addon/services/reconciliation.py)."""
    totals = reconciliation.Totals()
    app[RECONCILED] = totals

    async def publish(events: Sequence[Outbound]) -> None:
        await publish_after_commit(app, events)

    async def reconcile_once(app: web.Application) -> None:
        report = await reconciliation.reconcile(app[DB], app[DB_READ], app[GATEWAY], publish=publish)
        totals.add(report)
        metrics.reconciled(app, report.checked, report.fixed, report.errors)

    return _periodic(app, reconcile_once, reconciliation.INTERVAL, "reconcile round")
