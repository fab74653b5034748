"""A clinic as its staff see it: whether it can take payments (and why not), its payment settings, and the org
admin's on/off switch for the add-on.

``clinic_status`` is the one definition of the ``clinic_status`` realtime payload; every sender (this module, the
Connect service, the Stripe event handlers and the realtime package on connect) builds it here so clinicians'
Request payment tool is enabled or disabled with the same reason everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from addon import audit, dates, money
from addon.auth.access import clinic_for_admin, require_role
from addon.auth.roles import STAFF, Role
from addon.auth.sessions import Principal
from addon.dbutil import get_by_id
from addon.errors import InvalidFields, InvalidInput, NotFound, PaymentsUnavailable
from addon.models import Clinic, ClinicNotice, ClinicStripeAccount, Organisation, iso_utc
from addon.outbound import Outbound, clinic_patients_room, clinic_staff_room
from addon.services import account_health, amounts, card_settings, link_settings
from addon.settings import ONBOARDING_WAYS, STRIPE_DASHBOARD_BASE, Settings
from addon.wire import clinic as wire
from addon.wire.base import Outgoing

Audience = Literal["staff", "org_admin", "patient"]
# Why a clinic can't take payments, in the words each audience can act on: staff (clinicians and clinic admins) are
# told who can fix it, the org admin is told what their switch does, and a patient, who can fix none of it, is told
# only what happens next. This table is the one place those words live.
PATIENT_UNAVAILABLE = "The clinic can't take card payments right now. Your clinician will tell you how to pay."
REASON_WORDS: dict[str, dict[Audience, str]] = {
    "addon_disabled": {
        "staff": "Payments are turned off for this clinic. Ask your organisation admin to turn Callpay on for it.",
        "org_admin": "Callpay is off for this clinic.",
        "patient": PATIENT_UNAVAILABLE,
    },
    "no_stripe_account": {
        "staff": "This clinic has no linked Stripe account. A clinic admin can link one in Configure > Client "
        "Payments.",
        "org_admin": "Callpay is on, but no Stripe account is linked. A clinic admin can link one in Configure > "
        "Client Payments.",
        "patient": PATIENT_UNAVAILABLE,
    },
    "charges_disabled": {
        "staff": "The clinic's Stripe account can't take payments yet. A clinic admin needs to finish setting it up "
        "in Stripe.",
        "org_admin": "Callpay is on, but the clinic's Stripe account can't take payments until a clinic admin "
        "finishes setting it up in Stripe.",
        "patient": PATIENT_UNAVAILABLE,
    },
}
MAX_PRESETS = 8
TEXT_LIMITS = {
    "receipt_business_name": 200,
    "receipt_provider_name": 200,
    "receipt_provider_number": 50,
    "receipt_address": 500,
    "receipt_phone": 50,
    "receipt_footer": 1000,
    "receipt_gst_line": 200,
}
# The address and footer are written on several lines of a receipt; the rest also go into an email's From and
# Subject, where a line break can't be sent.
MULTILINE_FIELDS = frozenset({"receipt_address", "receipt_footer"})
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# The payment centre's: the clinic's time zone, and whether (and for how long) clinicians may refund their own.
CENTRE_FIELDS = frozenset({"timezone", "clinician_refunds", "clinician_refund_window_hours"})
# Privacy: off by default, so Stripe never holds what the clinician typed unless the clinic says so.
PRIVACY_FIELDS = frozenset({"share_description_with_stripe"})
MAX_REFUND_WINDOW_HOURS = 24 * 30
SETTING_FIELDS = frozenset(
    {
        "locale", "default_currency", "preset_amounts", "confirm_above", "receipt_abn", *TEXT_LIMITS, *CENTRE_FIELDS,
        *PRIVACY_FIELDS, *link_settings.FIELDS, *card_settings.FIELDS,
    }
)  # fmt: skip
# The order Configure > Client Payments shows the settings in.
FORM_ORDER = (
    "locale",
    "default_currency",
    "preset_amounts",
    "confirm_above",
    "receipt_business_name",
    "receipt_abn",
    "receipt_provider_name",
    "receipt_provider_number",
    "receipt_address",
    "receipt_phone",
    "receipt_gst_line",
    "receipt_footer",
    "timezone",
    "clinician_refunds",
    "clinician_refund_window_hours",
    "share_description_with_stripe",
    *link_settings.FIELDS,
    *card_settings.FIELDS,
)
# How numbers may be written, offered on the settings page; the API takes any BCP 47 tag CLDR knows.
LOCALES = ("en-AU", "en-NZ", "en-GB", "en-US", "en-CA", "en-IE", "en-SG", "de-DE", "fr-FR", "ja-JP")
ABN_WEIGHTS = (10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19)
PHONE = re.compile(r"^[0-9 +()\-]{6,30}$")


# --- Whether payments are possible --------------------------------------------------------------------------


def reason_words(code: str, audience: Audience = "staff") -> str:
    """Why payments are unavailable (``code`` as in ``reason_code``), worded for ``audience``."""
    return REASON_WORDS[code][audience]


def unavailable_reason(clinic: Clinic) -> wire.ReasonCode | None:
    """The reason code (a key of REASON_WORDS) why the clinic can't take payments, or None when it can. First
    cause wins."""
    if not clinic.addon_enabled:
        return "addon_disabled"
    if not clinic.stripe_account_id:
        return "no_stripe_account"
    if not clinic.stripe_charges_enabled:
        return "charges_disabled"
    return None


def clinic_status(clinic: Clinic, audience: Audience = "staff") -> wire.ClinicStatus:
    """The ``clinic_status`` realtime payload (and the body of ``GET /api/v1/clinic/status``)."""
    reason = unavailable_reason(clinic)
    return wire.ClinicStatus(
        clinic=clinic.external_id,
        payments_available=reason is None,
        reason_code=reason,
        reason=reason_words(reason, audience) if reason else None,
    )


def patient_status(clinic: Clinic) -> wire.PaymentsAvailable:
    """The ``payments_available`` realtime payload: all a patient may know of it, with words meant for them."""
    reason = unavailable_reason(clinic)
    return wire.PaymentsAvailable(
        payments_available=reason is None, reason=reason_words(reason, "patient") if reason else None
    )


def status_event(clinic: Clinic) -> Outbound:
    return Outbound(event="clinic_status", room=clinic_staff_room(clinic.id), data=clinic_status(clinic))


def status_events(clinic: Clinic) -> list[Outbound]:
    """What a change in whether the clinic can take payments tells its staff, and the patients in its calls."""
    return [
        status_event(clinic),
        Outbound(event="payments_available", room=clinic_patients_room(clinic.id), data=patient_status(clinic)),
    ]


async def require_payments_available(db: AsyncSession, clinic_id: int, *, audience: Audience = "patient") -> Clinic:
    """The clinic, if it can take payments now; otherwise :class:`PaymentsUnavailable` with a reason to show.

    The reason is in a patient's words unless the caller says it speaks to staff: words that tell nobody what to
    fix in the clinic's settings are the safe ones to show anyone.
    """
    return require_available(await db.get(Clinic, clinic_id), audience=audience)


def require_available(clinic: Clinic | None, *, audience: Audience = "patient") -> Clinic:
    """:func:`require_payments_available` for a clinic the caller has read (None: there is no such clinic)."""
    if clinic is None:
        raise NotFound("That clinic doesn't exist.")
    reason = unavailable_reason(clinic)
    if reason is not None:
        code = reason if audience != "patient" else PaymentsUnavailable.code
        raise PaymentsUnavailable(reason_words(reason, audience), code=code)
    return clinic


async def status_for(db: AsyncSession, principal: Principal) -> wire.ClinicStatus:
    """What any staff member of the session's clinic may know: can this clinic take payments now?"""
    require_role(principal, STAFF, what="see the clinic's payment status")
    if principal.clinic_id is None:
        raise NotFound("Choose a clinic first.")
    clinic = await get_by_id(db, Clinic, principal.clinic_id)
    if clinic is None:
        raise NotFound("That clinic doesn't exist.")
    return clinic_status(clinic)


