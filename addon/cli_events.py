"""``callpay events list | show | replay``: the Stripe event inbox, for an operator.

``replay`` queues a stored event to be processed again by the running app (its inbox processor polls every few
seconds and publishes to the sockets it holds); nothing is sent to Stripe.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from addon import db
from addon.models import iso_utc
from addon.services import inbox
from addon.settings import Settings


def add_commands(commands: Any) -> None:
    """Add ``events`` to the ``callpay`` parser's subcommands."""
    parser = commands.add_parser("events", help="the Stripe events Callpay received (the webhook inbox)")
    sub = parser.add_subparsers(dest="events_command", required=True)
    listing = sub.add_parser("list", help="the newest events, with what became of each")
    listing.add_argument("--status", choices=["pending", "failed"], help="only events not processed yet / given up")
    listing.add_argument("--limit", type=int, default=50, help="how many (default: 50)")
    show = sub.add_parser("show", help="one event: its state and the raw payload Stripe sent")
    show.add_argument("id", help="the Stripe event id (evt_…)")
    replay = sub.add_parser("replay", help="process stored events again (the running app picks them up)")
    replay.add_argument("ids", nargs="+", metavar="ID", help="Stripe event ids (evt_…)")


def run(settings: Settings, args: argparse.Namespace) -> int:
    command = {"list": _list, "show": _show, "replay": _replay}[args.events_command]
    return asyncio.run(_with_database(settings, command, args))


async def _with_database(settings: Settings, command: Any, args: argparse.Namespace) -> int:
    engine = db.create_engine(settings.database_url)
    try:
        await db.require_current(engine)
        result: int = await command(engine, args)
        return result
    except db.DatabaseBehind as exc:
        print(f"callpay: {exc}")
        return 1
    finally:
        await engine.dispose()


async def _list(engine: Any, args: argparse.Namespace) -> int:
    async with db.read_session_factory(engine)() as session:
        found = await inbox.entries(session, status=args.status, limit=max(1, args.limit))
    if not found:
        print("No events.")
        return 0
    print(f"{'id':<32} {'type':<34} {'status':<10} {'tries':>5}  {'received':<27} error")
    for e in found:
        received = iso_utc(e.received_at) or ""
        print(f"{e.id:<32} {e.type:<34} {e.status:<10} {e.attempts:>5}  {received:<27} {e.last_error or ''}")
    return 0


async def _show(engine: Any, args: argparse.Namespace) -> int:
    async with db.read_session_factory(engine)() as session:
        found = await inbox.entry(session, args.id)
        payload = await inbox.payload_of(session, args.id)
    if found is None or payload is None:
        print(f"callpay: no event {args.id} in the inbox.")
        return 1
    print(f"id:           {found.id}")
    print(f"type:         {found.type}")
    print(f"account:      {found.account or '-'}")
    print(f"status:       {found.status}")
    print(f"attempts:     {found.attempts}")
    print(f"received:     {iso_utc(found.received_at)}")
    print(f"processed:    {iso_utc(found.processed_at) or '-'}")
    print(f"last error:   {found.last_error or '-'}")
    print(payload)
    return 0


async def _replay(engine: Any, args: argparse.Namespace) -> int:
    missing = []
    async with db.session_factory(engine).begin() as session:
        for event_id in args.ids:
            if not await inbox.replay(session, event_id):
                missing.append(event_id)
    for event_id in args.ids:
        if event_id in missing:
            print(f"callpay: no event {event_id} in the inbox.")
        else:
            print(f"{event_id}: queued; the running Callpay processes it within a few seconds.")
    return 1 if missing else 0
