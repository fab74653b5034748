"""``callpay demo | serve | worker | db upgrade | events list | events replay | reconcile``."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import logging
import sys

from aiohttp import web

from addon import cli_events, cli_reconcile, db, logs, worker
from addon.app import create_app
from addon.settings import Settings, SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="callpay", description="In-call payments for telehealth video calls.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text, description in (
        (
            "demo",
            "everything on this machine, nothing to configure",
            "Run Callpay with an offline Stripe, a local mail server with an outbox page, and a video-call "
            "platform simulator, all in this process. Opens nothing to the network unless --host says so.",
        ),
        (
            "serve",
            "production: real settings, no sandbox",
            "Serve Callpay with settings from CALLPAY_* environment variables (see the README); a missing one "
            "stops start-up naming it. Run `callpay db upgrade` first.",
        ),
    ):
        command = commands.add_parser(name, help=text, description=description)
        command.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
        command.add_argument("--port", type=int, default=8080, help="port to listen on (default: 8080)")
        if name == "serve":
            command.add_argument(
                "--no-background",
                action="store_true",
                help="leave the background jobs (receipts, Stripe inbox retries, sweepers, reconciliation) to "
                "`callpay worker` processes; the same as CALLPAY_BACKGROUND=off",
            )
    worker_parser = commands.add_parser(
        "worker",
        help="background jobs only: receipts, Stripe inbox retries, sweepers, reconciliation",
        description="Run the background jobs (receipt outbox, Stripe inbox retries, sweepers, reconciliation) without "
        "serving the app; web workers then run with CALLPAY_BACKGROUND=off. Several may run at once.",
    )
    worker_parser.add_argument("--host", default="127.0.0.1", help="address for the health port (default: 127.0.0.1)")
    worker_parser.add_argument("--port", type=int, default=None, help="serve /healthz and /readyz on this port")
    db_parser = commands.add_parser("db", help="database maintenance")
    db_commands = db_parser.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply migrations")
    cli_events.add_commands(commands)
    cli_reconcile.add_command(commands)
    args = parser.parse_args(argv)
    # The demo's terminal is for its addresses; its routine logs would push them off screen.
    logs.configure(logging.WARNING if args.command == "demo" else logging.INFO)

    if args.command == "demo":
        return run_demo(host=args.host, port=args.port)
    settings = _settings_or_exit()
    if args.command == "db":
        asyncio.run(db.upgrade(settings.database_url))
        print(f"Database is up to date (migration {db.head_revision()}).")
        return 0
    if args.command == "events":
        return cli_events.run(settings, args)
    if args.command == "reconcile":
        return cli_reconcile.run(settings, args)
    if args.command == "worker":
        try:
            asyncio.run(_check_migrated(settings))
        except db.DatabaseBehind as exc:
            print(f"callpay: {exc}", file=sys.stderr)
            return 1
        return worker.run(settings, host=args.host, port=args.port)
    if args.no_background:
        settings = dataclasses.replace(settings, background=False)
    return serve(settings, host=args.host, port=args.port)


SANDBOX_MISSING = (
    "callpay demo needs the sandbox (offline Stripe, mailbox, host simulator), which production installs leave out: "
    "install it with `pip install -e ./sandbox` from Callpay's repository (./scripts/demo does it for you)."
)


def run_demo(*, host: str, port: int) -> int:
    # The demo launcher lives in the sandbox distribution beside what it starts; production paths never import it.
    try:
        demo = importlib.import_module("sandbox.demo")
    except ImportError as exc:
        if exc.name is not None and exc.name != "sandbox" and not exc.name.startswith("sandbox."):
            raise  # the sandbox is there but something it needs isn't: that traceback says what
        print(SANDBOX_MISSING, file=sys.stderr)
        return 2
    return int(demo.run(host=host, port=port))


# SIGTERM: stop listening, drop the sockets (their clients reconnect to another worker), then wait this long for
# requests in flight (a webhook being stored, a checkout) before closing; under a platform's usual 30 s stop timeout.
SHUTDOWN_TIMEOUT = 25.0


def serve(settings: Settings, *, host: str, port: int) -> int:
    try:
        asyncio.run(_check_migrated(settings))
    except db.DatabaseBehind as exc:
        print(f"callpay: {exc}", file=sys.stderr)
        return 1
    web.run_app(
        create_app(settings, long_lived=True),
        host=host,
        port=port,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
        print=lambda _: print(f"Callpay on http://{host}:{port}/", flush=True),
    )
    return 0


async def _check_migrated(settings: Settings) -> None:
    engine = db.create_engine(settings.database_url)
    try:
        await db.require_current(engine)
    finally:
        await engine.dispose()


def _settings_or_exit() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        for problem in exc.problems:
            print(f"callpay: {problem}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    raise SystemExit(main())
