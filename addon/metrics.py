"""``GET /metrics``: Prometheus's text format for operators, behind a bearer token.

Off unless ``CALLPAY_METRICS_TOKEN`` is set (then ``Authorization: Bearer <token>`` is required; anything else is a
404 for an unset token and a 401 for a wrong one). Each app has its own registry, so several apps in one process
(tests, the demo) never share counters. What is measured:

- ``callpay_http_request_seconds{route,method,status}``: each request, by its route's pattern (never the raw path,
  so ids don't make new series);
- ``callpay_socket_action_seconds{action,outcome}``: each Socket.IO action (``request_payment``, ...);
- ``callpay_payments_total{outcome}``: each payment request's change of status, published after its commit
  (``requested``, ``paid``, ``failed``, ``cancelled``, ...), counted in the process whose transaction committed it;
- ``callpay_webhook_lag_seconds``: Stripe's ``created`` on an event to this server receiving it;
- ``callpay_outbox_depth`` and ``callpay_outbox_oldest_seconds``: receipts waiting to be sent, read at scrape time;
- ``callpay_connected_sockets``: Socket.IO connections held by this worker.

- ``callpay_reconciliation_fixes_total``: payment requests reconciliation corrected from Stripe (each fix counted
  once, by the worker whose conditional update made it), with ``callpay_reconciliation_checks_total`` and
  ``callpay_reconciliation_errors_total``.

Several processes (gunicorn's workers, several ``callpay serve`` behind a load balancer, ``callpay worker``): give
them one empty directory in ``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode; emptied before
they start, see addon/gunicorn_conf.py) and ``/metrics`` on any of them answers for all: counters and histograms
summed over every process that ran since, ``callpay_connected_sockets`` summed over the live ones. Without it each
process answers for itself; scrape each then (a ``callpay worker`` with ``--port`` answers too). The outbox figures
are read from the database at scrape time, so they are the same whichever process answers.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from addon.appkeys import AFTER_COMMIT, DB_READ, SETTINGS
from addon.models import OutboxEmail
from addon.outbound import Outbound

# Socket actions and most requests finish in milliseconds; the long tail is what an operator looks for.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LAG_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)
# Socket.IO's own events are not actions a clinician takes.
NOT_ACTIONS = ("connect", "disconnect")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Histogram(
            "callpay_http_request_seconds",
            "HTTP request latency by route.",
            ("route", "method", "status"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.socket_actions = Histogram(
            "callpay_socket_action_seconds",
            "Socket.IO action latency.",
            ("action", "outcome"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.payments = Counter(
            "callpay_payments",
            "Payment events published after commit, by outcome.",
            ("outcome",),
            registry=self.registry,
        )
        self.webhook_lag = Histogram(
            "callpay_webhook_lag_seconds",
            "Stripe's created time on an event to this server receiving it.",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.sockets = Gauge(
            "callpay_connected_sockets",
            "Socket.IO connections held (summed over the live workers in multiprocess mode).",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.reconciliation_checks = Counter(
            "callpay_reconciliation_checks",
            "Open payment requests reconciliation compared with Stripe.",
            registry=self.registry,
        )
        self.reconciliation_fixes = Counter(
            "callpay_reconciliation_fixes",
            "Payment requests reconciliation corrected from Stripe.",
            registry=self.registry,
        )
        self.reconciliation_errors = Counter(
            "callpay_reconciliation_errors",
            "Reconciliation checks that could not reach Stripe.",
            registry=self.registry,
        )
        # Socket.IO session ids counted in ``sockets``: a refused connect is never counted, so never subtracted.
        self._connected: set[str] = set()

    def socket_connected(self, sid: str) -> None:
        if sid not in self._connected:
            self._connected.add(sid)
            self.sockets.inc()

    def socket_disconnected(self, sid: str) -> None:
        if sid in self._connected:
            self._connected.discard(sid)
            self.sockets.dec()

    def reconciled(self, checked: int, fixed: int, errors: int) -> None:
        self.reconciliation_checks.inc(checked)
        self.reconciliation_fixes.inc(fixed)
        self.reconciliation_errors.inc(errors)

    def published(self, events: Sequence[Outbound]) -> None:
        for event in events:
            status = getattr(event.data, "status", None)
            if event.event == "payment_request" and event.status_changed and isinstance(status, str):
                self.payments.labels(status).inc()


METRICS = web.AppKey("metrics", Metrics)


def multiprocess_mode() -> bool:
    """Whether prometheus-client keeps this process's figures in ``PROMETHEUS_MULTIPROC_DIR`` (it decides once, when
    it is imported, from the environment)."""
    return values.ValueClass is not values.MutexValue


def setup(app: web.Application) -> None:
    metrics = Metrics()
    app[METRICS] = metrics
    app.middlewares.insert(0, _timed)
    app[AFTER_COMMIT].append(metrics.published)
    app.router.add_get("/metrics", _scrape)
    if multiprocess_mode():
        app.cleanup_ctx.append(_leave_multiprocess)


async def _leave_multiprocess(_app: web.Application) -> AsyncIterator[None]:
    yield
    # This process's live gauges (its sockets) stop counting; its counters and histograms stay in the sums.
    with contextlib.suppress(OSError):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def reconciled(app: web.Application, checked: int, fixed: int, errors: int) -> None:
    """One reconciliation round's figures."""
    if METRICS in app:
        app[METRICS].reconciled(checked, fixed, errors)


