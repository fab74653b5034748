"""``callpay reconcile [--since WHEN]``: ask Stripe about every open payment now and apply what it says.

The running app does the same every minute; this is for an operator after an outage (``--since`` reaches further
back than the app's week). Receipts the fixes queue are sent by the running app's outbox; nothing is published to
sockets from here (a clinician's open panel catches up on its next snapshot).
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from addon import db
from addon.gateway import StripeGateway
from addon.services import reconciliation
from addon.settings import Settings


def add_command(commands: Any) -> None:
    parser = commands.add_parser("reconcile", help="ask Stripe about every payment that isn't final and apply it")
    parser.add_argument(
        "--since",
        type=_when,
        help="only requests changed since then: an ISO date/time, or a number of days (default: 7)",
    )


def _when(value: str) -> datetime:
    if value.isdigit():
        return datetime.now(UTC) - timedelta(days=int(value))
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is neither a date (2026-12-01) nor a number of days") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def run(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_reconcile(settings, args.since))


async def _reconcile(settings: Settings, since: datetime | None) -> int:
    engine = db.create_engine(settings.database_url)
    gateway = StripeGateway(settings)
    await gateway.open()
    try:
        await db.require_current(engine)
        report = await reconciliation.reconcile(
            db.session_factory(engine), db.read_session_factory(engine), gateway, since=since
        )
    except db.DatabaseBehind as exc:
        print(f"callpay: {exc}")
        return 1
    finally:
        await gateway.close()
        await engine.dispose()
    for request_id, was, now in report.changes:
        print(f"{request_id}: {was} -> {now}")
    print(f"Checked {report.checked}, fixed {report.fixed}, Stripe unreachable for {report.errors}.")
    return 1 if report.errors else 0
