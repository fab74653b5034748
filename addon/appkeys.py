"""Every piece of application state, on typed keys in one place."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from addon.clock import Clock
from addon.gateway import StripeGateway
from addon.outbound import Outbound, Publisher, SessionSockets
from addon.ratelimit import RateLimits
from addon.services.inbox import InboxProcessor
from addon.services.outbox import OutboxWorker
from addon.services.reconciliation import Totals
from addon.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
DB = web.AppKey("db", async_sessionmaker[AsyncSession])
# Sessions for work that only reads: they never take (or wait for) SQLite's write lock. See addon/db.py.
DB_READ = web.AppKey("db_read", async_sessionmaker[AsyncSession])
GATEWAY = web.AppKey("gateway", StripeGateway)
# Present only while SMTP is configured; wake it to send a receipt without waiting for the next poll.
OUTBOX = web.AppKey("outbox", OutboxWorker)
# Works on the Stripe events the webhook stored; wake it when one was just stored.
INBOX = web.AppKey("inbox", InboxProcessor)
# The time pay-later expiry and reminders read (addon/clock.py); tests put a ManualClock here.
CLOCK = web.AppKey("clock", Clock)
# Budgets for what anyone may reach without a session (a pay-later link's page and checkout).
RATE_LIMITS = web.AppKey("rate_limits", RateLimits)
# What the reconciler has asked Stripe about and fixed since start-up, shown on /readyz.
RECONCILED = web.AppKey("reconciled", Totals)
# Where services' events go after commit (the realtime package installs its own), and other work a committed
# change sets off (e.g. waking the receipt outbox), so no handler has to remember it.
PUBLISHER = web.AppKey("publisher", Publisher)
AfterCommit = Callable[[Sequence[Outbound]], None]
AFTER_COMMIT: web.AppKey[list[AfterCommit]] = web.AppKey("after_commit")
# Disconnects the sockets of sessions that have ended, on every worker (the realtime package installs it).
SOCKETS = web.AppKey("sockets", SessionSockets)
# False in a process no client's socket connects to (``callpay worker``): its events go out, it listens to none.
HOLDS_SOCKETS = web.AppKey("holds_sockets", bool)
