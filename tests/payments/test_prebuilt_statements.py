"""The hot paths' Core statements (built once, executed with bound values) behave as the ORM statements they
replaced: the session's copy of a request says what the row now holds after a transition, rows the ORM has pending
are written first, and a conditional UPDATE that loses changes neither the row nor the copy. On SQLite and on
PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from addon.appkeys import DB, ENGINE
from addon.dbutil import insert_ignoring_conflict
from addon.lifecycle import Trigger
from addon.models import AuditEvent, PaymentRequest, ProcessedStripeEvent, utcnow
from addon.services.transitions import transition
from tests.support.payflow import PayStack, build_stack
from tests.support.statements import statements


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend_url(request: pytest.FixtureRequest, database_url: str) -> str:
    return str(request.getfixturevalue("migrated_postgres_url")) if request.param == "postgresql" else database_url


@pytest.fixture
async def quiet(sandbox: Any, backend_url: str, aiohttp_client: Any, http: Any) -> AsyncIterator[PayStack]:
    built = await build_stack(sandbox, backend_url, aiohttp_client, http, sandbox_delivers=False, background="off")
    await built.connect_clinic()
    yield built
    for user in built.sockets:
        await user.close()


async def _requested(stack: PayStack) -> str:
    doctor = await stack.socket(await stack.clinician())
    made = await stack.request_payment(doctor)
    return str(made["id"])


async def test_a_transition_leaves_the_sessions_copy_as_the_row_now_stands(quiet: PayStack) -> None:
    request_id = await _requested(quiet)
    async with quiet.app[DB].begin() as db:
        pr = await db.get_one(PaymentRequest, request_id)
        assert pr.patient_email is None
        # A change that keeps the status reads nothing back: only the session's copy can say what it did.
        moved = await transition(
            db, request_id, Trigger.RECEIPT_EMAIL_CHANGED, intent=None, values={"patient_email": "pat@example.com"}
        )
        assert moved.moved and moved.status is None
        assert pr.patient_email == "pat@example.com"
        assert pr not in db.dirty  # what the row holds, not a change still to write
        # A request that has no PaymentIntent doesn't match a condition on one: nothing moves, the copy stays.
        lost = await transition(
            db, request_id, Trigger.RECEIPT_EMAIL_CHANGED, intent="pi_other", values={"patient_email": "x@example.com"}
        )
        assert not lost.moved
        assert pr.patient_email == "pat@example.com"
    async with quiet.app[DB]() as db:
        stored = await db.scalar(select(PaymentRequest.patient_email).where(PaymentRequest.id == request_id))
    assert stored == "pat@example.com"


async def test_rows_the_orm_has_pending_are_written_before_a_core_statement(quiet: PayStack) -> None:
    request_id = await _requested(quiet)
    with statements(quiet.app[ENGINE]) as sent:
        async with quiet.app[DB].begin() as db:
            db.add(AuditEvent(action="test.pending", subject_type="payment_request", subject_id=request_id, data={}))
            first = {"id": "evt_pending_first", "type": "test", "account": None, "received_at": utcnow()}
            assert await insert_ignoring_conflict(db, ProcessedStripeEvent, first, ["id"])
            assert not await insert_ignoring_conflict(db, ProcessedStripeEvent, first, ["id"])
    assert sent.shape() == [
        ("INSERT", "audit_events"),
        ("INSERT", "processed_stripe_events"),
        ("INSERT", "processed_stripe_events"),
    ]
