"""``callpay events``: what an operator sees of the Stripe event inbox, and replaying an event from it."""

from __future__ import annotations

import json
from pathlib import Path

from addon import db
from addon.gateway import webhook_event
from addon.models import StripeEventInbox
from addon.services import inbox
from tests.conftest import BASE_ENV
from tests.core.test_cli import env_with, run

EVENT = {
    "id": "evt_cli_1",
    "object": "event",
    "type": "payment_intent.succeeded",
    "created": 1,
    "account": "acct_cli",
    "data": {"object": {"id": "pi_cli", "object": "payment_intent"}},
}


async def test_list_show_and_replay(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ops.sqlite3'}"
    await db.upgrade(url)
    engine = db.create_engine(url)
    try:
        async with db.session_factory(engine).begin() as session:
            await inbox.record(session, webhook_event(EVENT), json.dumps(EVENT).encode())
            row = await session.get_one(StripeEventInbox, "evt_cli_1")
            row.attempts, row.last_error = inbox.MAX_ATTEMPTS, "PaymentProviderError: Stripe is unavailable"
        env = env_with(**BASE_ENV, CALLPAY_DATABASE_URL=url)

        listed = run(["events", "list", "--status", "failed"], env, tmp_path)
        assert listed.returncode == 0, listed.stderr
        line = listed.stdout.splitlines()[1]
        assert line.split()[:4] == ["evt_cli_1", "payment_intent.succeeded", "failed", str(inbox.MAX_ATTEMPTS)]
        assert "Stripe is unavailable" in line
        assert run(["events", "list", "--status", "pending"], env, tmp_path).stdout.strip() == "No events."

        shown = run(["events", "show", "evt_cli_1"], env, tmp_path)
        assert shown.returncode == 0
        assert "account:      acct_cli" in shown.stdout
        assert json.loads(shown.stdout.splitlines()[-1]) == EVENT  # the raw payload, as Stripe sent it

        replayed = run(["events", "replay", "evt_cli_1", "evt_missing"], env, tmp_path)
        assert replayed.returncode == 1
        assert "evt_cli_1: queued" in replayed.stdout
        assert "callpay: no event evt_missing in the inbox." in replayed.stdout
        async with db.read_session_factory(engine)() as session:
            found = await inbox.entry(session, "evt_cli_1")
        assert found is not None and (found.status, found.attempts, found.last_error) == ("pending", 0, None)
    finally:
        await engine.dispose()
