"""``GET /api/v1/payment-requests/{id}/receipt.pdf``: who may download it, and when."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import bearer, open_session
from tests.receipts.conftest import make_paid_request, pdf_text

URL = "/api/v1/payment-requests/pr_test1/receipt.pdf"


@pytest.mark.parametrize(
    "claims",
    [
        {"role": "patient", "sub": "patient-1", "name": None},
        {"role": "team_member"},
        {"role": "team_member", "call": "another-call", "sub": "other-doc"},
        {"role": "team_admin", "call": None},
        {"role": "org_admin", "clinic": None, "call": None},
    ],
    ids=["patient-of-the-call", "clinician", "clinician-in-another-call", "clinic-admin", "org-admin"],
)
async def test_the_calls_patient_and_clinic_staff_may_download(
    client: TestClient[Any, Any], sessions: async_sessionmaker[AsyncSession], claims: dict[str, Any]
) -> None:
    await make_paid_request(sessions)
    session = await open_session(client, **claims)
    response = await client.get(URL, headers=bearer(session))
    assert response.status == 200, await response.text()
    assert response.content_type == "application/pdf"
    assert response.headers["Content-Disposition"] == 'attachment; filename="receipt-HT-000042.pdf"'
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.read()
    assert "Receipt number HT-000042" in pdf_text(body)


@pytest.mark.parametrize(
    "claims",
    [
        {"role": "patient", "sub": "patient-2", "name": None, "call": "another-call"},
        {"role": "team_member", "clinic": "another-clinic"},
        {"role": "team_admin", "clinic": "another-clinic", "call": None},
        {"role": "org_admin", "org": "another-org", "clinic": None, "call": None},
    ],
    ids=["patient-of-another-call", "clinician-elsewhere", "admin-elsewhere", "org-admin-elsewhere"],
)
async def test_anyone_else_gets_not_found(
    client: TestClient[Any, Any], sessions: async_sessionmaker[AsyncSession], claims: dict[str, Any]
) -> None:
    await make_paid_request(sessions)
    session = await open_session(client, **claims)
    response = await client.get(URL, headers=bearer(session))
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"


@pytest.mark.parametrize("status", ["requested", "processing", "failed", "canceled"])
async def test_there_is_no_receipt_before_payment(
    client: TestClient[Any, Any], sessions: async_sessionmaker[AsyncSession], status: str
) -> None:
    await make_paid_request(sessions, status=status, receipt_number=None)
    session = await open_session(client, role="patient", sub="patient-1", name=None)
    response = await client.get(URL, headers=bearer(session))
    assert response.status == 404
    assert (await response.json())["error"]["message"] == "There is no receipt for this payment yet."


@pytest.mark.parametrize("status", ["refunded", "partially_refunded"])
async def test_a_refunded_payment_keeps_its_receipt(
    client: TestClient[Any, Any], sessions: async_sessionmaker[AsyncSession], status: str
) -> None:
    await make_paid_request(sessions, status=status, amount_refunded=8000 if status == "refunded" else 3000)
    session = await open_session(client, role="team_admin", call=None)
    response = await client.get(URL, headers=bearer(session))
    assert response.status == 200
    assert "Refunded" in pdf_text(await response.read())


async def test_unknown_request_and_missing_token(
    client: TestClient[Any, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    await make_paid_request(sessions)
    session = await open_session(client, role="team_member")
    response = await client.get("/api/v1/payment-requests/pr_nope/receipt.pdf", headers=bearer(session))
    assert response.status == 404
    assert (await client.get(URL)).status == 401


async def test_the_receipt_as_json_says_what_the_pdf_says(
    client: TestClient[Any, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    await make_paid_request(sessions)
    patient = await open_session(client, role="patient", sub="patient-1", name=None)
    response = await client.get("/api/v1/payment-requests/pr_test1/receipt", headers=bearer(patient))
    assert response.status == 200
    body = await response.json()
    assert body["business_name"] == "Harbour Telehealth Pty Ltd"
    assert body["receipt_number"] == "HT-000042"
    assert body["amount_display"] == "A$80.00" and body["outstanding_display"] == "A$0.00"
    assert body["card_display"] == "Visa ending in 4242"
    # 23:15 UTC on the 20th is the morning of the 21st in Sydney: the service date is the clinic's day.
    assert body["service_date"] == "2026-11-21" and body["paid_at"] == "2026-11-20T23:15:00Z"
    stranger = await open_session(client, role="patient", sub="patient-2", name=None, call="another-call")
    response = await client.get("/api/v1/payment-requests/pr_test1/receipt", headers=bearer(stranger))
    assert response.status == 404
