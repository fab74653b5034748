"""Configure > Client Payments and the org-admin page: clinic status, settings, the Stripe account."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from addon.wire.base import Currency, Incoming, MinorUnits, Outgoing, Timestamp

ReasonCode = Literal["addon_disabled", "no_stripe_account", "charges_disabled"]


class ClinicStatus(Outgoing):
    """Whether the clinic can take payments now; also the ``clinic_status`` event to its staff."""

    clinic: str
    payments_available: bool
    reason_code: ReasonCode | None
    reason: str | None = Field(description="Why not, worded for staff; safe to show as is")


class PaymentsAvailable(Outgoing):
    """The ``payments_available`` event to patients: all a patient may know of the clinic's status."""

    payments_available: bool
    reason: str | None = Field(description="Why not, worded for a patient")


class ClinicSettings(Outgoing):
    locale: str = Field(description="BCP 47; amounts are read and written in it (en-AU)")
    default_currency: Currency
    preset_amounts: list[MinorUnits]
    preset_amounts_text: str = Field(description='The presets as people type them ("80.00, 120.00")')
    preset_amounts_display: list[str] = Field(description='The presets as people read them ("A$80.00")')
    confirm_above: MinorUnits = Field(description="Requests above this ask the clinician to confirm first")
    confirm_above_text: str
    confirm_above_display: str
    receipt_business_name: str | None
    receipt_abn: str | None = Field(description="Australian Business Number, checksum checked")
    receipt_provider_name: str | None
    receipt_provider_number: str | None
    receipt_address: str | None
    receipt_phone: str | None
    receipt_footer: str | None
    receipt_gst_line: str | None
    timezone: str = Field(description="IANA time zone the clinic's dates are shown in")
    clinician_refunds: bool = Field(description="Clinicians may refund their own payments")
    clinician_refund_window_hours: int = Field(description="For how long after a payment they may")
    share_description_with_stripe: bool = Field(
        description="Stripe is told what each payment is for in the clinician's words (default false: Stripe sees "
        '"Telehealth consultation", the clinic and the receipt number only)'
    )
    # Pay later.
    call_ended_action: Literal["send_link", "keep_unpaid", "cancel"] = Field(
        description="What becomes of a request still unpaid when its call ends (default send_link)"
    )
    link_min_amount: MinorUnits | None = Field(description="The least a patient may choose on a link; null: Stripe's")
    link_min_amount_text: str
    link_max_amount: MinorUnits | None = Field(description="The most a patient may choose on a link; null: no limit")
    link_max_amount_text: str
    link_reminder_hours: int | None = Field(description="A reminder this many hours before expiry; null: off")
    link_notice_email: str | None = Field(description="Where a link's paid and expired notices are emailed; null: none")
    # A card on file.
    saved_cards_enabled: bool = Field(default=False, description="Patients are asked to save a card at join")
    saved_card_policy: str | None = Field(default=None, description="The policy patients agree to when saving one")
    no_show_fee: MinorUnits | None = Field(default=None, description="The no-show fee; null: none")
    no_show_fee_text: str = ""
    no_show_fee_display: str | None = None
    late_cancellation_fee: MinorUnits | None = Field(default=None, description="The late-cancellation fee")
    late_cancellation_fee_text: str = ""
    late_cancellation_fee_display: str | None = None
    clinician_fees: bool = Field(default=False, description="Clinicians may charge the fees, not only clinic admins")
    plan_min_amount: MinorUnits | None = Field(
        default=None, description="A request for more than this may be split into instalments; null: plans off"
    )
    plan_min_amount_text: str = ""
    plan_min_amount_display: str | None = None


class ClinicSettingsPatch(Incoming):
    """``PATCH /api/v1/clinic/settings``: any subset; what is left out stays as it is."""

    unknown_field = "'{field}' is not a clinic setting."
    messages = {
        "locale": "Choose a locale such as en-AU.",
        "default_currency": "Choose a currency such as aud.",
        "confirm_above": "Enter an amount, such as 500.00.",
        "preset_amounts": 'Enter preset amounts separated by commas, such as "80.00, 120".',
        "receipt_abn": "Enter the ABN as 11 digits, such as 51 824 753 556.",
        **{
            name: "Enter this as text."
            for name in (
                "receipt_business_name",
                "receipt_provider_name",
                "receipt_provider_number",
                "receipt_address",
                "receipt_phone",
                "receipt_footer",
                "receipt_gst_line",
                "timezone",
            )
        },
        "clinician_refunds": "Say true or false: may clinicians refund their own payments?",
        "clinician_refund_window_hours": "Give the window in whole hours, from 1 to 720 (30 days).",
        "saved_cards_enabled": "Say true or false: may patients save a card for this clinic?",
        "saved_card_policy": "Enter the policy as text.",
        "no_show_fee": "Enter an amount, such as 50.00.",
        "late_cancellation_fee": "Enter an amount, such as 50.00.",
        "clinician_fees": "Say true or false: may clinicians charge the fees to a saved card?",
        "plan_min_amount": "Enter an amount, such as 300.00, or leave it empty to turn plans off.",
        "share_description_with_stripe": "Say true or false: may Stripe see what each payment is for?",
    }

    locale: str | None = None
    default_currency: str | None = None
    confirm_above: int | str | None = Field(default=None, description="Minor units or text; empty: the default")
    preset_amounts: list[int | str] | str | None = Field(
        default=None, description='Minor units, or text such as "80.00, 120" read in the clinic\'s locale'
    )
    receipt_business_name: str | None = None
    receipt_abn: str | None = None
    receipt_provider_name: str | None = None
    receipt_provider_number: str | None = None
    receipt_address: str | None = None
    receipt_phone: str | None = None
    receipt_footer: str | None = None
    receipt_gst_line: str | None = None
    timezone: str | None = None
    clinician_refunds: bool | None = None
    clinician_refund_window_hours: int | None = None
    share_description_with_stripe: bool | None = None
    call_ended_action: str | None = None
    link_min_amount: int | str | None = None
    link_max_amount: int | str | None = None
    link_reminder_hours: int | str | None = None
    link_notice_email: str | None = None
    saved_cards_enabled: bool | None = None
    saved_card_policy: str | None = None
    no_show_fee: int | str | None = None
    late_cancellation_fee: int | str | None = None
    clinician_fees: bool | None = None
    plan_min_amount: int | str | None = None


