"""What a clinician types as an amount, read by the server in the clinic's locale, through the real socket."""

from __future__ import annotations

from sqlalchemy import func, select, update

from addon.appkeys import DB
from addon.models import Clinic, PaymentRequest
from tests.support.payflow import PayStack


async def requests_made(stack: PayStack) -> int:
    async with stack.app[DB]() as db:
        return int(await db.scalar(select(func.count()).select_from(PaymentRequest)) or 0)


async def test_typed_amounts_are_read_or_refused_naming_the_clinics_way(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    refused = {
        "80,00": ("amount_unclear", "write 80.00"),
        "US$80": ("wrong_currency", "Australian dollars"),
        "¥500": ("wrong_currency", "Australian dollars"),
        "80.001": ("too_many_decimals", "at most 2 decimal places"),
        "0": ("amount_not_positive", "greater than zero"),
        "1,000,000": ("amount_too_large", "A$999,999.99"),
    }
    for typed, (code, says) in refused.items():
        ack = await doctor.call("request_payment", {"amount": typed, "description": "Consultation"})
        assert ack["ok"] is False, typed
        assert (ack["error"]["code"], ack["error"]["field"]) == (code, "amount"), ack
        assert says in ack["error"]["message"], ack
    for minor in (2**31, 10**20, -8000):
        ack = await doctor.call("request_payment", {"amount": minor, "description": "Consultation"})
        assert ack["ok"] is False and ack["error"]["field"] == "amount", ack
    assert await requests_made(stack) == 0

    for typed in ("A$80", "1,234.50", "80"):
        ack = await doctor.call("request_payment", {"amount": typed, "description": "Consultation", "confirm": True})
        assert ack["ok"], ack
    made = [a for a in stack.published.of("payment_request")]
    assert [e.data["amount_display"] for e in made] == ["A$80.00", "A$1,234.50", "A$80.00"]


async def test_a_large_request_asks_first_then_goes_with_confirm(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    body = {"amount": "800", "description": "Surgery", "client_ref": "big-1"}
    ack = await doctor.call("request_payment", body)
    assert ack == {
        "ok": False,
        "error": {
            "code": "confirm_required",
            "message": "Request A$800.00? That is more than A$500.00.",
            "field": "amount",
        },
    }
    assert await requests_made(stack) == 0 and stack.published.of("payment_request") == []
    # At the threshold itself nothing is asked.
    ack = await doctor.call("request_payment", {"amount": "500.00", "description": "Surgery"})
    assert ack["ok"], ack

    ack = await doctor.call("request_payment", {**body, "confirm": True})
    assert ack["ok"] and ack["payment_request"]["amount"] == 80000
    again = await doctor.call("request_payment", {**body, "confirm": True})
    assert again["payment_request"]["id"] == ack["payment_request"]["id"]
    assert await requests_made(stack) == 2
    bad = await doctor.call("request_payment", {**body, "client_ref": "big-2", "confirm": "yes"})
    assert bad["ok"] is False and bad["error"]["field"] == "confirm"


async def test_the_clinics_own_threshold_and_locale_are_used(connected: PayStack) -> None:
    stack = connected
    async with stack.app[DB].begin() as db:
        await db.execute(update(Clinic).values(locale="de-DE", default_currency="eur", confirm_above=100000))
    doctor = await stack.socket(await stack.clinician())
    ack = await doctor.call("request_payment", {"amount": "1.234,50", "description": "Behandlung"})
    assert ack["error"]["code"] == "confirm_required"
    assert ack["error"]["message"] == "Request 1.234,50\u00a0€? That is more than 1.000,00\u00a0€."
    ack = await doctor.call("request_payment", {"amount": "80.00", "description": "Behandlung"})
    assert ack["error"]["code"] == "amount_unclear" and "write 80,00" in ack["error"]["message"]
    ack = await doctor.call("request_payment", {"amount": "80,00 €", "description": "Behandlung"})
    assert ack["ok"] and ack["payment_request"]["amount"] == 8000


async def test_both_fields_wrong_are_answered_together(connected: PayStack) -> None:
    doctor = await connected.socket(await connected.clinician())
    ack = await doctor.call("request_payment", {"amount": "80,00", "description": "  "})
    assert ack["ok"] is False
    assert ack["error"]["field"] == "amount"
    assert [(e["field"], e["code"]) for e in ack["error"]["errors"]] == [
        ("amount", "amount_unclear"),
        ("description", "invalid"),
    ]
