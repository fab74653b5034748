"""GET /payment-centre?launch=…: one page per role, showing the clinic's name and never its platform id."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.centre.conftest import ROLES, Seeded, headers_for
from tests.conftest import launch_token, session_from_page

CONFIG = re.compile(r'<script type="application/json" id="centre-config">(.*?)</script>', re.S)


async def open_page(client: TestClient[Any, Any], who: str, **extra: Any) -> tuple[int, str]:
    claims = {**ROLES[who], "extra": extra}
    response = await client.get(f"/payment-centre?launch={launch_token(**claims)}")
    return response.status, await response.text()


def config(html: str) -> dict[str, Any]:
    found = CONFIG.search(html)
    assert found
    body: dict[str, Any] = json.loads(found.group(1))
    return body


async def test_a_team_admin_gets_the_clinic_with_its_clinicians(client: TestClient[Any, Any], seeded: Seeded) -> None:
    status, html = await open_page(client, "admin")
    assert status == 200
    assert session_from_page(html)["role"] == "team_admin"
    for testid in ("payments-table", "filter-status", "filter-from", "filter-to", "filter-q", "filter-apply",
                   "payments-export", "payments-totals", "refund-open", "refund-amount", "refund-reason",
                   "refund-submit", "refund-error", "resend-receipt"):  # fmt: skip
        assert f'data-testid="{testid}"' in html, testid
    body = config(html)
    assert body["title"] == "Harbour Physio" and not body["own_only"] and not body["many_clinics"]
    assert [c["name"] for c in body["clinicians"]] == ["Dr Ada Lovelace", "Dr Bob Babbage"]
    assert body["currencies"] == ["aud", "nzd"]
    assert ">Harbour Physio ·" in html and "clinic-1" not in html.split('id="callpay-session"')[0]


async def test_a_clinician_gets_their_own(client: TestClient[Any, Any], seeded: Seeded) -> None:
    status, html = await open_page(client, "bob")
    assert status == 200
    body = config(html)
    assert body["own_only"] and body["clinicians"] == []
    assert "Your payments at Harbour Physio" in html
    assert 'data-testid="filter-clinician"' not in html


async def test_an_org_admin_gets_every_clinic(client: TestClient[Any, Any], seeded: Seeded) -> None:
    status, html = await open_page(client, "org")
    assert status == 200
    body = config(html)
    assert body["many_clinics"]
    assert [c["name"] for c in body["clinics"]] == ["Bayside Stripe Pty Ltd", "Harbour Physio"]
    assert 'data-testid="filter-clinic"' in html


async def test_the_launch_names_the_clinic(client: TestClient[Any, Any], seeded: Seeded) -> None:
    status, html = await open_page(client, "admin2", clinic_name="Bayside Physiotherapy")
    assert status == 200
    assert config(html)["title"] == "Bayside Physiotherapy"
    # A later launch without the claim keeps the name the earlier one gave.
    _, html = await open_page(client, "admin2")
    assert config(html)["title"] == "Bayside Physiotherapy"


@pytest.mark.parametrize("who", ["patient"])
async def test_patients_are_turned_away(client: TestClient[Any, Any], seeded: Seeded, who: str) -> None:
    status, html = await open_page(client, who)
    assert status == 401
    assert "for your role" in html


async def test_without_a_launch_the_page_says_where_to_open_it(client: TestClient[Any, Any]) -> None:
    response = await client.get("/payment-centre")
    assert response.status == 401
    assert "Open it again from" in await response.text()


async def test_a_clinician_sets_their_own_provider_number(client: TestClient[Any, Any], seeded: Seeded) -> None:
    headers = await headers_for(client, "bob")
    response = await client.get("/api/v1/profile", headers=headers)
    assert (response.status, (await response.json())["provider_number"]) == (200, "4455667B")
    response = await client.patch("/api/v1/profile", json={"provider_number": " 7788990X "}, headers=headers)
    assert response.status == 200 and (await response.json())["provider_number"] == "7788990X"
    response = await client.patch("/api/v1/profile", json={"provider_number": "<b>"}, headers=headers)
    body = await response.json()
    assert response.status == 400 and body["error"]["field"] == "provider_number"
    response = await client.patch("/api/v1/profile", json={"colour": "red"}, headers=headers)
    assert response.status == 400
    org = await headers_for(client, "org")
    assert (await client.get("/api/v1/profile", headers=org)).status == 403
    _, html = await open_page(client, "bob")
    assert 'data-testid="provider-number"' in html
    _, html = await open_page(client, "org")
    assert 'data-testid="provider-number"' not in html
