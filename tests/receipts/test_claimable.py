"""Receipts a patient can claim with: read back from the PDF with a PDF reader (pypdf), and the email saying the
same. Each payment's receipt names *its* clinician and their provider number, the patient, the item number, the
GST line, and every refund with its date."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient
from pypdf import PdfReader
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from addon.models import Clinic, PaymentRequest, Refund, User
from addon.services.receipts import build_receipt_email, load_receipt
from tests.conftest import PLATFORM, bearer, open_session
from tests.receipts.conftest import make_paid_request


def read_pdf(pdf: bytes) -> str:
    """The receipt's text as a PDF reader extracts it, lines joined, runs of spaces collapsed."""
    text = "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)
    return "\n".join(" ".join(line.split()) for line in text.splitlines())


async def two_clinicians(sessions: async_sessionmaker[AsyncSession]) -> None:
    """pr_test1 by Dr Ada (her own provider number), pr_bob by Dr Bob (his own), one clinic, one call."""
    await make_paid_request(
        sessions, patient_name="Sam Patient", item_code="10960", description="Physio consultation"
    )
    async with sessions.begin() as db:
        await db.execute(
            update(User).where(User.external_id == "user-team_member").values(provider_number="2426351K")
        )
        bob = User(platform=PLATFORM, external_id="dr-bob", name="Dr Bob Babbage", provider_number="4455667B")
        db.add(bob)
        await db.flush()
        first = await db.get_one(PaymentRequest, "pr_test1")
        clinic_id, call_id = first.clinic_id, first.call_id
        db.add(
            PaymentRequest(
                id="pr_bob",
                call_id=call_id,
                clinic_id=clinic_id,
                clinician_id=bob.id,
                amount=12000,
                currency="aud",
                description="Hydrotherapy",
                status="paid",
                receipt_number="HT-000043",
                patient_email="kim@example.com",
                created_at=datetime(2026, 11, 20, 23, 30, tzinfo=UTC),
                paid_at=datetime(2026, 11, 20, 23, 40, tzinfo=UTC),
            )
        )


async def download(client: TestClient[Any, Any], request_id: str) -> bytes:
    session = await open_session(client, role="team_admin", call=None)
    response = await client.get(f"/api/v1/payment-requests/{request_id}/receipt.pdf", headers=bearer(session))
    assert response.status == 200, await response.text()
    return await response.read()


async def test_each_receipt_names_its_own_clinicians_provider_number(
    client: TestClient[Any, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    await two_clinicians(sessions)
    ada = read_pdf(await download(client, "pr_test1"))
    bob = read_pdf(await download(client, "pr_bob"))
    assert "Provider Dr Ada Lovelace" in ada and "Provider number 2426351K" in ada
    assert "Provider Dr Bob Babbage" in bob and "Provider number 4455667B" in bob
    assert "4455667B" not in ada and "2426351K" not in bob
    assert "Patient Sam Patient" in ada
    assert "10960" in ada and "Physio consultation" in ada
    # The service date is the clinic's day (Sydney), not UTC's.
    assert "Service date 21 November 2026" in ada
    for text in (ada, bob):
        assert "GST-free health service" in text
        assert "ABN 51 824 753 556" in text and "1 Harbour St" in text
        assert "Amount charged" in text and "Outstanding A$0.00" in text
    assert "Receipt number HT-000043" in bob and "A$120.00" in bob


async def test_a_clinician_without_a_number_falls_back_to_the_clinics(
    client: TestClient[Any, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    await make_paid_request(sessions)
    text = read_pdf(await download(client, "pr_test1"))
    assert "Provider number 2426351K" in text  # the clinic's own (a practice of one)


async def test_refunds_are_listed_with_their_dates_and_the_email_says_the_same(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await make_paid_request(
        sessions, status="partially_refunded", amount_refunded=3000, patient_name="Sam Patient", item_code="10960"
    )
    async with sessions.begin() as db:
        pr = await db.get_one(PaymentRequest, "pr_test1")
        await db.execute(update(Clinic).where(Clinic.id == pr.clinic_id).values(receipt_gst_line="Includes GST"))
        db.add(
            Refund(
                id="rf_1", payment_request_id=pr.id, clinic_id=pr.clinic_id, client_ref="r1", amount=3000,
                currency="aud", reason="Shorter session", status="succeeded", source="callpay",
                created_at=datetime(2026, 11, 24, 13, 30, tzinfo=UTC),
                settled_at=datetime(2026, 11, 24, 13, 30, tzinfo=UTC),
            )
        )  # fmt: skip
    async with sessions() as db:
        receipt = await load_receipt(db, "pr_test1")
        refund_receipt = await load_receipt(db, "pr_test1", refund_id="rf_1")
    assert receipt is not None and refund_receipt is not None
    message = build_receipt_email(receipt, to_address="pat@example.com", mail_from="r@callpay.test")
    (attachment,) = list(message.iter_attachments())
    pdf = read_pdf(attachment.get_content())
    plain = message.get_body(preferencelist=("plain",))
    assert plain is not None
    email = " ".join(plain.get_content().split())
    # 13:30 UTC on the 24th is the 25th in Sydney.
    shared = ("Sam Patient", "10960", "Includes GST", "25 November 2026", "A$30.00", "Receipt (partly refunded)")
    for expected in shared:
        assert expected in pdf, expected
        assert expected in email, expected
    assert "Refunded 25 November 2026 A$30.00" in pdf
    assert "Refunded: A$30.00 on 25 November 2026" in email

    refund_mail = build_receipt_email(refund_receipt, to_address="pat@example.com", mail_from="r@callpay.test")
    assert refund_mail["Subject"] == "Your refund from Harbour Telehealth Pty Ltd — A$30.00"
    (refund_pdf,) = list(refund_mail.iter_attachments())
    assert refund_pdf.get_filename() == "refund-receipt-HT-000042.pdf"
    text = read_pdf(refund_pdf.get_content())
    assert "Refund receipt" in text and "Refund A$30.00 on 25 November 2026" in text and "Shorter session" in text
    html = refund_mail.get_body(preferencelist=("html",))
    assert html is not None and "has refunded <strong>A$30.00</strong>" in html.get_content()


async def test_a_refund_not_yet_through_has_no_refund_receipt(sessions: async_sessionmaker[AsyncSession]) -> None:
    await make_paid_request(sessions)
    async with sessions.begin() as db:
        pr = await db.get_one(PaymentRequest, "pr_test1")
        db.add(Refund(id="rf_2", payment_request_id=pr.id, clinic_id=pr.clinic_id, client_ref="r2", amount=1000,
                      currency="aud", status="pending", source="callpay"))  # fmt: skip
    async with sessions() as db:
        assert await load_receipt(db, "pr_test1", refund_id="rf_2") is None
        receipt = await load_receipt(db, "pr_test1")
    assert receipt is not None and receipt.refunds == ()