def webhook_received(app: web.Application, created: int) -> None:
    """A verified Stripe event arrived; ``created`` is its Unix time."""
    if METRICS in app:
        app[METRICS].webhook_lag.observe(max(0.0, time.time() - created))


def time_socket_actions(app: web.Application, server: Any, namespace: str = "/") -> None:
    """Time every handler registered on ``server`` so far (call after they are registered), and count its
    connections for ``callpay_connected_sockets``."""
    metrics = app[METRICS]
    handlers: dict[str, Callable[..., Awaitable[Any]]] = server.handlers.get(namespace, {})
    for name, handler in list(handlers.items()):
        if name not in NOT_ACTIONS:
            handlers[name] = _timed_action(metrics, name, handler)
    if "connect" in handlers:
        handlers["connect"] = _counted_connect(metrics, handlers["connect"])
    disconnect = handlers.get("disconnect")
    handlers["disconnect"] = _counted_disconnect(metrics, disconnect)


def _counted_connect(metrics: Metrics, handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def connect(sid: str, *args: Any) -> Any:
        answer = await handler(sid, *args)  # a refusal raises (or answers False): not counted
        if answer is not False:
            metrics.socket_connected(sid)
        return answer

    return connect


def _counted_disconnect(
    metrics: Metrics, handler: Callable[..., Awaitable[Any]] | None
) -> Callable[..., Awaitable[Any]]:
    async def disconnect(sid: str, *args: Any) -> Any:
        metrics.socket_disconnected(sid)
        return None if handler is None else await handler(sid, *args)

    return disconnect


def _timed_action(metrics: Metrics, name: str, handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def timed(*args: Any) -> Any:
        started = time.perf_counter()
        outcome = "error"
        try:
            answer = await handler(*args)
            outcome = "error" if isinstance(answer, dict) and answer.get("ok") is False else "ok"
            return answer
        finally:
            metrics.socket_actions.labels(name, outcome).observe(time.perf_counter() - started)

    return timed


@web.middleware
async def _timed(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Any:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        request.app[METRICS].requests.labels(route, request.method, str(status)).observe(time.perf_counter() - started)


async def _scrape(request: web.Request) -> web.Response:
    token = request.app[SETTINGS].metrics_token
    if token is None:
        raise web.HTTPNotFound()
    offered = request.headers.get("Authorization", "")
    if not hmac.compare_digest(offered.encode(), f"Bearer {token.reveal()}".encode()):
        return web.json_response(
            {"error": {"code": "unauthorized", "message": "Metrics need the operator's bearer token."}}, status=401
        )
    async with request.app[DB_READ]() as db:
        depth, oldest = (
            await db.execute(
                select(func.count(), func.min(OutboxEmail.created_at)).where(OutboxEmail.status == "pending")
            )
        ).one()
    age = 0.0 if oldest is None else max(0.0, (datetime.now(UTC) - _aware(oldest)).total_seconds())
    if multiprocess_mode():
        # Every process's files in PROMETHEUS_MULTIPROC_DIR, this one's included.
        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)  # type: ignore[no-untyped-call]
    else:
        processes = request.app[METRICS].registry
    database = CollectorRegistry()
    database.register(_Outbox(int(depth), age))
    body = generate_latest(processes) + generate_latest(database)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


class _Outbox(Collector):
    """The outbox's figures as read from the database for this scrape (the same whichever process answers)."""

    def __init__(self, depth: int, oldest: float) -> None:
        self.depth = depth
        self.oldest = oldest

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily("callpay_outbox_depth", "Emails waiting in the outbox.", value=self.depth)
        yield GaugeMetricFamily(
            "callpay_outbox_oldest_seconds", "Age of the oldest email waiting in the outbox.", value=self.oldest
        )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
