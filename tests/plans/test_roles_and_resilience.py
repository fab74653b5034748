"""Who may offer and cancel a plan, what a bad offer is told, each instalment's line in the export, and the
scheduler with several workers at once on PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import io
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from addon.app import create_app
from addon.appkeys import CLOCK, DB
from addon.background import sweep_plans_once
from addon.clock import ManualClock
from addon.models import Instalment, OffSessionCharge, PaymentRequest
from tests.plans.conftest import WEEK, offer, patient_with_card, requested
from tests.saved_cards.conftest import turn_on
from tests.support.payflow import PayStack


async def test_who_may_offer_and_cancel(clinic: PayStack) -> None:
    doctor_session = await clinic.clinician()
    doctor = await clinic.socket(doctor_session)
    pr = await requested(clinic, doctor)
    other = await clinic.clinician(sub="dr-grace", name="Dr Grace Hopper")
    patient = await clinic.patient()
    org_admin = await clinic.session(role="org_admin", sub="org-boss", call=None, clinic=None)
    elsewhere = await clinic.session(role="team_admin", sub="admin-9", clinic="clinic-2", call=None)
    for session, expected in ((patient, 403), (other, 403), (org_admin, 403), (elsewhere, 404)):
        status, body = await offer(clinic, session, pr["id"])
        assert status == expected, (session["role"], body)
        assert set(body["error"]) >= {"code", "message"}
    status, plan = await offer(clinic, doctor_session, pr["id"])
    assert status == 201, plan
    # A repeat answers the plan already made.
    status, again = await offer(clinic, doctor_session, pr["id"], count=5)
    assert status == 200 and again["id"] == plan["id"] and again["count"] == 3
    # Listing: the clinic's admin sees it, another clinician doesn't; a patient may not look.
    admin = await clinic.session(role="team_admin", sub="admin-1", name="Alex Admin", call=None)
    assert [p["id"] for p in (await clinic.api("GET", "/api/v1/plans", admin))[1]["data"]] == [plan["id"]]
    assert (await clinic.api("GET", "/api/v1/plans", other))[1]["data"] == []
    assert (await clinic.api("GET", f"/api/v1/plans/{plan['id']}", other))[0] == 404
    assert (await clinic.api("GET", "/api/v1/plans", patient))[0] == 403
    for session, expected in ((patient, 403), (other, 404), (elsewhere, 404)):
        status, body = await clinic.api("POST", f"/api/v1/plans/{plan['id']}/cancel", session)
        assert status == expected, body
    status, body = await clinic.api("POST", f"/api/v1/plans/{plan['id']}/cancel", doctor_session)
    assert status == 200 and body["status"] == "canceled"
    # A team admin may offer a plan on any clinician's request.
    pr2 = await requested(clinic, doctor, "250.00")
    status, plan2 = await offer(clinic, admin, pr2["id"], count=2)
    assert status == 201 and plan2["clinician"]["id"] == "dr-ada"


async def test_a_bad_offer_is_told_what_is_wrong(clinic: PayStack) -> None:
    session = await clinic.clinician()
    doctor = await clinic.socket(session)
    pr = await requested(clinic, doctor)
    for body, field in (
        ({"count": 1, "interval": "weekly"}, "count"),
        ({"count": 13, "interval": "weekly"}, "count"),
        ({"count": "3", "interval": "weekly"}, "count"),
        ({"count": 3, "interval": "daily"}, "interval"),
        ({"count": 3}, "interval"),
    ):
        status, answer = await clinic.api("POST", f"/api/v1/payment-requests/{pr['id']}/plan", session, json=body)
        assert status == 400 and answer["error"]["field"] == field, (body, answer)
    small = await requested(clinic, doctor, "200.00")
    status, answer = await offer(clinic, session, small["id"])
    assert status == 409 and answer["error"]["code"] == "below_plan_minimum"
    assert "A$200.00" in answer["error"]["message"]
    status, answer = await offer(clinic, session, "pr_nope")
    assert status == 404
    admin = await clinic.session(role="team_admin", sub="admin-1", name="Alex Admin", call=None)
    status, _ = await clinic.api("PATCH", "/api/v1/clinic/settings", admin, json={"plan_min_amount": ""})
    assert status == 200
    status, answer = await offer(clinic, session, pr["id"])
    assert status == 409 and answer["error"]["code"] == "plans_off"
    status, answer = await clinic.api("PATCH", "/api/v1/clinic/settings", admin, json={"plan_min_amount": "abc"})
    assert status == 400 and answer["error"]["field"] == "plan_min_amount"


async def test_each_instalment_is_its_own_line_in_the_export(clinic: PayStack, clock: ManualClock) -> None:
    patient = await patient_with_card(clinic)
    doctor = await clinic.socket(await clinic.clinician())
    pr = await requested(clinic, doctor)
    _, plan = await offer(clinic, await clinic.clinician(), pr["id"])
    await clinic.pay(plan["instalments"][0]["payment_request"], patient)
    await clinic.webhooks_settled()
    clock.advance(WEEK)
    await sweep_plans_once(clinic.app)
    admin = await clinic.session(role="team_admin", sub="admin-1", name="Alex Admin", call=None)
    response = await clinic.client.get(
        "/api/v1/payments?format=csv", headers={"Authorization": f"Bearer {admin['token']}"}
    )
    assert response.status == 200
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    lines = {row["description"]: row for row in rows}
    assert lines["Treatment course — instalment 1 of 3"]["amount"] == "100.00"
    assert lines["Treatment course — instalment 1 of 3"]["status"] == "paid"
    assert lines["Treatment course — instalment 2 of 3"]["status"] == "paid"
    assert lines["Treatment course"]["status"] == "canceled"
    assert "Treatment course — instalment 3 of 3" not in lines  # not due yet
    receipts = {lines[f"Treatment course — instalment {n} of 3"]["receipt_number"] for n in (1, 2)}
    assert len(receipts) == 2 and "" not in receipts


@pytest.fixture
async def pg_clinic(postgres_stack: PayStack) -> PayStack:
    await turn_on(postgres_stack, plan_min_amount="200.00")
    return postgres_stack


async def test_several_workers_at_once_on_postgres_charge_each_instalment_once(
    pg_clinic: PayStack, aiohttp_client: Callable[..., Any]
) -> None:
    clock = ManualClock()
    # A second worker process: the same settings and database, its own engine and background jobs.
    other = create_app(pg_clinic.settings)
    await aiohttp_client(other)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pg_clinic.app[CLOCK] = clock
        other[CLOCK] = clock
    patient = await patient_with_card(pg_clinic)
    doctor = await pg_clinic.socket(await pg_clinic.clinician())
    made = []
    for n in range(3):
        pr = await requested(pg_clinic, doctor, f"{300 + n}.00")
        status, plan = await offer(pg_clinic, await pg_clinic.clinician(), pr["id"], count=3)
        assert status == 201, plan
        made.append(plan)
        await pg_clinic.pay(plan["instalments"][0]["payment_request"], patient)
    clock.advance(WEEK * 2 + WEEK / 7)
    await asyncio.gather(*(sweep_plans_once(app) for app in (pg_clinic.app, other, pg_clinic.app, other)))
    async with pg_clinic.app[DB]() as db:
        instalments = (await db.scalars(select(Instalment).where(Instalment.number > 1))).all()
        charges = await db.scalar(select(func.count()).select_from(OffSessionCharge))
        paid = await db.scalar(
            select(func.count()).select_from(PaymentRequest).where(PaymentRequest.description.like("%instalment%"),
                                                                    PaymentRequest.status == "paid")
        )  # fmt: skip
    assert len(instalments) == 6 and all(i.status == "sent" and i.attempts == 1 for i in instalments)
    assert charges == 6 and paid == 9
    intents = (await pg_clinic.stripe("GET", "/v1/payment_intents?limit=100"))["data"]
    assert len([i for i in intents if i["metadata"].get("purpose") == "instalment"]) == 6
