"""After linking: removing the account from Callpay, Stripe revoking access from its side, and charges switching
on and off, each delivered as Stripe delivers them (signed webhooks from the sandbox to ``/stripe/webhook``)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from addon.appkeys import DB, INBOX
from addon.models import AuditEvent, Clinic, ClinicNotice, ProcessedStripeEvent, StripeEventInbox
from tests.clinic.conftest import Stack


async def _account(stack: Stack, clinic: str = "clinic-1") -> str | None:
    async with stack.app[DB]() as db:
        return await db.scalar(select(Clinic.stripe_account_id).where(Clinic.external_id == clinic))


async def _wait_for(check: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


async def _processed(stack: Stack, event_type: str, count: int = 1) -> bool:
    """Whether the app has processed at least ``count`` events of this type."""
    async with stack.app[DB]() as db:
        rows = (await db.scalars(select(ProcessedStripeEvent).where(ProcessedStripeEvent.type == event_type))).all()
    return len(rows) >= count


async def test_remove_stripe_account_deauthorizes_on_stripe_and_disconnects_here(stack: Stack) -> None:
    admin = await stack.connect(await stack.session())
    account = await _account(stack)
    assert account
    # Deliveries caused by linking may still be in flight; settle them so the counts below start from zero.
    await stack.flush_webhooks()
    stack.published.events.clear()

    status, config = await stack.api("POST", "/api/v1/clinic/stripe/disconnect", admin)
    assert status == 200
    assert config["stripe"] is None
    assert config["status"]["reason_code"] == "no_stripe_account"
    assert await _account(stack) is None
    # Stripe no longer lets the platform act for the account.
    async with stack.http.get(
        f"{stack.sandbox.url}/v1/accounts/{account}", headers={"Authorization": f"Bearer {stack.platform_key}"}
    ) as answer:
        assert answer.status in (401, 403)
    [event] = stack.published.of("clinic_status")
    assert event.data["payments_available"] is False
    # The echo from Stripe (our own removal) arrives signed, is accepted, and changes nothing more: no notice.
    await stack.flush_webhooks()
    await _wait_for(lambda: _processed(stack, "account.application.deauthorized"))
    async with stack.app[DB]() as db:
        assert (await db.scalars(select(ClinicNotice))).all() == []
        actions = (await db.scalars(select(AuditEvent.action))).all()
    assert actions.count("clinic.stripe_disconnected") == 1
    assert len(stack.published.of("clinic_status")) == 1

    status, body = await stack.api("POST", "/api/v1/clinic/stripe/disconnect", admin)
    assert status == 409
    assert body["error"]["message"] == "No Stripe account is linked to this clinic."


async def test_revoked_from_stripes_side_disconnects_and_tells_the_admins(stack: Stack) -> None:
    admin = await stack.connect(await stack.session(), name="Harbour Physio")
    account = await _account(stack)
    stack.published.events.clear()
    # The account owner removes Callpay in their Stripe dashboard: Stripe deauthorizes and sends the event.
    async with stack.http.post(
        f"{stack.sandbox.url}/oauth/deauthorize",
        data={"client_id": stack.settings.stripe_connect_client_id, "stripe_user_id": account},
        headers={"Authorization": f"Bearer {stack.platform_key}"},
    ) as answer:
        assert answer.status == 200
    await stack.flush_webhooks()
    await _wait_for(lambda: _processed(stack, "account.application.deauthorized"))

    assert await _account(stack) is None
    status, config = await stack.api("GET", "/api/v1/clinic", admin)
    assert status == 200
    [notice] = config["notices"]
    assert notice["kind"] == "stripe_deauthorized"
    assert "Harbour Physio was removed from Stripe's side" in notice["message"]
    assert config["status"]["reason_code"] == "no_stripe_account"
    [event] = stack.published.of("clinic_status")
    assert event.room.startswith("clinic:") and event.data["payments_available"] is False

    # Linking again answers the notice.
    await stack.connect(admin)
    status, config = await stack.api("GET", "/api/v1/clinic", admin)
    assert status == 200
    assert config["notices"] == []


async def test_account_updated_switches_payments_off_and_on_live(stack: Stack) -> None:
    admin = await stack.connect(await stack.session())
    account = await _account(stack)
    stack.published.events.clear()

    await stack.sandbox_post(f"/_sandbox/accounts/{account}/charges_enabled", {"enabled": False})
    await stack.flush_webhooks()
    await _wait_for(lambda: _processed(stack, "account.updated"))
    status, body = await stack.api("GET", "/api/v1/clinic/status", admin)
    assert body == {
        "clinic": "clinic-1",
        "payments_available": False,
        "reason_code": "charges_disabled",
        "reason": "The clinic's Stripe account can't take payments yet. "
        "A clinic admin needs to finish setting it up in Stripe.",
    }
    [off] = stack.published.of("clinic_status")
    assert off.data == body

    await stack.sandbox_post(f"/_sandbox/accounts/{account}/charges_enabled", {"enabled": True})
    await stack.flush_webhooks()
    await _wait_for(lambda: _processed(stack, "account.updated", 2))
    status, body = await stack.api("GET", "/api/v1/clinic/status", admin)
    assert status == 200
    assert body["payments_available"] is True
    assert [e.data["payments_available"] for e in stack.published.of("clinic_status")] == [False, True]


async def _revoke_on_stripe(stack: Stack, account: str | None) -> None:
    """What the account owner removing Callpay in their Stripe dashboard does (Stripe then sends the event too)."""
    async with stack.http.post(
        f"{stack.sandbox.url}/oauth/deauthorize",
        data={"client_id": stack.settings.stripe_connect_client_id, "stripe_user_id": account},
        headers={"Authorization": f"Bearer {stack.platform_key}"},
    ) as answer:
        assert answer.status == 200


async def test_a_signed_event_delivered_twice_acts_once(stack: Stack) -> None:
    await stack.connect(await stack.session())
    account = await _account(stack)
    await stack.flush_webhooks()
    stack.published.events.clear()
    await _revoke_on_stripe(stack, account)
    event = {
        "id": "evt_test_deauth_1",
        "object": "event",
        "type": "account.application.deauthorized",
        "account": account,
        "created": int(time.time()) + 1,
        "data": {"object": {"id": "ca_x", "object": "application"}},
    }
    for _ in range(2):
        assert await stack.deliver(event) == 200
    await stack.flush_webhooks()  # and Stripe's own event about the same revocation
    await _wait_for(lambda: _processed(stack, "account.application.deauthorized", 2))
    async with stack.app[DB]() as db:
        notices = (await db.scalars(select(ClinicNotice))).all()
    assert len(notices) == 1
    assert len(stack.published.of("clinic_status")) == 1


async def test_a_signed_deauthorization_for_an_account_that_still_trusts_callpay_changes_nothing(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    """Signed, new, about the linked account, but Stripe still lets Callpay read the account: not believed."""
    admin = await stack.connect(await stack.session())
    account = await _account(stack)
    await stack.flush_webhooks()
    stack.published.events.clear()
    forged = {
        "id": "evt_test_not_really",
        "object": "event",
        "type": "account.application.deauthorized",
        "account": account,
        "created": int(time.time()) + 1,
        "data": {"object": {"id": "ca_x", "object": "application"}},
    }
    assert await stack.deliver(forged) == 200
    assert await _processed(stack, "account.application.deauthorized")
    assert await _account(stack) == account
    status, config = await stack.api("GET", "/api/v1/clinic", admin)
    assert status == 200 and config["notices"] == [] and config["status"]["payments_available"] is True
    async with stack.app[DB]() as db:
        actions = (await db.scalars(select(AuditEvent.action).where(AuditEvent.subject_id == account))).all()
    assert "clinic.stripe_deauthorized_by_stripe" not in actions and "clinic.stripe_disconnected" not in actions
    assert stack.published.of("clinic_status") == []
    assert "Callpay can still read; ignored" in caplog.text


async def test_a_deauthorization_waits_while_stripe_cant_be_asked(stack: Stack) -> None:
    """Stripe unreachable when the event comes: nothing is unlinked on the payload's word; it is retried, and
    applied once Stripe answers that access is gone."""
    await stack.connect(await stack.session())
    account = await _account(stack)
    await stack.flush_webhooks()
    await _revoke_on_stripe(stack, account)
    fault = {"route_prefix": f"/v1/accounts/{account}", "method": "GET", "kind": "500"}
    assert (await stack.sandbox_post("/_sandbox/faults", fault)) is not None
    event = {
        "id": "evt_test_while_down",
        "object": "event",
        "type": "account.application.deauthorized",
        "account": account,
        "created": int(time.time()) + 1,
        "data": {"object": {"id": "ca_x", "object": "application"}},
    }
    assert await stack.deliver(event, settle=False) == 200

    async def failed_once() -> bool:
        async with stack.app[DB]() as db:
            row = await db.get(StripeEventInbox, "evt_test_while_down")
        return row is not None and row.attempts >= 1 and row.last_error is not None and row.processed_at is None

    await _wait_for(failed_once, seconds=20)
    assert await _account(stack) == account  # not believed while Stripe couldn't be asked

    async with stack.http.delete(f"{stack.sandbox.url}/_sandbox/faults") as answer:
        assert answer.status in (200, 204)
    await stack.app[INBOX].process_due(now=datetime.now(UTC) + timedelta(minutes=5))
    assert await _account(stack) is None


async def test_an_old_deauthorization_doesnt_undo_a_newer_link(stack: Stack) -> None:
    await stack.connect(await stack.session())
    account = await _account(stack)
    event = {
        "id": "evt_test_old",
        "type": "account.application.deauthorized",
        "account": account,
        "created": int(time.time()) - 3600,
        "data": {"object": {"id": "ca_x", "object": "application"}},
    }
    assert await stack.deliver(event) == 200
    assert await _account(stack) == account


async def test_an_unsigned_event_changes_nothing(stack: Stack) -> None:
    await stack.connect(await stack.session())
    account = await _account(stack)
    forged: dict[str, Any] = {
        "id": "evt_forged",
        "type": "account.application.deauthorized",
        "account": account,
        "created": 1,
        "data": {"object": {}},
    }
    assert await stack.deliver(forged, secret="whsec_wrong") == 400
    assert await _account(stack) == account


async def test_stripes_echo_overtaking_our_own_removal_is_not_reported_as_revoked(
    stack: Stack, monkeypatch: Any
) -> None:
    """Race: Stripe's account.application.deauthorized for our own Remove is handled before the local removal
    commits. It must finish the removal quietly, not tell the admins that access was revoked from Stripe."""
    from addon.appkeys import GATEWAY

    admin = await stack.connect(await stack.session())
    account = await _account(stack)
    await stack.flush_webhooks()
    stack.published.events.clear()
    gateway = stack.app[GATEWAY]
    real_deauthorize = gateway.deauthorize

    async def deauthorize_then_let_the_echo_overtake(account_id: str) -> None:
        await real_deauthorize(account_id)
        await stack.flush_webhooks()
        await _wait_for(lambda: _processed(stack, "account.application.deauthorized"))

    monkeypatch.setattr(gateway, "deauthorize", deauthorize_then_let_the_echo_overtake)
    status, config = await stack.api("POST", "/api/v1/clinic/stripe/disconnect", admin)

    assert status == 200
    assert config["stripe"] is None
    assert await _account(stack) is None
    async with stack.app[DB]() as db:
        assert (await db.scalars(select(ClinicNotice))).all() == []
        actions = (await db.scalars(select(AuditEvent.action).where(AuditEvent.subject_id == account))).all()
    assert actions.count("clinic.stripe_disconnected") == 1
    assert "clinic.stripe_deauthorized_by_stripe" not in actions
    assert len(stack.published.of("clinic_status")) == 1
