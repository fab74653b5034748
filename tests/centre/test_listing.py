"""GET /api/v1/payments: who sees what, the filters, sorting, cursor pages and totals, on a seeded mix."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.centre.conftest import Seeded, get_list, headers_for


def ids(body: dict[str, Any]) -> list[str]:
    return [row["id"] for row in body["data"]]


async def test_a_team_admin_sees_the_clinic_newest_first(client: TestClient[Any, Any], seeded: Seeded) -> None:
    status, body = await get_list(client, "admin")
    assert status == 200, body
    assert ids(body) == ["pr_b3", "pr_b2", "pr_b1", "pr_a4", "pr_a3", "pr_a2", "pr_a1"]
    assert body["next_cursor"] is None
    first = body["data"][-1]
    assert first["clinic_name"] == "Harbour Physio"
    assert first["patient_name"] == "Sam Patient" and first["patient_email"] == "sam@example.com"
    assert first["created_at_display"] == "10 November 2026, 11:00 am"  # Sydney, summer time
    assert first["refundable"] is True and first["amount_refundable"] == 8000


async def test_a_clinician_sees_only_their_own(client: TestClient[Any, Any], seeded: Seeded) -> None:
    _, ada = await get_list(client, "ada")
    _, bob = await get_list(client, "bob")
    assert set(ids(ada)) == seeded.ids("a1", "a2", "a3", "a4")
    assert set(ids(bob)) == seeded.ids("b1", "b2", "b3")
    # Naming another clinician filters nothing in: a clinician's scope is theirs alone.
    _, probe = await get_list(client, "bob", "?clinician=dr-ada")
    assert probe["data"] == []


async def test_an_org_admin_sees_every_clinic_of_the_organisation(client: TestClient[Any, Any], seeded: Seeded) -> None:
    _, body = await get_list(client, "org")
    assert set(ids(body)) == seeded.ids("a1", "a2", "a3", "a4", "b1", "b2", "b3", "c1")
    names = {row["id"]: row["clinic_name"] for row in body["data"]}
    assert names["pr_c1"] == "Bayside Stripe Pty Ltd"  # no platform name: the Stripe account's, never the id
    _, only = await get_list(client, "org", "?clinic=clinic-2")
    assert ids(only) == ["pr_c1"]


async def test_another_clinic_and_patients_see_nothing(client: TestClient[Any, Any], seeded: Seeded) -> None:
    _, other = await get_list(client, "admin2")
    assert ids(other) == ["pr_c1"]
    status, body = await get_list(client, "patient")
    assert status == 403 and body["error"]["code"] == "role_not_allowed"
    response = await client.get("/api/v1/payments")
    assert response.status == 401


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?status=paid", ("a1", "a4")),
        ("?status=paid,refunded", ("a1", "a4", "b1")),
        ("?status=paid&status=failed", ("a1", "a4", "b2")),
        ("?status=unpaid", ("a3", "b2")),
        ("?currency=nzd", ("a4",)),
        ("?currency=AUD&status=partially_refunded", ("a2",)),
        ("?clinician=dr-bob", ("b1", "b2", "b3")),
        ("?from=2026-11-12&to=2026-11-13", ("a3", "a4")),
        ("?from=2026-11-15", ("b2", "b3")),
        ("?to=2026-11-10", ("a1",)),
        ("?from=2026-11-11T00:00:00Z&to=2026-11-12T00:00:00Z", ("a2",)),
        ("?amount_min=60&amount_max=120", ("a1", "a2", "b1")),
        ("?amount_min=60.01&amount_max=119.99", ("a1",)),
        ("?amount_min=100", ("a2", "a4")),
        ("?amount_min=100&currency=aud", ("a2",)),
        ("?q=massage", ("b1", "b2")),
        ("?q=000002", ("a2",)),
        ("?q=SAM%20patient", ("a1",)),
        ("?q=kim@example", ("a2",)),
        ("?q=100%25", ()),
        ("?q=pr_b3", ("b3",)),
    ],
)
async def test_filters(client: TestClient[Any, Any], seeded: Seeded, query: str, expected: tuple[str, ...]) -> None:
    status, body = await get_list(client, "admin", query)
    assert status == 200, body
    assert set(ids(body)) == seeded.ids(*expected)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?status=lost", "status"),
        ("?from=yesterday", "from"),
        ("?from=2026-11-13&to=2026-11-12", "from"),
        ("?amount_min=ten", "amount_min"),
        ("?amount_min=50&amount_max=10", "amount_min"),
        ("?currency=xyz", "currency"),
        ("?limit=0", "limit"),
        ("?limit=1000", "limit"),
        ("?sort=patient", "sort"),
        ("?cursor=not-a-cursor", "cursor"),
        ("?colour=red", "colour"),
        ("?format=xml", "format"),
    ],
)
async def test_bad_filters_say_which(client: TestClient[Any, Any], seeded: Seeded, query: str, field: str) -> None:
    status, body = await get_list(client, "admin", query)
    assert status == 400, body
    assert body["error"]["field"] == field
    assert body["error"]["message"]


async def test_sorting_by_amount_both_ways(client: TestClient[Any, Any], seeded: Seeded) -> None:
    _, up = await get_list(client, "ada", "?sort=amount")
    _, down = await get_list(client, "ada", "?sort=-amount")
    assert ids(up) == ["pr_a3", "pr_a1", "pr_a2", "pr_a4"]
    assert ids(down) == list(reversed(ids(up)))
    _, oldest = await get_list(client, "ada", "?sort=created_at")
    assert ids(oldest) == ["pr_a1", "pr_a2", "pr_a3", "pr_a4"]


@pytest.mark.parametrize("sort", ["-created_at", "created_at", "amount", "-amount"])
async def test_cursor_pages_walk_everything_once(client: TestClient[Any, Any], seeded: Seeded, sort: str) -> None:
    _, whole = await get_list(client, "admin", f"?sort={sort}")
    headers = await headers_for(client, "admin")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = f"?sort={sort}&limit=2" + (f"&cursor={cursor}" if cursor else "")
        response = await client.get(f"/api/v1/payments{query}", headers=headers)
        body = await response.json()
        assert response.status == 200, body
        assert len(body["data"]) <= 2
        seen += ids(body)
        # Totals are the whole filtered set's on every page, not the page's.
        assert body["totals"] == whole["totals"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ids(whole)
    assert pages == 4


async def test_a_cursor_belongs_to_its_sort(client: TestClient[Any, Any], seeded: Seeded) -> None:
    _, page = await get_list(client, "admin", "?limit=2")
    status, body = await get_list(client, "admin", f"?limit=2&sort=amount&cursor={page['next_cursor']}")
    assert status == 400 and body["error"]["field"] == "cursor"


async def test_totals_per_currency(client: TestClient[Any, Any], seeded: Seeded) -> None:
    _, body = await get_list(client, "admin")
    totals = {t["currency"]: t for t in body["totals"]}
    assert set(totals) == {"aud", "nzd"}
    aud = totals["aud"]
    # Six AUD requests; money taken on a1, a2 and b1 (unpaid, failed and cancelled take nothing).
    assert (aud["count"], aud["gross"], aud["refunded"], aud["net"]) == (6, 26000, 8000, 18000)
    # b1's fee is unknown, so a fee total would understate: none is given.
    assert aud["fees"] is None and aud["net_to_clinic"] is None
    assert aud["display"]["net"] == "A$180.00"
    nzd = totals["nzd"]
    assert (nzd["count"], nzd["gross"], nzd["refunded"], nzd["net"]) == (1, 20000, 0, 20000)
    assert nzd["display"]["gross"] == "NZ$200.00"


async def test_fees_where_stripe_reported_every_one(client: TestClient[Any, Any], seeded: Seeded) -> None:
    _, body = await get_list(client, "ada", "?currency=aud")
    (aud,) = body["totals"]
    assert (aud["count"], aud["gross"], aud["refunded"]) == (3, 20000, 2000)
    assert aud["fees"] == 350
    assert aud["net_to_clinic"] == 7850 + 11800 - 2000
    assert aud["display"]["fees"] == "A$3.50"


async def test_totals_follow_the_filters(client: TestClient[Any, Any], seeded: Seeded) -> None:
    _, body = await get_list(client, "admin", "?status=refunded")
    assert body["totals"] == [
        {
            "currency": "aud",
            "count": 1,
            "gross": 6000,
            "refunded": 6000,
            "net": 0,
            "fees": None,
            "net_to_clinic": None,
            "display": {
                "gross": "A$60.00",
                "refunded": "A$60.00",
                "net": "A$0.00",
                "fees": None,
                "net_to_clinic": None,
            },
        }
    ]
    _, none = await get_list(client, "admin", "?q=nothing-matches-this")
    assert none == {"data": [], "totals": [], "next_cursor": None, "timezone": "Australia/Sydney"}
