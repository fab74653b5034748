"""The payment centre's fixtures: a seeded mix of clinics, clinicians, currencies and statuses, made as rows (the
payment flow that produces them is tested elsewhere), and sessions for each role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from addon import db as dbmod
from addon.models import Call, Clinic, Organisation, PaymentRequest, User
from tests.conftest import PLATFORM, bearer, open_session
from tests.support.payflow import PayStack, SocketUser, build_stack, connected, postgres_stack, stack  # noqa: F401

BASE = datetime(2026, 11, 10, 0, 0, tzinfo=UTC)  # 11:00 on 10 November in Sydney


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = dbmod.create_engine(database_url)
    try:
        yield dbmod.session_factory(engine)
    finally:
        await engine.dispose()


@dataclass
class Seeded:
    """What was seeded, by the external ids launches use."""

    requests: dict[str, PaymentRequest] = field(default_factory=dict)
    clinic_ids: dict[str, int] = field(default_factory=dict)
    user_ids: dict[str, int] = field(default_factory=dict)

    def ids(self, *names: str) -> set[str]:
        return {self.requests[name].id for name in names}


async def seed(sessions: async_sessionmaker[AsyncSession]) -> Seeded:
    """Two clinics of org-1 and one of org-2; clinic-1 has two clinicians; AUD and NZD; every kind of status.

    clinic-1:  ada  a1 paid A$80.00 (receipt 000001, Sam Patient, fee A$1.50)    day 0
                    a2 partially_refunded A$120.00, A$20.00 refunded           day 1
                    a3 requested A$50.00 (unpaid, ended call)                   day 2
                    a4 paid NZ$200.00 "=HYPERLINK(...)" (injection)             day 3
               bob  b1 refunded A$60.00                                         day 4
                    b2 failed A$45.00                                           day 5
                    b3 canceled A$30.00                                         day 6
    clinic-2:  cat  c1 paid A$99.00                                             day 7
    org-2 clinic-9: zed z1 paid A$10.00                                         day 8
    """
    seeded = Seeded()
    async with sessions.begin() as db:
        org1 = Organisation(platform=PLATFORM, external_id="org-1", name="Harbour Health")
        org2 = Organisation(platform=PLATFORM, external_id="org-2", name="Elsewhere")
        db.add_all([org1, org2])
        await db.flush()
        clinics = {
            "clinic-1": Clinic(organisation_id=org1.id, external_id="clinic-1", name="Harbour Physio"),
            "clinic-2": Clinic(organisation_id=org1.id, external_id="clinic-2", name=None,
                               stripe_account_name="Bayside Stripe Pty Ltd", timezone="Australia/Perth"),
            "clinic-9": Clinic(organisation_id=org2.id, external_id="clinic-9", name="Far Away"),
        }  # fmt: skip
        db.add_all(clinics.values())
        users = {
            "ada": User(platform=PLATFORM, external_id="dr-ada", name="Dr Ada Lovelace", provider_number="2426351K"),
            "bob": User(platform=PLATFORM, external_id="dr-bob", name="Dr Bob Babbage", provider_number="4455667B"),
            "cat": User(platform=PLATFORM, external_id="dr-cat", name="Dr Cat Hopper"),
            "zed": User(platform=PLATFORM, external_id="dr-zed", name="Dr Zed"),
        }
        db.add_all(users.values())
        await db.flush()
        calls = {
            "clinic-1": Call(clinic_id=clinics["clinic-1"].id, external_id="call-1"),
            "clinic-2": Call(clinic_id=clinics["clinic-2"].id, external_id="call-2"),
            "clinic-9": Call(clinic_id=clinics["clinic-9"].id, external_id="call-9"),
        }
        db.add_all(calls.values())
        await db.flush()
        rows: list[tuple[str, str, str, str, int, str, dict[str, Any]]] = [
            ("a1", "clinic-1", "ada", "paid", 8000, "aud", {"receipt_number": "000001", "patient_name": "Sam Patient",
             "patient_email": "sam@example.com", "stripe_fee": 150, "stripe_net": 7850, "item_code": "10960",
             "description": "Consultation"}),
            ("a2", "clinic-1", "ada", "partially_refunded", 12000, "aud", {"receipt_number": "000002",
             "amount_refunded": 2000, "refund_reserved": 2000, "patient_email": "kim@example.com",
             "description": "Long consultation", "stripe_fee": 200, "stripe_net": 11800}),
            ("a3", "clinic-1", "ada", "requested", 5000, "aud", {"description": "Follow-up"}),
            ("a4", "clinic-1", "ada", "paid", 20000, "nzd", {"receipt_number": "000003",
             "description": '=HYPERLINK("http://evil.example","x")', "patient_name": "+Mallory"}),
            ("b1", "clinic-1", "bob", "refunded", 6000, "aud", {"receipt_number": "000004", "amount_refunded": 6000,
             "refund_reserved": 6000, "description": "Massage, 30 min"}),
            ("b2", "clinic-1", "bob", "failed", 4500, "aud", {"description": "Massage", "failure_message": "Declined"}),
            ("b3", "clinic-1", "bob", "canceled", 3000, "aud", {"description": "Script"}),
            ("c1", "clinic-2", "cat", "paid", 9900, "aud", {"receipt_number": "000001", "description": "Consultation"}),
            ("z1", "clinic-9", "zed", "paid", 1000, "aud", {"receipt_number": "000001", "description": "Consultation"}),
        ]  # fmt: skip
        for day, (name, clinic, who, status, amount, currency, extra) in enumerate(rows):
            created = BASE + timedelta(days=day)
            taken = status in ("paid", "partially_refunded", "refunded")
            values: dict[str, Any] = {
                "id": f"pr_{name}",
                "call_id": calls[clinic].id,
                "clinic_id": clinics[clinic].id,
                "clinician_id": users[who].id,
                "amount": amount,
                "currency": currency,
                "status": status,
                "created_at": created,
                "updated_at": created,
                "paid_at": created + timedelta(minutes=5) if taken else None,
                "stripe_account_id": "acct_seeded",
                "stripe_payment_intent_id": f"pi_{name}",
                **extra,
            }
            pr = PaymentRequest(**values)
            db.add(pr)
            seeded.requests[name] = pr
        await db.flush()
        seeded.clinic_ids = {key: c.id for key, c in clinics.items()}
        seeded.user_ids = {key: u.id for key, u in users.items()}
    return seeded


@pytest.fixture
async def seeded(sessions: async_sessionmaker[AsyncSession]) -> Seeded:
    return await seed(sessions)


ROLES: dict[str, dict[str, Any]] = {
    "admin": {"role": "team_admin", "sub": "grace-admin", "name": "Grace Hopper", "clinic": "clinic-1", "call": None},
    "ada": {"role": "team_member", "sub": "dr-ada", "name": "Dr Ada Lovelace", "clinic": "clinic-1", "call": None},
    "bob": {"role": "team_member", "sub": "dr-bob", "name": "Dr Bob Babbage", "clinic": "clinic-1", "call": None},
    "org": {"role": "org_admin", "sub": "olivia-org", "name": "Olivia Ng", "clinic": None, "call": None},
    "admin2": {"role": "team_admin", "sub": "admin-2", "name": "Ben Admin", "clinic": "clinic-2", "call": None},
    "patient": {"role": "patient", "sub": "pat-1", "name": None, "clinic": "clinic-1", "call": "call-1"},
}


async def headers_for(client: TestClient[Any, Any], who: str) -> dict[str, str]:
    return bearer(await open_session(client, **ROLES[who]))


async def get_list(client: TestClient[Any, Any], who: str, query: str = "") -> tuple[int, Any]:
    response = await client.get(f"/api/v1/payments{query}", headers=await headers_for(client, who))
    return response.status, await response.json()


# --- The payment flow, for refunds --------------------------------------------------------------------------



@dataclass
class Paid:
    doctor: SocketUser
    request: dict[str, Any]
    intent: dict[str, Any]


async def pay_in_call(flow: PayStack, *, amount: str = "80.00", **request: Any) -> Paid:
    """A request the clinician made in the call, paid by the patient, and recorded as paid."""
    doctor = await flow.socket(await flow.clinician())
    patient_session = await flow.patient()
    await flow.socket(patient_session)
    pr = await flow.request_payment(doctor, amount=amount, **request)
    intent, _ = await flow.pay(pr["id"], patient_session)
    assert intent["status"] == "succeeded"
    status, body = await flow.report(pr["id"], patient_session)
    assert status == 200 and body["status"] == "paid", body
    return Paid(doctor, body, intent)


async def admin(flow: PayStack, **claims: Any) -> dict[str, Any]:
    return await flow.session(**{"role": "team_admin", "sub": "admin-1", "name": "Grace Hopper", "call": None,
                                  **claims})  # fmt: skip


async def refund(flow: PayStack, who: dict[str, Any], pr_id: str, **body: Any) -> tuple[int, Any]:
    return await flow.api("POST", f"/api/v1/payment-requests/{pr_id}/refunds", who, json=body)