class AccountHealth(Outgoing):
    """What Stripe says of the linked account, with what it still needs in plain words (each thing once)."""

    charges_enabled: bool
    payouts_enabled: bool
    details_submitted: bool
    past_due: list[str] = Field(description="Overdue: payments are paused until Stripe has these")
    currently_due: list[str] = Field(description="Needed now, by current_deadline when there is one")
    eventually_due: list[str] = Field(description="Needed later")
    pending_verification: list[str] = Field(description="Given, and being checked by Stripe")
    current_deadline: str | None = Field(description="The date what is due now must be given by")
    disabled_reason: str | None = Field(description="Why Stripe has paused the account, in plain words")
    needs_action: bool = Field(description="Something is due now or overdue")


class StripeAccount(Outgoing):
    account_id: str
    name: str | None
    country: str | None
    default_currency: str | None
    charges_enabled: bool
    livemode: bool
    connected_at: Timestamp | None
    dashboard_url: str = Field(json_schema_extra={"format": "uri"})
    kind: Literal["oauth", "hosted"] = Field(description="The clinic's own, linked through OAuth; or made here")
    finish_on_stripe: bool = Field(description="Stripe's hosted onboarding can be reopened (accounts made here)")
    health: AccountHealth


class PreviousAccount(Outgoing):
    """An account the clinic had linked before, offered to link again."""

    account_id: str
    name: str | None
    kind: Literal["oauth", "hosted"]
    linked_until: Timestamp | None


class Country(Outgoing):
    code: str
    name: str


class Onboarding(Outgoing):
    """The ways the platform offers to link an account (``CALLPAY_STRIPE_ONBOARDING``), and earlier accounts."""

    ways: list[Literal["oauth", "hosted"]]
    previous_accounts: list[PreviousAccount]
    countries: list[Country] = Field(description="Where an account made here can be")


class CreateAccount(Incoming):
    """``POST /api/v1/clinic/stripe/accounts``: make the clinic a Stripe account."""

    messages = {"country": "Choose the country the clinic is in, such as AU."}

    country: str


class Relink(Incoming):
    """``POST /api/v1/clinic/stripe/relink``: link an account the clinic had before."""

    messages = {"account_id": "Say which account to link again."}

    account_id: str


class OnboardingUrl(Outgoing):
    onboarding_url: str = Field(
        description="Single-use, minutes-long address of Stripe's hosted onboarding, to open top-level",
        json_schema_extra={"format": "uri"},
    )


class ClinicRef(Outgoing):
    id: str
    name: str | None
    addon_enabled: bool


class Notice(Outgoing):
    id: int
    kind: str
    message: str
    created_at: Timestamp


class ClinicConfig(Outgoing):
    """Everything Configure > Client Payments shows."""

    clinic: ClinicRef
    status: ClinicStatus
    stripe: StripeAccount | None = Field(description="The linked Stripe account, or null")
    onboarding: Onboarding
    settings: ClinicSettings
    currencies: list[str]
    locales: list[str]
    timezones: list[str] = Field(default_factory=list, description="Time zones offered on the settings page")
    notices: list[Notice]


class AuthorizeUrl(Outgoing):
    authorize_url: str = Field(
        description="Single-use, 10-minute Stripe authorize address, to open top-level",
        json_schema_extra={"format": "uri"},
    )


class OrgRef(Outgoing):
    id: str
    name: str | None


class OrgClinic(Outgoing):
    id: str
    name: str | None
    addon_enabled: bool
    stripe_connected: bool
    stripe_account_name: str | None
    status: ClinicStatus


class OrgClinics(Outgoing):
    org: OrgRef
    clinics: list[OrgClinic]


class AddonSwitch(Incoming):
    messages = {"addon_enabled": 'Send {"addon_enabled": true} or {"addon_enabled": false}.'}

    addon_enabled: bool