async def patient_status_for(db: AsyncSession, principal: Principal) -> wire.PaymentsAvailable | None:
    """What a patient in one of the clinic's calls may know: can they pay by card now? None outside a clinic."""
    clinic = await get_by_id(db, Clinic, principal.clinic_id) if principal.clinic_id is not None else None
    return patient_status(clinic) if clinic is not None else None


# --- Configure > Client Payments ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountOptions:
    """What the platform's settings say about clinics' Stripe accounts: the ways offered to link one, and where
    the Stripe dashboard is."""

    ways: tuple[str, ...] = ONBOARDING_WAYS
    dashboard_base: str = STRIPE_DASHBOARD_BASE

    @classmethod
    def from_settings(cls, settings: Settings) -> AccountOptions:
        return cls(ways=settings.stripe_onboarding, dashboard_base=settings.stripe_dashboard_base)


# Countries a new account can be made in, as Stripe's hosted onboarding offers them; the clinic chooses.
ACCOUNT_COUNTRIES = {
    "AU": "Australia",
    "NZ": "New Zealand",
    "GB": "United Kingdom",
    "IE": "Ireland",
    "US": "United States",
    "CA": "Canada",
    "SG": "Singapore",
}


def stripe_dashboard_url(account_id: str, *, livemode: bool, base: str = STRIPE_DASHBOARD_BASE) -> str:
    # Standard accounts edit their own details in their own Stripe dashboard; the account id selects it.
    return f"{base}/{account_id}" + ("" if livemode else "/test") + "/settings/account"


