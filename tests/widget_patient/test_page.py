"""``GET /widget/patient``: who may open it, and what the page is allowed to load."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import launch_token
from tests.support.payflow import PayStack


async def test_a_patient_gets_the_widget_with_the_clinics_name_and_a_session(connected: PayStack) -> None:
    launch = launch_token(role="patient", sub="patient-1", name=None)
    response = await connected.client.get(f"/widget/patient?launch={launch}")
    assert response.status == 200
    html = await response.text()
    assert "Harbour Physio" in html
    assert 'id="callpay-session"' in html and '"role": "patient"' in html
    assert 'data-testid="payment-element"' in html
    assert response.headers["Cache-Control"] == "no-store"
    csp = response.headers["Content-Security-Policy"]
    sandbox = connected.sandbox.url
    assert f"script-src 'self' {sandbox}" in csp
    assert f"frame-src {sandbox}" in csp
    assert "frame-ancestors *" in csp


async def test_receipt_details_name_the_clinic_when_set(connected: PayStack) -> None:
    from addon.appkeys import DB
    from addon.models import Clinic

    async with connected.app[DB].begin() as db:
        clinic = (await db.execute(Clinic.__table__.select())).first()
        assert clinic is not None
        await db.execute(Clinic.__table__.update().values(receipt_business_name="Harbour Physio Pty Ltd"))
    launch = launch_token(role="patient", sub="patient-1", name=None)
    html = await (await connected.client.get(f"/widget/patient?launch={launch}")).text()
    assert "Harbour Physio Pty Ltd" in html


async def test_the_widget_dates_payments_in_the_clinics_time_zone_as_its_receipts_do(connected: PayStack) -> None:
    """The success card's Date sits beside the receipt number: it is the receipt's date, in the clinic's zone (a
    device in another zone would otherwise show another day than the emailed receipt)."""
    from addon.appkeys import DB
    from addon.models import Clinic

    async with connected.app[DB].begin() as db:
        await db.execute(Clinic.__table__.update().values(timezone="Australia/Perth"))
    launch = launch_token(role="patient", sub="patient-1", name=None)
    html = await (await connected.client.get(f"/widget/patient?launch={launch}")).text()
    assert '<html lang="en-AU" data-timezone="Australia/Perth">' in html


async def test_a_clinician_launch_is_refused_with_a_page_that_says_what_to_do(client: TestClient[Any, Any]) -> None:
    response = await client.get(f"/widget/patient?launch={launch_token(role='team_member')}")
    assert response.status == 401
    assert "open the right tool" in await response.text()


async def test_no_launch_or_a_replayed_one_is_refused(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/widget/patient")).status == 401
    launch = launch_token(role="patient", sub="p", name=None)
    assert (await client.get(f"/widget/patient?launch={launch}")).status == 200
    replay = await client.get(f"/widget/patient?launch={launch}")
    assert replay.status == 401
    assert "already been used" in await replay.text()


async def test_the_widgets_static_files_are_served(client: TestClient[Any, Any]) -> None:
    for path in (
        "/widget/static/patient.js",
        "/widget/static/patient.css",
        "/widget/static/vendor/socket.io-client/socket.io.esm.min.js",
    ):
        assert (await client.get(path)).status == 200, path


async def test_a_reload_gets_the_widget_without_a_session_for_the_tab_to_resume(client: TestClient[Any, Any]) -> None:
    """No launch in the address (the page took it out): the widget's page, carrying no session, whose script resumes
    the one the tab kept or says how to open it again."""
    response = await client.get("/widget/patient")
    assert response.status == 401
    html = await response.text()
    assert 'id="callpay-session"' not in html
    assert 'id="pw-reopen"' in html and "Open it again from the video call." in html
    assert re.search(r'<script type="module" src="/widget/static/patient.js" integrity="sha384-[^"]+"></script>', html)
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors *" in response.headers["Content-Security-Policy"]
    assert "Set-Cookie" not in response.headers
