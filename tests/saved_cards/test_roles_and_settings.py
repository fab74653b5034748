"""Who may charge a saved card (the role matrix, and never across clinics), and the clinic's settings for it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from addon.appkeys import DB
from addon.models import PaymentRequest
from tests.saved_cards.conftest import POLICY, save_card, turn_on
from tests.support.payflow import PayStack


async def fees_charged(stack: PayStack) -> int:
    async with stack.app[DB]() as db:
        return int(
            await db.scalar(
                select(func.count()).select_from(PaymentRequest).where(PaymentRequest.description.like("%fee"))
            )
            or 0
        )


async def charge(stack: PayStack, who: dict[str, Any], card_id: str, **body: Any) -> tuple[int, Any]:
    return await stack.api(
        "POST", f"/api/v1/saved-cards/{card_id}/fees", who, json={"kind": "no_show", "client_ref": "r", **body}
    )


async def test_who_may_charge_a_saved_card(clinic: PayStack) -> None:
    patient = await clinic.patient(name="Pat Lee", extra={"email": "pat@example.com"})
    card = await save_card(clinic, patient)
    clinician = await clinic.clinician(call=None)
    org_admin = await clinic.session(role="org_admin", sub="org-admin", clinic=None, call=None)
    other_admin = await clinic.session(role="team_admin", sub="admin-9", clinic="clinic-2", call=None)
    other_patient = await clinic.patient(sub="patient-2", call="call-1")
    # Refused, each with its reason, and nothing charged.
    for who, status, code in (
        (clinician, 403, "role_not_allowed"),  # the clinic hasn't let clinicians
        (patient, 403, "role_not_allowed"),
        (other_patient, 403, "role_not_allowed"),
        (org_admin, 403, "role_not_allowed"),
        (other_admin, 404, "not_found"),  # another clinic's card: not found, as for a stranger
    ):
        answer, body = await charge(clinic, who, card["id"])
        assert (answer, body["error"]["code"]) == (status, code), (who["role"], body)
    answer, body = await clinic.api("GET", "/api/v1/saved-cards", other_admin)
    assert answer == 200 and body["data"] == []
    answer, body = await clinic.api("GET", "/api/v1/saved-cards", clinician)
    assert answer == 200 and not body["may_charge"] and [c["id"] for c in body["data"]] == [card["id"]]
    for who in (patient, org_admin):
        answer, body = await clinic.api("GET", "/api/v1/saved-cards", who)
        assert answer == 403
    assert await fees_charged(clinic) == 0
    # Unknown cards, kinds and calls are clear errors in the contract's shape.
    admin = await clinic.session(role="team_admin", sub="admin-1", call=None)
    answer, body = await charge(clinic, admin, "card_nope")
    assert answer == 404
    answer, body = await charge(clinic, admin, card["id"], kind="parking")
    assert answer == 400 and body["error"]["field"] == "kind"
    answer, body = await charge(clinic, admin, card["id"], call="call-never")
    assert answer == 400 and body["error"]["field"] == "call"
    answer, body = await charge(clinic, admin, card["id"], surprise=1)
    assert answer == 400 and body["error"]["field"] == "surprise"
    assert await fees_charged(clinic) == 0
    # The clinic lets clinicians charge: now they may.
    await turn_on(clinic, clinician_fees=True)
    answer, body = await charge(clinic, clinician, card["id"])
    assert answer == 201 and body["outcome"] == "paid"
    assert body["payment_request"]["clinician"]["id"] == "dr-ada"
    assert await fees_charged(clinic) == 1


async def test_a_fee_the_clinic_has_not_set_is_refused(clinic: PayStack) -> None:
    patient = await clinic.patient(extra={"email": "pat@example.com"})
    card = await save_card(clinic, patient)
    admin = await turn_on(clinic, late_cancellation_fee=None)
    answer, body = await charge(clinic, admin, card["id"], kind="late_cancellation")
    assert answer == 409 and body["error"]["code"] == "fee_not_set"


async def test_saved_card_settings_are_checked(connected: PayStack) -> None:
    admin = await connected.session(role="team_admin", sub="admin-1", call=None)

    async def patch(**body: Any) -> tuple[int, Any]:
        return await connected.api("PATCH", "/api/v1/clinic/settings", admin, json=body)

    status, body = await patch(saved_cards_enabled=True)
    assert status == 400 and body["error"]["field"] == "saved_card_policy"
    assert "policy" in body["error"]["message"]
    status, body = await patch(saved_cards_enabled=True, saved_card_policy="Fees.")
    assert status == 400 and body["error"]["field"] == "saved_card_policy"
    status, body = await patch(no_show_fee="fifty", late_cancellation_fee="0.10")
    assert status == 400 and [e["field"] for e in body["error"]["errors"]] == ["no_show_fee", "late_cancellation_fee"]
    status, body = await patch(saved_cards_enabled="yes")
    assert status == 400 and body["error"]["field"] == "saved_cards_enabled"
    status, body = await patch(saved_card_policy="x" * 2001)
    assert status == 400 and body["error"]["field"] == "saved_card_policy"
    status, config = await patch(saved_cards_enabled=True, saved_card_policy=POLICY, no_show_fee="50.00")
    assert status == 200
    settings = config["settings"]
    assert settings["saved_cards_enabled"] and settings["saved_card_policy"] == POLICY
    assert (settings["no_show_fee"], settings["no_show_fee_text"], settings["no_show_fee_display"]) == (
        5000,
        "50.00",
        "A$50.00",
    )
    assert settings["late_cancellation_fee"] is None and not settings["clinician_fees"]
    # A new currency changes what the fee means: it must be entered again.
    status, body = await patch(default_currency="nzd")
    assert status == 400 and body["error"]["field"] == "no_show_fee"
    # The policy can't be emptied while saved cards are on.
    status, body = await patch(saved_card_policy="")
    assert status == 400 and body["error"]["field"] == "saved_card_policy"
    status, config = await patch(saved_cards_enabled=False, saved_card_policy="")
    assert status == 200 and config["settings"]["saved_card_policy"] is None


async def test_saved_cards_off_means_no_question(connected: PayStack) -> None:
    patient = await connected.patient()
    status, offer = await connected.api("GET", "/api/v1/saved-card", patient)
    assert status == 200 and not offer["enabled"] and not offer["ask"] and offer["policy"] is None
    status, body = await connected.api(
        "POST", "/api/v1/saved-card/setup", patient, json={"email": "pat@example.com", "agree": True, "policy": POLICY}
    )
    assert status == 409 and body["error"]["code"] == "saved_cards_off"