def settings_json(clinic: Clinic) -> wire.ClinicSettings:
    currency, locale = clinic.default_currency, clinic.locale
    threshold = amounts.confirm_above(clinic, currency)
    return wire.ClinicSettings(
        locale=locale,
        default_currency=currency,
        preset_amounts=list(clinic.preset_amounts),
        # Amounts as people type them, and as they read them, so the page never formats money itself.
        preset_amounts_text=", ".join(money.format_typed(amount, currency, locale) for amount in clinic.preset_amounts),
        preset_amounts_display=[money.format_amount(amount, currency, locale) for amount in clinic.preset_amounts],
        confirm_above=threshold,
        confirm_above_text=money.format_typed(threshold, currency, locale),
        confirm_above_display=money.format_amount(threshold, currency, locale),
        receipt_business_name=clinic.receipt_business_name,
        receipt_abn=clinic.receipt_abn,
        receipt_provider_name=clinic.receipt_provider_name,
        receipt_provider_number=clinic.receipt_provider_number,
        receipt_address=clinic.receipt_address,
        receipt_phone=clinic.receipt_phone,
        receipt_footer=clinic.receipt_footer,
        receipt_gst_line=clinic.receipt_gst_line,
        timezone=clinic.timezone,
        clinician_refunds=clinic.clinician_refunds,
        clinician_refund_window_hours=clinic.clinician_refund_window_hours,
        share_description_with_stripe=clinic.share_description_with_stripe,
        **link_settings.settings_json(clinic),
        **card_settings.settings_json(clinic),
    )


def stripe_json(clinic: Clinic, options: AccountOptions | None = None) -> wire.StripeAccount | None:
    if not clinic.stripe_account_id:
        return None
    options = options or AccountOptions()
    return wire.StripeAccount(
        account_id=clinic.stripe_account_id,
        name=clinic.stripe_account_name,
        country=clinic.stripe_country,
        default_currency=clinic.stripe_default_currency,
        charges_enabled=clinic.stripe_charges_enabled,
        livemode=clinic.stripe_livemode,
        connected_at=iso_utc(clinic.stripe_connected_at),
        dashboard_url=stripe_dashboard_url(
            clinic.stripe_account_id, livemode=clinic.stripe_livemode, base=options.dashboard_base
        ),
        kind="hosted" if clinic.stripe_account_kind == "hosted" else "oauth",
        # Only an account the platform made can be sent to Stripe's hosted onboarding; the clinic's own account
        # (linked through OAuth) is finished in its own Stripe dashboard.
        finish_on_stripe=clinic.stripe_account_kind == "hosted",
        health=account_health.health_json(clinic),
    )


async def previous_accounts(db: AsyncSession, clinic: Clinic) -> list[wire.PreviousAccount]:
    """Accounts this clinic had linked before and could link again, latest first (none while one is linked, and
    never one another clinic has linked since)."""
    if clinic.stripe_account_id:
        return []
    rows = (
        await db.scalars(
            select(ClinicStripeAccount)
            .where(ClinicStripeAccount.clinic_id == clinic.id, ClinicStripeAccount.unlinked_at.is_not(None))
            .order_by(ClinicStripeAccount.unlinked_at.desc(), ClinicStripeAccount.id.desc())
        )
    ).all()
    taken = set(
        (
            await db.scalars(
                select(Clinic.stripe_account_id).where(Clinic.stripe_account_id.in_([r.account_id for r in rows]))
            )
        ).all()
    )
    return [
        wire.PreviousAccount(
            account_id=row.account_id,
            name=row.name,
            kind="hosted" if row.kind == "hosted" else "oauth",
            linked_until=iso_utc(row.unlinked_at),
        )
        for row in rows
        if row.account_id not in taken
    ]


