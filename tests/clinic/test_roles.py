"""Who may use which surface and route, for each role, in its own clinic, another clinic and another organisation.

Org 1 has clinics A and B; org 2 has clinic Z. Nothing of one clinic is visible or changeable from another.
"""

from __future__ import annotations

import html
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from addon.models import AuditEvent, Clinic
from tests.conftest import bearer, launch_token, open_session

ROLES = ("org_admin", "team_admin", "team_member", "patient")


def _claims(role: str, *, org: str = "org-1", clinic: str = "clinic-a") -> dict[str, Any]:
    return {
        "role": role,
        "org": org,
        "clinic": clinic,
        "call": "call-1" if role in ("team_member", "patient") else None,
        "sub": f"{org}-{clinic}-{role}",
    }


PAGES = [
    ("/clinic-config", {"org_admin": 200, "team_admin": 200, "team_member": 401, "patient": 401}),
    ("/org-admin", {"org_admin": 200, "team_admin": 401, "team_member": 401, "patient": 401}),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("path", "expected"), PAGES, ids=[p for p, _ in PAGES])
async def test_pages_open_only_for_their_roles(
    client: TestClient[Any, Any], path: str, expected: dict[str, int], role: str
) -> None:
    response = await client.get(path, params={"launch": launch_token(**_claims(role))})
    assert response.status == expected[role]
    text = await response.text()
    assert ("callpay-session" in text) == (expected[role] == 200)
    if expected[role] != 200:
        assert "isn't for your role" in html.unescape(text)


ROUTES: list[tuple[str, str, dict[str, Any] | None, dict[str, int]]] = [
    ("GET", "/api/v1/clinic", None, {"org_admin": 200, "team_admin": 200, "team_member": 403, "patient": 403}),
    (
        "PATCH",
        "/api/v1/clinic/settings",
        {"receipt_footer": "Thanks"},
        {"org_admin": 200, "team_admin": 200, "team_member": 403, "patient": 403},
    ),
    (
        "POST",
        "/api/v1/clinic/stripe/connect",
        None,
        {"org_admin": 201, "team_admin": 201, "team_member": 403, "patient": 403},
    ),
    (
        "POST",
        "/api/v1/clinic/stripe/disconnect",
        None,
        {"org_admin": 409, "team_admin": 409, "team_member": 403, "patient": 403},
    ),
    ("GET", "/api/v1/clinic/status", None, {"org_admin": 200, "team_admin": 200, "team_member": 200, "patient": 403}),
    ("GET", "/api/v1/org/clinics", None, {"org_admin": 200, "team_admin": 403, "team_member": 403, "patient": 403}),
    (
        "PATCH",
        "/api/v1/org/clinics/clinic-a",
        {"addon_enabled": False},
        {"org_admin": 200, "team_admin": 403, "team_member": 403, "patient": 403},
    ),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "body", "expected"), ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ROUTES])
async def test_routes_answer_each_role_in_its_own_clinic(
    client: TestClient[Any, Any],
    method: str,
    path: str,
    body: dict[str, Any] | None,
    expected: dict[str, int],
    role: str,
) -> None:
    session = await open_session(client, **_claims(role))
    response = await client.request(method, path, json=body, headers=bearer(session))
    assert response.status == expected[role], await response.text()
    if response.status == 403:
        assert (await response.json())["error"]["code"] == "role_not_allowed"


@pytest.mark.parametrize(("method", "path", "body", "_"), ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ROUTES])
async def test_every_route_needs_a_session(
    client: TestClient[Any, Any], method: str, path: str, body: dict[str, Any] | None, _: Any
) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-session"}, {"Cookie": "session=anything"}):
        response = await client.request(method, path, json=body, headers=headers)
        assert response.status == 401
        assert (await response.json())["error"]["code"] in ("session_missing", "session_invalid")


async def test_a_clinic_admin_sees_and_changes_only_their_own_clinic(client: TestClient[Any, Any], app: Any) -> None:
    admin_b = await open_session(client, **_claims("team_admin", clinic="clinic-b"))
    response = await client.patch(
        "/api/v1/clinic/settings", json={"receipt_business_name": "Clinic B Pty Ltd"}, headers=bearer(admin_b)
    )
    assert response.status == 200
    admin_a = await open_session(client, **_claims("team_admin", clinic="clinic-a"))
    config = await (await client.get("/api/v1/clinic", headers=bearer(admin_a))).json()
    assert config["clinic"]["id"] == "clinic-a"
    assert config["settings"]["receipt_business_name"] is None
    # An org admin of another organisation with a clinic of the same name sees its own, not org 1's.
    other = await open_session(client, **_claims("org_admin", org="org-2", clinic="clinic-b"))
    config = await (await client.get("/api/v1/clinic", headers=bearer(other))).json()
    assert config["settings"]["receipt_business_name"] is None
    assert "Clinic B Pty Ltd" not in str(config)


async def test_org_admins_see_and_switch_only_their_own_organisations_clinics(
    client: TestClient[Any, Any], app: Any
) -> None:
    from addon.appkeys import DB

    for clinic in ("clinic-a", "clinic-b"):
        await open_session(client, **_claims("team_admin", clinic=clinic))
    await open_session(client, **_claims("team_admin", org="org-2", clinic="clinic-z"))
    admin_1 = await open_session(client, role="org_admin", org="org-1", clinic=None, call=None, sub="boss-1")
    admin_2 = await open_session(client, role="org_admin", org="org-2", clinic=None, call=None, sub="boss-2")

    listed = await (await client.get("/api/v1/org/clinics", headers=bearer(admin_1))).json()
    assert [c["id"] for c in listed["clinics"]] == ["clinic-a", "clinic-b"]
    listed = await (await client.get("/api/v1/org/clinics", headers=bearer(admin_2))).json()
    assert [c["id"] for c in listed["clinics"]] == ["clinic-z"]

    response = await client.patch(
        "/api/v1/org/clinics/clinic-a", json={"addon_enabled": False}, headers=bearer(admin_2)
    )
    assert response.status == 404
    assert (await response.json())["error"]["message"] == "That clinic doesn't exist in your organisation."
    async with app[DB]() as db:
        assert all((await db.scalars(select(Clinic.addon_enabled))).all())
        assert (await db.scalars(select(AuditEvent))).all() == []


async def test_an_org_admin_without_a_clinic_gets_a_clear_page_for_clinic_config(client: TestClient[Any, Any]) -> None:
    token = launch_token(role="org_admin", clinic=None, call=None)
    response = await client.get("/clinic-config", params={"launch": token})
    assert response.status == 400
    assert "this launch names none" in await response.text()
