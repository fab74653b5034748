"""GET /api/v1/payments?format=csv: the bytes a spreadsheet opens."""

from __future__ import annotations

import csv
import io
from typing import Any

from aiohttp.test_utils import TestClient

from addon.services import payment_listing
from tests.centre.conftest import Seeded, headers_for


async def export(client: TestClient[Any, Any], who: str, query: str = "") -> tuple[int, dict[str, str], bytes]:
    response = await client.get(f"/api/v1/payments?format=csv{query}", headers=await headers_for(client, who))
    return response.status, dict(response.headers), await response.read()


def parse(raw: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


async def test_the_csv_opens_cleanly_in_a_spreadsheet(client: TestClient[Any, Any], seeded: Seeded) -> None:
    status, headers, raw = await export(client, "admin", "&sort=created_at")
    assert status == 200
    assert headers["Content-Type"] == "text/csv; charset=utf-8"
    assert headers["Content-Disposition"].startswith('attachment; filename="payments-')
    assert raw.startswith(b"\xef\xbb\xbfid,status,amount,currency,")
    header_line = raw[3:].split(b"\r\n", 1)[0].decode()
    assert header_line.startswith(
        "id,status,amount,currency,amount_refunded,description,clinician,created_at,paid_at,receipt_number"
    )
    rows = parse(raw)
    assert [row["id"] for row in rows] == ["pr_a1", "pr_a2", "pr_a3", "pr_a4", "pr_b1", "pr_b2", "pr_b3"]
    first = rows[0]
    assert first["amount"] == "80.00" and first["currency"] == "aud" and first["amount_refunded"] == "0.00"
    assert first["clinician"] == "Dr Ada Lovelace" and first["clinic"] == "Harbour Physio"
    # ISO, in the clinic's time zone (Sydney is UTC+11 in November).
    assert first["created_at"] == "2026-11-10T11:00:00+11:00"
    assert first["paid_at"] == "2026-11-10T11:05:00+11:00"
    assert first["receipt_number"] == "000001" and first["item_code"] == "10960"
    assert first["stripe_fee"] == "1.50" and first["net"] == "78.50"
    assert rows[1]["amount_refunded"] == "20.00" and rows[1]["net"] == "98.00"
    assert rows[2]["paid_at"] == "" and rows[2]["receipt_number"] == ""


async def test_formulas_are_made_inert_and_quotes_escaped(client: TestClient[Any, Any], seeded: Seeded) -> None:
    _, _, raw = await export(client, "admin", "&currency=nzd")
    (row,) = parse(raw)
    assert row["description"] == "'=HYPERLINK(\"http://evil.example\",\"x\")"
    assert row["patient_name"] == "'+Mallory"
    # The quotes inside are doubled, as CSV escapes them.
    assert b'"\'=HYPERLINK(""http://evil.example"",""x"")"' in raw


def test_every_formula_start_is_neutralised() -> None:
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert payment_listing.neutralise(f"{start}1+1") == f"'{start}1+1"
    assert payment_listing.neutralise("Consultation - 30 min") == "Consultation - 30 min"


async def test_the_export_follows_the_filters_and_the_role(client: TestClient[Any, Any], seeded: Seeded) -> None:
    _, _, raw = await export(client, "bob")
    assert {row["id"] for row in parse(raw)} == seeded.ids("b1", "b2", "b3")
    _, _, raw = await export(client, "admin", "&status=unpaid")
    assert {row["id"] for row in parse(raw)} == seeded.ids("a3", "b2")
    _, _, raw = await export(client, "org", "&clinic=clinic-2")
    (row,) = parse(raw)
    # Each row's times are in its own clinic's zone (Perth is UTC+8).
    assert row["created_at"] == "2026-11-17T08:00:00+08:00" and row["clinic"] == "Bayside Stripe Pty Ltd"


async def test_an_export_refused_is_json_before_any_csv(client: TestClient[Any, Any], seeded: Seeded) -> None:
    status, headers, raw = await export(client, "patient")
    assert status == 403 and headers["Content-Type"].startswith("application/json")
    status, _, raw = await export(client, "admin", "&from=someday")
    assert status == 400 and b'"field": "from"' in raw


async def test_a_large_export_is_streamed_in_batches(
    client: TestClient[Any, Any], seeded: Seeded, monkeypatch: Any
) -> None:
    # Batches of two: the export must walk the keyset pages, not read everything in one query.
    monkeypatch.setattr(payment_listing, "EXPORT_BATCH", 2)
    _, _, raw = await export(client, "admin")
    rows = parse(raw)
    assert [row["id"] for row in rows] == ["pr_b3", "pr_b2", "pr_b1", "pr_a4", "pr_a3", "pr_a2", "pr_a1"]