async def onboarding_json(db: AsyncSession, clinic: Clinic, options: AccountOptions) -> wire.Onboarding:
    return wire.Onboarding(
        ways=[way for way in ("oauth", "hosted") if way in options.ways],
        previous_accounts=await previous_accounts(db, clinic),
        countries=[wire.Country(code=code, name=name) for code, name in ACCOUNT_COUNTRIES.items()],
    )


async def config_json(db: AsyncSession, clinic: Clinic, options: AccountOptions | None = None) -> wire.ClinicConfig:
    """Everything Configure > Client Payments shows."""
    options = options or AccountOptions()
    notices = (
        await db.scalars(
            select(ClinicNotice)
            .where(ClinicNotice.clinic_id == clinic.id, ClinicNotice.dismissed_at.is_(None))
            .order_by(ClinicNotice.created_at.desc(), ClinicNotice.id.desc())
        )
    ).all()
    return wire.ClinicConfig(
        clinic=wire.ClinicRef(id=clinic.external_id, name=clinic.name, addon_enabled=clinic.addon_enabled),
        status=clinic_status(clinic),
        stripe=stripe_json(clinic, options),
        onboarding=await onboarding_json(db, clinic, options),
        settings=settings_json(clinic),
        currencies=sorted(money.SUPPORTED),
        locales=sorted({*LOCALES, clinic.locale}),
        # The payment centre's zone choices: the usual ones, and the clinic's own if it chose another.
        timezones=sorted({*dates.COMMON_TIMEZONES, clinic.timezone}),
        notices=[
            wire.Notice(id=n.id, kind=n.kind, message=n.message, created_at=iso_utc(n.created_at))
            for n in notices
        ],
    )


async def config_for(
    db: AsyncSession, principal: Principal, options: AccountOptions | None = None
) -> wire.ClinicConfig:
    clinic = await clinic_for_admin(db, principal)
    return await config_json(db, clinic, options)


async def update_settings(
    db: AsyncSession, principal: Principal, body: Mapping[str, Any], options: AccountOptions | None = None
) -> wire.ClinicConfig:
    """Apply a partial update of the clinic's payment settings; every field is checked before anything changes."""
    clinic = await clinic_for_admin(db, principal)
    changes = parse_settings(
        body,
        current_currency=clinic.default_currency,
        has_presets=bool(clinic.preset_amounts),
        current_locale=clinic.locale,
        has_confirm_above=clinic.confirm_above is not None,
        current_links=link_settings.settings_json(clinic),
        current_cards=card_settings.settings_json(clinic),
    )
    if not changes:
        raise InvalidInput("Nothing to change: send at least one of " + ", ".join(sorted(SETTING_FIELDS)) + ".")
    before = {key: getattr(clinic, key) for key in changes}
    for key, value in changes.items():
        setattr(clinic, key, value)
    changed = {key: value for key, value in changes.items() if before[key] != value}
    if changed:
        audit.record(
            db,
            "clinic.settings_updated",
            actor=principal,
            organisation_id=clinic.organisation_id,
            clinic_id=clinic.id,
            subject_type="clinic",
            subject_id=clinic.external_id,
            data={"fields": sorted(changed)},
        )
    await db.flush()
    return await config_json(db, clinic, options)


