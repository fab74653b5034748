"""Reconciliation: a payment that succeeded at Stripe while every webhook failed and the browser never reported
ends paid, with one receipt, without anyone redelivering anything; several reconcilers at once change it once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from addon.appkeys import DB, DB_READ, GATEWAY
from addon.cli_reconcile import _reconcile
from addon.models import AuditEvent
from addon.outbound import Outbound
from addon.publish import publish_after_commit
from addon.services import reconciliation
from sandbox.stripe import RunningSandbox
from tests.support.payflow import PayStack, build_stack, receipts_queued, request_row


@pytest.fixture
async def silent(
    sandbox: RunningSandbox, database_url: str, aiohttp_client: Callable[..., Any], http: aiohttp.ClientSession
) -> AsyncIterator[PayStack]:
    """A stack whose webhooks never arrive (the endpoint is disabled at Stripe)."""
    built = await build_stack(sandbox, database_url, aiohttp_client, http, sandbox_delivers=False)
    await built.connect_clinic()
    yield built
    for user in built.sockets:
        await user.close()


async def _round(stack: PayStack) -> reconciliation.Report:
    async def publish(events: Sequence[Outbound]) -> None:
        await publish_after_commit(stack.app, events)

    return await reconciliation.reconcile(stack.app[DB], stack.app[DB_READ], stack.app[GATEWAY], publish=publish)


async def test_a_payment_nobody_told_us_about_ends_paid_with_one_receipt(silent: PayStack) -> None:
    doctor = await silent.socket(await silent.clinician())
    patient = await silent.patient()
    pr = await silent.request_payment(doctor)
    intent, _ = await silent.pay(pr["id"], patient)
    assert intent["status"] == "succeeded"
    assert (await request_row(silent, pr["id"])).status == "requested"

    # Several workers reconcile at the same moment: one of them moves the request.
    reports = await asyncio.gather(*[_round(silent) for _ in range(3)])
    assert sum(r.fixed for r in reports) == 1
    assert (await request_row(silent, pr["id"])).status == "paid"
    assert await receipts_queued(silent, pr["id"]) == 1
    async with silent.app[DB]() as db:
        audited = (await db.scalars(select(AuditEvent).where(AuditEvent.action == "payment.reconciled"))).all()
    assert [(a.subject_id, a.data["from"], a.data["to"]) for a in audited] == [(pr["id"], "requested", "paid")]

    # Nothing left to fix: a paid request isn't even asked about again.
    again = await _round(silent)
    assert (again.checked, again.fixed) == (0, 0)

    # The clinician's pane hears of it like any payment.
    await doctor.wait_count("payment_received", 1)


async def test_the_command_reaches_back_and_says_what_it_fixed(
    silent: PayStack, capsys: pytest.CaptureFixture[str]
) -> None:
    doctor = await silent.socket(await silent.clinician())
    patient = await silent.patient()
    pr = await silent.request_payment(doctor)
    await silent.pay(pr["id"], patient)
    # --since after the payment: nothing to look at.
    assert await _reconcile(silent.settings, datetime.now(UTC) + timedelta(minutes=1)) == 0
    assert "Checked 0, fixed 0" in capsys.readouterr().out
    assert await _reconcile(silent.settings, None) == 0
    out = capsys.readouterr().out
    assert f"{pr['id']}: requested -> paid" in out and "fixed 1" in out
    assert await receipts_queued(silent, pr["id"]) == 1


async def test_readyz_counts_what_reconciliation_did(silent: PayStack) -> None:
    response = await silent.client.get("/readyz")
    body = await response.json()
    assert response.status == 200
    assert body["reconciled"]["rounds"] >= 1 and body["reconciled"]["fixed"] == 0
