"""``callpay demo``: the whole product on this machine, with nothing to configure.

It runs the app on a SQLite file under ``./var/`` (migrated on start), and beside it the offline stand-ins the
product reaches over HTTP or SMTP exactly as in production: the Stripe sandbox, a local SMTP server with an
outbox page, and a host-platform simulator page at the app's root address. Only this launcher imports ``sandbox``.

The sandbox keeps its accounts in memory, so each start begins with a fresh demo database too: a clinic linked in
an earlier run would point at a Stripe account that no longer exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import secrets
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from addon import db
from addon.app import create_app
from addon.appkeys import CLOCK
from addon.clock import OffsetClock
from addon.gateway import StripeGateway
from addon.settings import Settings
from sandbox import host as host_platform
from sandbox.mailbox import Mailbox, RunningMailbox, start_mailbox
from sandbox.stripe import RunningSandbox, start_sandbox

VAR = Path.cwd() / "var"
DEMO_DATABASE = "demo.sqlite3"
PLATFORM_KEY = "callpaydemo"  # sk_test_X / pk_test_X / ca_X of one sandbox platform account


@dataclass
class DemoAddresses:
    app: str
    sandbox: str | None = None
    outbox: str | None = None
    smtp: str | None = None


@dataclass
class RunningDemo:
    addresses: DemoAddresses
    app: web.Application
    mailbox: Mailbox
    sandbox: RunningSandbox


def demo_environment(
    *,
    app_url: str,
    var: Path = VAR,
    sandbox_url: str | None,
    smtp_url: str | None = None,
    webhook_secret: str | None = None,
    extra_webhook_secrets: tuple[str, ...] = (),
) -> dict[str, str]:
    """Settings for the demo: the caller's CALLPAY_LAUNCH_SECRET and CALLPAY_SMTP_URL win, the rest are local."""
    env = {
        "CALLPAY_LAUNCH_SECRET": _persistent_secret(var, "launch-secret"),
        "CALLPAY_STRIPE_SECRET_KEY": f"sk_test_{PLATFORM_KEY}",
        "CALLPAY_STRIPE_PUBLISHABLE_KEY": f"pk_test_{PLATFORM_KEY}",
        "CALLPAY_STRIPE_CONNECT_CLIENT_ID": f"ca_{PLATFORM_KEY}",
        "CALLPAY_STRIPE_WEBHOOK_SECRET": webhook_secret or "whsec_pending_registration",
        "CALLPAY_PUBLIC_URL": app_url,
        "CALLPAY_DATABASE_URL": f"sqlite+aiosqlite:///{var / DEMO_DATABASE}",
    }
    if extra_webhook_secrets:
        env["CALLPAY_STRIPE_EXTRA_WEBHOOK_SECRETS"] = ",".join(extra_webhook_secrets)
    if sandbox_url:
        env.update(
            {
                "CALLPAY_STRIPE_API_BASE": sandbox_url,
                "CALLPAY_STRIPE_CONNECT_BASE": sandbox_url,
                "CALLPAY_STRIPE_JS_URL": f"{sandbox_url}/v3/",
                # "Open Stripe dashboard" reaches the sandbox's stand-in, a page per account.
                "CALLPAY_STRIPE_DASHBOARD_BASE": f"{sandbox_url}/dashboard",
            }
        )
    if smtp_url:
        env["CALLPAY_SMTP_URL"] = smtp_url
    for key in ("CALLPAY_LAUNCH_SECRET", "CALLPAY_SMTP_URL"):
        if os.environ.get(key):
            env[key] = os.environ[key]
    return env


