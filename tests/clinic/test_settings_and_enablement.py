"""The clinic's payment settings, the org admin's switch, and the one answer to "can this clinic take payments"."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from addon.appkeys import DB
from addon.errors import InvalidFields, InvalidInput, PaymentsUnavailable
from addon.models import AuditEvent, Clinic
from addon.services import clinics
from tests.conftest import bearer, open_session
from tests.support.payflow import RecordingPublisher


@pytest.mark.parametrize(
    ("typed", "currency", "expected"),
    [
        ("80.00, 120", "aud", [8000, 12000]),
        ("120; 80", "aud", [8000, 12000]),
        ("A$1,250.50, 80", "aud", [8000, 125050]),
        ("500, 1000", "jpy", [500, 1000]),
        ([8000, "95.50"], "aud", [8000, 9550]),
        ("80, 80.00", "aud", [8000]),
        ("", "aud", []),
    ],
)
def test_preset_amounts_are_read_as_people_type_them(typed: object, currency: str, expected: list[int]) -> None:
    assert clinics.parse_presets(typed, currency) == expected


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("80.001", "Preset amount '80.001': Enter the amount with at most 2 decimal places, such as 80.00."),
        ("eighty", "Preset amount 'eighty': Enter the amount as a number, such as 80.00."),
        ("0", "Preset amount '0': Enter an amount greater than zero."),
        (", ".join(["1"] * 9), "Enter at most 8 preset amounts."),
        (42.5, 'Enter preset amounts separated by commas, such as "80.00, 120".'),
    ],
)
def test_bad_preset_amounts_say_what_to_fix(typed: object, says: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        clinics.parse_presets(typed, "aud")
    assert caught.value.message == says
    assert caught.value.field == "preset_amounts"


def test_every_bad_preset_is_reported_at_once_each_naming_its_item() -> None:
    with pytest.raises(InvalidFields) as caught:
        clinics.parse_presets("abc, -5, 80.00, 80,00, US$20", "aud")
    assert [(p.field, p.message) for p in caught.value.problems] == [
        ("preset_amounts", "Preset amount 'abc': Enter the amount as a number, such as 80.00."),
        ("preset_amounts", "Preset amount '-5': Enter an amount greater than zero."),
        (
            "preset_amounts",
            "Preset amount '80,00': “80,00” is unclear here: write 80.00, with “.” before the cents "
            "(“,” only between thousands).",
        ),
        (
            "preset_amounts",
            "Preset amount 'US$20': “US$20” isn't in Australian dollars, the currency this clinic "
            "charges in. Enter the amount in Australian dollars, such as A$80.00.",
        ),
    ]


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("51 824 753 556", "51 824 753 556"), ("51824753556", "51 824 753 556"), ("", None), (None, None)],
)
def test_a_valid_abn_is_stored_in_its_usual_spacing(typed: str | None, stored: str | None) -> None:
    assert clinics.normalise_abn(typed) == stored


@pytest.mark.parametrize(
    ("typed", "says"),
    [("51 824 753 557", "That ABN isn't valid"), ("1234", "An ABN has 11 digits"), ("5182475355x", "11 digits")],
)
def test_an_abn_with_a_bad_checksum_or_length_is_refused(typed: str, says: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        clinics.normalise_abn(typed)
    assert says in caught.value.message
    assert caught.value.field == "receipt_abn"


async def test_an_admin_saves_settings_and_reads_amounts_with_their_currency(
    client: TestClient[Any, Any], app: web.Application
) -> None:
    admin = await open_session(client, role="team_admin", call=None)
    form = {
        "default_currency": "AUD",
        "preset_amounts": "80.00, 120",
        "receipt_business_name": "Harbour Physio Pty Ltd",
        "receipt_abn": "51824753556",
        "receipt_provider_name": "Dr Ada Lovelace",
        "receipt_provider_number": "2123456A",
        "receipt_address": "1 Harbour St\nSydney NSW 2000",
        "receipt_phone": "+61 2 9999 0000",
        "receipt_footer": "  Thank you  ",
    }
    response = await client.patch("/api/v1/clinic/settings", json=form, headers=bearer(admin))
    assert response.status == 200
    settings = (await response.json())["settings"]
    assert settings["preset_amounts"] == [8000, 12000]
    assert settings["preset_amounts_text"] == "80.00, 120.00"
    assert settings["preset_amounts_display"] == ["A$80.00", "A$120.00"]
    assert settings["receipt_abn"] == "51 824 753 556"
    assert settings["receipt_footer"] == "Thank you"
    response = await client.patch("/api/v1/clinic/settings", json={"receipt_footer": ""}, headers=bearer(admin))
    assert (await response.json())["settings"]["receipt_footer"] is None
    async with app[DB]() as db:
        audits = (await db.scalars(select(AuditEvent).where(AuditEvent.action == "clinic.settings_updated"))).all()
    # aud was already the default currency: only what changed is recorded.
    assert [a.data["fields"] for a in audits] == [sorted(set(form) - {"default_currency"}), ["receipt_footer"]]


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"default_currency": "xyz"}, "default_currency", "'xyz' is not a currency Callpay accepts"),
        ({"receipt_abn": "51 824 753 557"}, "receipt_abn", "That ABN isn't valid"),
        ({"receipt_phone": "call me"}, "receipt_phone", "Enter the phone number with digits"),
        ({"receipt_footer": "x" * 1001}, "receipt_footer", "Keep this to 1000 characters or fewer."),
        ({"colour": "blue"}, "colour", "'colour' is not a clinic setting."),
        ({"receipt_business_name": 7}, "receipt_business_name", "Enter this as text."),
        # A line break can't go into the receipt email's From or Subject: it would never be sent.
        ({"receipt_business_name": "Harbour\nPhysio"}, "receipt_business_name", "Keep this on one line."),
        ({"receipt_provider_name": "Dr\rAda"}, "receipt_provider_name", "Keep this on one line."),
        ({"receipt_footer": "Thanks\x07"}, "receipt_footer", "hidden control or direction characters"),
    ],
)
async def test_bad_settings_are_refused_with_the_field_and_nothing_changes(
    client: TestClient[Any, Any], body: dict[str, Any], field: str, says: str
) -> None:
    admin = await open_session(client, role="team_admin", call=None)
    response = await client.patch(
        "/api/v1/clinic/settings", json={"receipt_business_name": "Changed", **body}, headers=bearer(admin)
    )
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["field"] == field
    assert says in error["message"]
    config = await (await client.get("/api/v1/clinic", headers=bearer(admin))).json()
    assert config["settings"]["receipt_business_name"] is None


async def test_every_bad_field_and_preset_is_reported_at_once_and_nothing_changes(
    client: TestClient[Any, Any],
) -> None:
    admin = await open_session(client, role="team_admin", call=None)
    body = {
        "receipt_business_name": "Changed",
        "receipt_phone": "call me",
        "preset_amounts": "abc, -5, 120",
        "receipt_abn": "51 824 753 557",
        "confirm_above": "80,00",
        "colour": "blue",
    }
    response = await client.patch("/api/v1/clinic/settings", json=body, headers=bearer(admin))
    assert response.status == 400
    error = (await response.json())["error"]
    # The first problem in the page's order leads; every problem is listed, the form's order kept.
    assert error["field"] == "colour"
    assert [(e["field"], e["message"].split(":")[0]) for e in error["errors"]] == [
        ("colour", "'colour' is not a clinic setting."),
        ("preset_amounts", "Preset amount 'abc'"),
        ("preset_amounts", "Preset amount '-5'"),
        ("confirm_above", "“80,00” is unclear here"),
        ("receipt_abn", "That ABN isn't valid"),
        ("receipt_phone", "Enter the phone number with digits, spaces, + ( ) or - only."),
    ]
    assert error["message"] == "6 entries need fixing."
    config = await (await client.get("/api/v1/clinic", headers=bearer(admin))).json()
    assert config["settings"]["receipt_business_name"] is None


async def test_confirm_above_defaults_to_a500_and_is_read_like_any_amount(client: TestClient[Any, Any]) -> None:
    admin = await open_session(client, role="team_admin", call=None)
    settings = (await (await client.get("/api/v1/clinic", headers=bearer(admin))).json())["settings"]
    assert (settings["confirm_above"], settings["confirm_above_display"]) == (50000, "A$500.00")
    response = await client.patch("/api/v1/clinic/settings", json={"confirm_above": "A$1,200"}, headers=bearer(admin))
    settings = (await response.json())["settings"]
    assert (settings["confirm_above"], settings["confirm_above_text"]) == (120000, "1200.00")
    # A new currency changes what the stored amount means: it has to be entered again.
    response = await client.patch("/api/v1/clinic/settings", json={"default_currency": "jpy"}, headers=bearer(admin))
    assert (await response.json())["error"]["field"] == "confirm_above"
    response = await client.patch(
        "/api/v1/clinic/settings", json={"default_currency": "jpy", "confirm_above": ""}, headers=bearer(admin)
    )
    assert (await response.json())["settings"]["confirm_above_display"] == "¥500"


async def test_a_clinic_that_writes_decimal_commas_sets_presets_that_way(client: TestClient[Any, Any]) -> None:
    admin = await open_session(client, role="team_admin", call=None)
    response = await client.patch(
        "/api/v1/clinic/settings",
        json={"locale": "de-DE", "default_currency": "eur", "preset_amounts": "80,00; 1.234,50"},
        headers=bearer(admin),
    )
    settings = (await response.json())["settings"]
    assert settings["locale"] == "de-DE"
    assert settings["preset_amounts"] == [8000, 123450]
    assert settings["preset_amounts_text"] == "80,00, 1234,50"
    assert settings["preset_amounts_display"] == ["80,00\u00a0€", "1.234,50\u00a0€"]
    response = await client.patch("/api/v1/clinic/settings", json={"locale": "xx-QQ"}, headers=bearer(admin))
    assert (await response.json())["error"]["field"] == "locale"


async def test_an_empty_update_says_what_can_be_sent(client: TestClient[Any, Any]) -> None:
    admin = await open_session(client, role="team_admin", call=None)
    response = await client.patch("/api/v1/clinic/settings", json={}, headers=bearer(admin))
    assert response.status == 400
    message = (await response.json())["error"]["message"]
    assert message.startswith("Nothing to change: send at least one of ")
    assert "default_currency" in message and "confirm_above" in message


async def test_the_org_switch_is_audited_tells_clinicians_live_and_stops_payments(
    client: TestClient[Any, Any], app: web.Application, published: RecordingPublisher
) -> None:
    clinician = await open_session(client, role="team_member", clinic="clinic-a")
    boss = await open_session(client, role="org_admin", clinic=None, call=None, sub="boss")
    async with app[DB].begin() as db:
        clinic = await db.scalar(select(Clinic).where(Clinic.external_id == "clinic-a"))
        assert clinic is not None
        clinic.stripe_account_id, clinic.stripe_charges_enabled = "acct_test_a", True
        clinic_id = clinic.id
    async with app[DB]() as db:
        assert (await clinics.require_payments_available(db, clinic_id)).id == clinic_id

    response = await client.patch("/api/v1/org/clinics/clinic-a", json={"addon_enabled": False}, headers=bearer(boss))
    assert response.status == 200
    assert (await response.json())["status"]["reason_code"] == "addon_disabled"
    assert (await response.json())["status"]["reason"] == "Callpay is off for this clinic."  # words for the org admin
    # Saying it again changes nothing, audits nothing and tells nobody.
    await client.patch("/api/v1/org/clinics/clinic-a", json={"addon_enabled": False}, headers=bearer(boss))
    [event] = published.of("clinic_status")
    assert event.room == f"clinic:{clinic_id}:staff"
    [told_patients] = published.of("payments_available")
    assert told_patients.room == f"clinic:{clinic_id}:patients"
    assert told_patients.data == {"payments_available": False, "reason": clinics.PATIENT_UNAVAILABLE}
    assert event.data == {
        "clinic": "clinic-a",
        "payments_available": False,
        "reason_code": "addon_disabled",
        "reason": clinics.reason_words("addon_disabled"),
    }
    status = await (await client.get("/api/v1/clinic/status", headers=bearer(clinician))).json()
    assert status == event.data
    async with app[DB]() as db:
        with pytest.raises(PaymentsUnavailable) as caught:
            await clinics.require_payments_available(db, clinic_id, audience="staff")
        assert caught.value.code == "addon_disabled"
        assert "Ask your organisation admin" in caught.value.message
        # Told to a patient (the default): what happens next, and nothing about the clinic's settings.
        with pytest.raises(PaymentsUnavailable) as caught:
            await clinics.require_payments_available(db, clinic_id)
        assert caught.value.code == "payments_unavailable"
        assert caught.value.message == clinics.PATIENT_UNAVAILABLE
        actions = (await db.scalars(select(AuditEvent.action))).all()
    assert actions == ["clinic.addon_disabled"]

    await client.patch("/api/v1/org/clinics/clinic-a", json={"addon_enabled": True}, headers=bearer(boss))
    assert [e.data["payments_available"] for e in published.of("clinic_status")] == [False, True]


@pytest.mark.parametrize("value", ["no", None, 1])
async def test_the_org_switch_needs_true_or_false(client: TestClient[Any, Any], value: object) -> None:
    await open_session(client, role="team_admin", clinic="clinic-a", call=None)
    boss = await open_session(client, role="org_admin", clinic=None, call=None, sub="boss")
    response = await client.patch("/api/v1/org/clinics/clinic-a", json={"addon_enabled": value}, headers=bearer(boss))
    assert response.status == 400
    assert (await response.json())["error"]["field"] == "addon_enabled"


def test_each_reason_payments_are_unavailable_is_told_in_order() -> None:
    clinic = Clinic(external_id="c", addon_enabled=True, stripe_account_id=None, stripe_charges_enabled=False)
    assert clinics.clinic_status(clinic).reason_code == "no_stripe_account"
    clinic.stripe_account_id = "acct_1"
    assert clinics.clinic_status(clinic).reason_code == "charges_disabled"
    clinic.stripe_charges_enabled = True
    assert clinics.clinic_status(clinic).payments_available is True
    clinic.addon_enabled = False
    assert clinics.clinic_status(clinic).reason_code == "addon_disabled"


@pytest.mark.parametrize("code", ["addon_disabled", "no_stripe_account", "charges_disabled"])
def test_each_reason_has_words_for_each_audience(code: str) -> None:
    staff, org_admin, patient = (clinics.reason_words(code, audience) for audience in ("staff", "org_admin", "patient"))
    assert patient == clinics.PATIENT_UNAVAILABLE
    # A patient is never sent to the clinic's settings; nobody is told "yet" about an account that may be gone.
    assert "Configure" not in patient and "admin" not in patient
    assert "Ask your organisation admin" not in org_admin  # the org admin is that admin
    assert "hasn't linked a Stripe account yet" not in staff


async def test_a_new_currency_asks_for_the_presets_again_rather_than_rescaling_them(
    client: TestClient[Any, Any],
) -> None:
    admin = await open_session(client, role="team_admin", call=None)
    saved = await client.patch("/api/v1/clinic/settings", json={"preset_amounts": "80.00, 120"}, headers=bearer(admin))
    assert saved.status == 200
    # Alone, a currency change would turn A$80.00 into ¥8,000: refused, naming the presets.
    response = await client.patch("/api/v1/clinic/settings", json={"default_currency": "jpy"}, headers=bearer(admin))
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["field"] == "preset_amounts"
    assert "enter them again in the new currency" in error["message"]
    response = await client.patch(
        "/api/v1/clinic/settings",
        json={"default_currency": "jpy", "preset_amounts": "8000, 12000"},
        headers=bearer(admin),
    )
    assert response.status == 200
    assert (await response.json())["settings"]["preset_amounts_display"] == ["¥8,000", "¥12,000"]
    # The same currency again, or a change with no presets set, needs nothing more.
    response = await client.patch("/api/v1/clinic/settings", json={"default_currency": "jpy"}, headers=bearer(admin))
    assert response.status == 200


async def test_an_address_keeps_its_lines(client: TestClient[Any, Any]) -> None:
    admin = await open_session(client, role="team_admin", call=None)
    response = await client.patch(
        "/api/v1/clinic/settings", json={"receipt_address": "1 Harbour St\r\nSydney NSW 2000"}, headers=bearer(admin)
    )
    assert response.status == 200
    assert (await response.json())["settings"]["receipt_address"] == "1 Harbour St\nSydney NSW 2000"