def parse_settings(
    body: Mapping[str, Any],
    *,
    current_currency: str,
    has_presets: bool = False,
    current_locale: str = money.DEFAULT_LOCALE,
    has_confirm_above: bool = False,
    current_links: Mapping[str, Any] | None = None,
    current_cards: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The changes ``body`` asks for, every field checked: all the problems found are raised together
    (:class:`InvalidFields`), so the page can mark each field and each bad preset at once."""
    problems: list[InvalidInput] = []
    changes: dict[str, Any] = {}

    def check(key: str, parse: Callable[[], Any]) -> None:
        try:
            changes[key] = parse()
        except InvalidFields as exc:
            problems.extend(exc.problems)
        except InvalidInput as exc:
            problems.append(exc)

    problems.extend(
        InvalidInput(f"'{key}' is not a clinic setting.", field=key) for key in sorted(set(body) - SETTING_FIELDS)
    )
    if "locale" in body:
        check("locale", lambda: money.normalise_locale(body["locale"]))
    locale = changes.get("locale", current_locale)
    if "default_currency" in body:
        check("default_currency", lambda: money.normalise_currency(body["default_currency"], field="default_currency"))
    currency = changes.get("default_currency", current_currency)
    if currency != current_currency:
        # Amounts are stored in minor units of the old currency: A$80.00 would silently become ¥8,000.
        if has_presets and "preset_amounts" not in body:
            problems.append(
                InvalidInput(
                    "A new currency changes what the preset amounts mean: enter them again in the new currency.",
                    field="preset_amounts",
                )
            )
        if has_confirm_above and "confirm_above" not in body:
            problems.append(
                InvalidInput(
                    "A new currency changes what this amount means: enter it again in the new currency.",
                    field="confirm_above",
                )
            )
    if "preset_amounts" in body:
        check("preset_amounts", lambda: parse_presets(body["preset_amounts"], currency, locale=locale))
    if "confirm_above" in body:
        check("confirm_above", lambda: parse_confirm_above(body["confirm_above"], currency, locale=locale))
    if "receipt_abn" in body:
        check("receipt_abn", lambda: normalise_abn(body["receipt_abn"]))
    for key, limit in TEXT_LIMITS.items():
        if key in body:
            check(key, lambda key=key, limit=limit: _text(body[key], key, limit))  # type: ignore[misc]
    if "timezone" in body:
        check("timezone", lambda: dates.parse_timezone(body["timezone"]))
    if "clinician_refunds" in body:
        check("clinician_refunds", lambda: parse_clinician_refunds(body["clinician_refunds"]))
    if "clinician_refund_window_hours" in body:
        check("clinician_refund_window_hours", lambda: parse_refund_window(body["clinician_refund_window_hours"]))
    if "share_description_with_stripe" in body:
        check("share_description_with_stripe", lambda: parse_share_description(body["share_description_with_stripe"]))
    if changes.get("receipt_phone") and not PHONE.match(changes["receipt_phone"]):
        problems.append(
            InvalidInput("Enter the phone number with digits, spaces, + ( ) or - only.", field="receipt_phone")
        )
    link_changes, link_problems = link_settings.parse(
        body, currency=currency, locale=locale, current=current_links or {}
    )
    changes.update(link_changes)
    problems.extend(link_problems)
    card_changes, card_problems = card_settings.parse(
        body, currency=currency, locale=locale, currency_changed=currency != current_currency,
        current=current_cards or {},
    )  # fmt: skip
    changes.update(card_changes)
    problems.extend(card_problems)
    if problems:
        raise InvalidFields.of(_in_form_order(problems))
    return changes


def parse_clinician_refunds(value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput("Say true or false: may clinicians refund their own payments?", field="clinician_refunds")
    return value


def parse_share_description(value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(SHARE_DESCRIPTION_WORDS, field="share_description_with_stripe")
    return value


SHARE_DESCRIPTION_WORDS = "Say true or false: may Stripe see what each payment is for?"


def parse_refund_window(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_REFUND_WINDOW_HOURS:
        raise InvalidInput(
            f"Give the window in whole hours, from 1 to {MAX_REFUND_WINDOW_HOURS} (30 days).",
            field="clinician_refund_window_hours",
        )
    return value


def _in_form_order(problems: list[InvalidInput]) -> list[InvalidInput]:
    # The order the page shows the fields in, so the first problem reported is the first a person meets.
    order = {name: index for index, name in enumerate(FORM_ORDER)}
    return sorted(problems, key=lambda problem: order.get(problem.field or "", -1))


def parse_presets(value: object, currency: str, *, locale: str = money.DEFAULT_LOCALE) -> list[int]:
    """Preset amounts typed as "80.00, 120" (or sent as a list) → sorted, distinct minor units. Every bad item is
    reported at once (:class:`InvalidFields`), each naming the item."""
    field = "preset_amounts"
    if value is None or value == "":
        return []
    if isinstance(value, str):
        # A comma is also a thousands separator ("1,250.50"), so list items are split on ", " or ";" only.
        items: list[object] = [item.strip() for item in re.split(r"[;\n]|,\s+", value) if item.strip()]
    elif isinstance(value, list):
        items = list(value)
    else:
        raise InvalidInput('Enter preset amounts separated by commas, such as "80.00, 120".', field=field)
    problems: list[InvalidInput] = []
    if len(items) > MAX_PRESETS:
        problems.append(InvalidInput(f"Enter at most {MAX_PRESETS} preset amounts.", field=field))
    amounts: set[int] = set()
    for item in items:
        try:
            amounts.add(money.parse_amount(item, currency, field=field, locale=locale))
        except InvalidInput as exc:
            problems.append(InvalidInput(f"Preset amount '{item}': {exc.message}", field=field, code=exc.code))
    if problems:
        raise InvalidFields.of(problems)
    return sorted(amounts)


def parse_confirm_above(value: object, currency: str, *, locale: str = money.DEFAULT_LOCALE) -> int | None:
    """The "confirm requests above" amount, typed like any amount; empty goes back to the default."""
    if value is None or value == "":
        return None
    return money.parse_amount(value, currency, field="confirm_above", locale=locale)


def normalise_abn(value: object) -> str | None:
    """An Australian Business Number with a valid checksum, written "51 824 753 556"; empty clears it."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput("Enter the ABN as 11 digits, such as 51 824 753 556.", field="receipt_abn")
    digits = re.sub(r"[\s-]", "", value)
    if not digits:
        return None
    if not (digits.isascii() and digits.isdigit() and len(digits) == 11):
        raise InvalidInput("An ABN has 11 digits, such as 51 824 753 556.", field="receipt_abn")
    if not abn_checksum_ok(digits):
        raise InvalidInput("That ABN isn't valid: check the digits against the ABN Lookup.", field="receipt_abn")
    return f"{digits[:2]} {digits[2:5]} {digits[5:8]} {digits[8:]}"


def abn_checksum_ok(digits: str) -> bool:
    # The ATO's rule: subtract 1 from the first digit, weight each digit, and the sum must divide by 89.
    numbers = [int(d) for d in digits]
    numbers[0] -= 1
    return sum(w * n for w, n in zip(ABN_WEIGHTS, numbers, strict=True)) % 89 == 0


# --- Org admin: the add-on on or off per clinic ------------------------------------------------------------


def org_clinic_json(clinic: Clinic) -> wire.OrgClinic:
    return wire.OrgClinic(
        id=clinic.external_id,
        name=clinic.name,
        addon_enabled=clinic.addon_enabled,
        stripe_connected=bool(clinic.stripe_account_id),
        stripe_account_name=clinic.stripe_account_name,
        status=clinic_status(clinic, "org_admin"),
    )


async def org_clinics(db: AsyncSession, principal: Principal) -> wire.OrgClinics:
    require_role(principal, {Role.ORG_ADMIN}, what="manage the organisation's clinics")
    org = await db.get_one(Organisation, principal.organisation_id)
    clinics = (
        await db.scalars(
            select(Clinic).where(Clinic.organisation_id == principal.organisation_id).order_by(Clinic.external_id)
        )
    ).all()
    return wire.OrgClinics(
        org=wire.OrgRef(id=org.external_id, name=org.name), clinics=[org_clinic_json(c) for c in clinics]
    )


@dataclass(frozen=True)
class Changed:
    body: Outgoing
    events: list[Outbound]


async def set_addon_enabled(db: AsyncSession, principal: Principal, clinic_external_id: str, enabled: bool) -> Changed:
    """Turn the add-on on or off for one of the org admin's clinics, audit-logged, telling its staff live."""
    require_role(principal, {Role.ORG_ADMIN}, what="turn Callpay on or off for a clinic")
    clinic = await db.scalar(
        select(Clinic).where(
            Clinic.organisation_id == principal.organisation_id, Clinic.external_id == clinic_external_id
        )
    )
    if clinic is None:
        raise NotFound("That clinic doesn't exist in your organisation.")
    events: list[Outbound] = []
    if clinic.addon_enabled != enabled:
        clinic.addon_enabled = enabled
        audit.record(
            db,
            "clinic.addon_enabled" if enabled else "clinic.addon_disabled",
            actor=principal,
            organisation_id=clinic.organisation_id,
            clinic_id=clinic.id,
            subject_type="clinic",
            subject_id=clinic.external_id,
        )
        await db.flush()
        events.extend(status_events(clinic))
    return Changed(body=org_clinic_json(clinic), events=events)


# --- Helpers -----------------------------------------------------------------------------------------------


def _text(value: object, field: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput("Enter this as text.", field=field)
    text = value.strip()
    if len(text) > limit:
        raise InvalidInput(f"Keep this to {limit} characters or fewer.", field=field)
    if field in MULTILINE_FIELDS:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if CONTROL.search(text):
            raise InvalidInput("Remove the invisible control characters from this.", field=field)
    elif "\n" in text or "\r" in text or CONTROL.search(text):
        raise InvalidInput("Keep this on one line.", field=field)
    return text or None