def _persistent_secret(var: Path, name: str) -> str:
    """Kept under ./var so a restarted demo still accepts links minted before the restart."""
    var.mkdir(exist_ok=True)
    path = var / f"demo-{name}"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _fresh_database(var: Path) -> None:
    var.mkdir(exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            (var / f"{DEMO_DATABASE}{suffix}").unlink()


async def register_webhooks(sandbox_url: str, app_url: str, var: Path = VAR) -> tuple[str, tuple[str, ...]]:
    """Make the sandbox send its events to the app, as an operator does in Stripe's dashboard.

    A Connect endpoint receives the clinics' accounts' events (payments, deauthorisations); a platform endpoint
    receives the platform's own. Returns (the Connect endpoint's secret, the platform's) for the app's settings.
    """
    provisional = Settings.from_env(demo_environment(app_url=app_url, sandbox_url=sandbox_url, var=var))
    gateway = StripeGateway(provisional)
    await gateway.open()
    try:
        url = f"{app_url}/stripe/webhook"
        connect = await gateway.create_webhook_endpoint(url=url, connect=True, events=["*"])
        platform = await gateway.create_webhook_endpoint(url=url, connect=False, events=["*"])
    finally:
        await gateway.close()
    assert connect.secret and platform.secret, "the sandbox returned a webhook endpoint without a secret"
    return connect.secret, (platform.secret,)


@contextlib.asynccontextmanager
async def running_demo(host: str, port: int, *, var: Path = VAR) -> AsyncIterator[RunningDemo]:
    """Everything started, in order, and stopped in reverse: sandbox, mailbox, then the app."""
    _fresh_database(var)
    app_url = f"http://{host}:{port}"
    sandbox: RunningSandbox = await start_sandbox(host, 0)
    mailbox: RunningMailbox | None = None
    runner: web.AppRunner | None = None
    try:
        mailbox = await start_mailbox(host)
        webhook_secret, extra_secrets = await register_webhooks(sandbox.url, app_url, var)
        settings = Settings.from_env(
            demo_environment(
                app_url=app_url,
                var=var,
                sandbox_url=sandbox.url,
                smtp_url=mailbox.smtp_url,
                webhook_secret=webhook_secret,
                extra_webhook_secrets=extra_secrets,
            )
        )
        smtp_shown = _without_password(settings.smtp_url)
        await db.upgrade(settings.database_url)
        app = create_app(settings)
        # The demo's time can be moved forward (to an instalment plan's next date) from the simulator page.
        clock = OffsetClock()
        app[CLOCK] = clock
        host_platform.setup(
            app,
            host_platform.HostPlatform(
                launch_secret=settings.launch_secret.reveal(),
                outbox_url=mailbox.url,
                sandbox_url=sandbox.url,
                smtp_url=smtp_shown,
                clock=clock,
            ),
        )
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        addresses = DemoAddresses(app=app_url, sandbox=sandbox.url, outbox=mailbox.url, smtp=smtp_shown)
        yield RunningDemo(addresses=addresses, app=app, mailbox=mailbox.mailbox, sandbox=sandbox)
    finally:
        if runner is not None:
            await runner.cleanup()
        if mailbox is not None:
            await mailbox.close()
        await sandbox.close()


def _without_password(url: str | None) -> str | None:
    if url is None or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{rest.rsplit('@', 1)[1]}"


def banner(addresses: DemoAddresses) -> str:
    external_smtp = bool(os.environ.get("CALLPAY_SMTP_URL"))
    lines = [
        "Callpay demo is running.",
        f"  Open the host-platform simulator:  {addresses.app}/",
        f"  Outbox (emails the demo sent):     {addresses.outbox}/",
        f"  Stripe sandbox:                    {addresses.sandbox}",
        f"  Receipts are sent by SMTP to:      {addresses.smtp}"
        + ("  (CALLPAY_SMTP_URL: they won't show in the outbox)" if external_smtp else ""),
        "  Test card: 4242 4242 4242 4242, any future expiry, any CVC.",
        "Press Ctrl+C to stop.",
    ]
    return "\n".join(lines)


async def serve(host: str, port: int) -> None:
    async with running_demo(host, port) as demo:
        print(banner(demo.addresses), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()


def run(*, host: str = "127.0.0.1", port: int = 8080) -> int:
    problem = port_problem(host, port)
    if problem is not None:
        print(f"callpay: {problem}", file=sys.stderr)
        return 1
    asyncio.run(serve(host, port))
    return 0


def port_problem(host: str, port: int) -> str | None:
    """Why the demo can't listen on host:port, in one line, before anything else is started."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except PermissionError:
            return f"port {port} needs special permission; choose one above 1024, such as --port 8080."
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is already in use; choose another with --port {port + 1}."
            return f"can't listen on {host}:{port} ({exc.strerror}); check --host and --port."
    return None
