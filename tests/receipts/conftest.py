"""Receipts' fixtures: rows made directly (the payment flow itself is tested elsewhere), a real local SMTP server."""

from __future__ import annotations

import contextlib
import re
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from addon import db as dbmod
from addon.models import Call, Clinic, Organisation, PaymentRequest, User
from sandbox.mailbox import RunningMailbox, start_mailbox
from tests.conftest import PLATFORM

PAID_AT = datetime(2026, 11, 20, 23, 15, tzinfo=UTC)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = dbmod.create_engine(database_url)
    try:
        yield dbmod.session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def mailbox() -> AsyncIterator[RunningMailbox]:
    running = await start_mailbox(http_port=None)
    try:
        yield running
    finally:
        await running.close()


async def make_paid_request(
    sessions: async_sessionmaker[AsyncSession],
    *,
    org: str = "org-1",
    clinic: str = "clinic-1",
    call: str = "call-1",
    status: str = "paid",
    email: str | None = "pat@example.com",
    request_id: str = "pr_test1",
    receipt_details: bool = True,
    clinician: str = "user-team_member",
    **fields: Any,
) -> PaymentRequest:
    """An organisation, clinic, clinician, call and a paid request, keyed by the external ids launches use."""
    async with sessions.begin() as db:
        organisation = Organisation(platform=PLATFORM, external_id=org, name="Harbour Health")
        db.add(organisation)
        await db.flush()
        details: dict[str, Any] = (
            {
                "receipt_business_name": "Harbour Telehealth Pty Ltd",
                "receipt_abn": "51 824 753 556",
                "receipt_provider_name": "Dr Ada Lovelace",
                "receipt_provider_number": "2426351K",
                "receipt_address": "1 Harbour St\nSydney NSW 2000",
                "receipt_phone": "02 9000 0000",
                "receipt_footer": "Keep this receipt to claim from Medicare or your health fund.",
            }
            if receipt_details
            else {}
        )
        row = Clinic(organisation_id=organisation.id, external_id=clinic, name="Harbour Clinic", **details)
        db.add(row)
        doctor = User(platform=PLATFORM, external_id=clinician, name="Dr Ada Lovelace")
        db.add(doctor)
        await db.flush()
        call_row = Call(clinic_id=row.id, external_id=call)
        db.add(call_row)
        await db.flush()
        values: dict[str, Any] = {
            "id": request_id,
            "call_id": call_row.id,
            "clinic_id": row.id,
            "clinician_id": doctor.id,
            "amount": 8000,
            "currency": "aud",
            "description": "Consultation, 20 minutes",
            "status": status,
            "receipt_number": "HT-000042",
            "patient_email": email,
            "card_brand": "visa",
            "card_last4": "4242",
            "created_at": datetime(2026, 11, 20, 23, 0, tzinfo=UTC),
            "paid_at": PAID_AT if status != "requested" else None,
        }
        values.update(fields)
        request = PaymentRequest(**values)
        db.add(request)
    return request


def pdf_text(pdf: bytes) -> str:
    """The text drawn on a PDF's pages (fpdf2 writes core-font strings as ``(…) Tj`` in compressed streams)."""
    pieces: list[str] = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        data = match.group(1)
        with contextlib.suppress(zlib.error):
            data = zlib.decompress(data)
        for text in re.finditer(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", data):
            raw = re.sub(rb"\\(.)", rb"\1", text.group(1))
            pieces.append(raw.decode("cp1252"))
    return "\n".join(pieces)
