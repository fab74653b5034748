"""``callpay demo``: the whole product on this machine, with nothing to configure.

It runs the app on a SQLite file under ``./var/`` (migrated on start), and beside it the offline stand-ins the
product reaches over HTTP or SMTP exactly as in production: the Stripe sandbox, a local SMTP server with an
outbox page, and a host-platform simulator page. Only this launcher imports ``sandbox``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from addon import db
from addon.app import create_app
from addon.settings import Settings

VAR = Path.cwd() / "var"


@dataclass
class DemoAddresses:
    app: str
    sandbox: str | None = None


def demo_environment(*, app_url: str, sandbox_url: str | None) -> dict[str, str]:
    """Settings for the demo: the caller's CALLPAY_* values win, the rest are made up locally."""
    env = {
        "CALLPAY_LAUNCH_SECRET": _persistent_secret("launch-secret"),
        "CALLPAY_STRIPE_SECRET_KEY": "sk_test_callpaydemo",
        "CALLPAY_STRIPE_PUBLISHABLE_KEY": "pk_test_callpaydemo",
        "CALLPAY_STRIPE_CONNECT_CLIENT_ID": "ca_callpaydemo",
        "CALLPAY_STRIPE_WEBHOOK_SECRET": "whsec_pending_registration",
        "CALLPAY_PUBLIC_URL": app_url,
        "CALLPAY_DATABASE_URL": f"sqlite+aiosqlite:///{VAR / 'demo.sqlite3'}",
    }
    if sandbox_url:
        env.update(
            {
                "CALLPAY_STRIPE_API_BASE": sandbox_url,
                "CALLPAY_STRIPE_CONNECT_BASE": sandbox_url,
                "CALLPAY_STRIPE_JS_URL": f"{sandbox_url}/v3/",
            }
        )
    for key in ("CALLPAY_LAUNCH_SECRET", "CALLPAY_SMTP_URL"):
        if os.environ.get(key):
            env[key] = os.environ[key]
    return env


def _persistent_secret(name: str) -> str:
    """Kept under ./var so a restarted demo still accepts the simulator's links."""
    VAR.mkdir(exist_ok=True)
    path = VAR / f"demo-{name}"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


async def serve(host: str, port: int) -> None:
    app_url = f"http://{host}:{port}"
    settings = Settings.from_env(demo_environment(app_url=app_url, sandbox_url=None))
    await db.upgrade(settings.database_url)
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    print(f"Callpay demo is running. Open {app_url}/ in your browser. Press Ctrl+C to stop.", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def run(*, host: str = "127.0.0.1", port: int = 8080) -> int:
    asyncio.run(serve(host, port))
    return 0
