"""A card on file: the patient's offer to save one (and its consent), the card itself, and the fees staff charge
to it without the patient present."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from addon.wire.base import Currency, Incoming, MinorUnits, Outgoing, Timestamp
from addon.wire.common import Person
from addon.wire.links import PaymentLink
from addon.wire.payments import PaymentRequest

SavedCardStatus = Literal["declined", "pending", "active", "removed"]
FeeKind = Literal["no_show", "late_cancellation"]


class SavedCard(Outgoing):
    """A card a patient saved for one clinic, as the patient and the clinic's staff see it (never its number)."""

    id: str
    status: SavedCardStatus
    card: str | None = Field(description='The card in words ("Visa ending in 4242"); null until it is saved')
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    email: str | None = Field(description="Where receipts of charges to it go")
    call: str = Field(description="The call it was saved in (the platform's id)")
    consent_text: str | None = Field(description="The clinic's policy exactly as the patient was shown it")
    consent_at: Timestamp | None = Field(description="When the patient agreed to it")
    consent_display: str | None = Field(description="That date in the clinic's time zone, in words")
    saved_at: Timestamp | None
    removed_at: Timestamp | None
    failure_message: str | None = Field(description="Why the last attempt to save it failed, in the patient's words")


class SavedCardOffer(Outgoing):
    """``GET /api/v1/saved-card``: what the patient widget asks or shows about a card on file."""

    enabled: bool = Field(description="The clinic lets patients save a card")
    ask: bool = Field(description="Ask now: on, nothing saved, and no Not now in this call")
    clinic_name: str
    policy: str | None = Field(description="The clinic's policy, to show before the patient agrees")
    card: SavedCard | None = Field(description="The patient's saved card for this clinic (or the one being saved)")
    email: str | None = Field(
        default=None, description="The patient's own email, to prefill (their launch's, or their last saved card's)"
    )


class SavedCardSetupBody(Incoming):
    """``POST /api/v1/saved-card/setup``: the patient agrees to the policy shown and opens the card fields."""

    messages = {
        "email": "Enter your email address for receipts.",
        "policy": "Send the policy text you were shown.",
        "agree": 'Send {"agree": true} to agree to the clinic\'s policy.',
    }

    email: str
    agree: bool
    policy: Annotated[str, Field(max_length=4000)] = Field(description="The policy exactly as it was shown")


class SavedCardSetup(Outgoing):
    """What Stripe.js needs to confirm the SetupIntent on the clinic's account (``stripe.confirmSetup``)."""

    client_secret: str
    publishable_key: str
    stripe_account: str
    stripe_js_url: str = Field(json_schema_extra={"format": "uri"})
    saved_card: SavedCard


class StaffSavedCard(Outgoing):
    """A saved card in the payment centre: whose, which card, the consent, and the fees it may be charged."""

    id: str
    status: SavedCardStatus
    patient: Person
    card: str | None
    email: str | None
    call: str
    consent_text: str | None
    consent_at: Timestamp | None
    consent_display: str | None
    saved_at: Timestamp | None
    saved_display: str | None
    removed_at: Timestamp | None


class SavedCardsQuery(Incoming):
    status: Literal["active", "removed"] | None = None


class Fee(Outgoing):
    kind: FeeKind
    label: str = Field(description='"No-show fee" or "Late-cancellation fee"')
    amount: MinorUnits
    currency: Currency
    amount_display: str


class SavedCardsPage(Outgoing):
    """``GET /api/v1/saved-cards``: the clinic's saved cards, newest first, and what the caller may charge."""

    data: list[StaffSavedCard]
    fees: list[Fee] = Field(description="The clinic's fees (only those it has set)")
    may_charge: bool = Field(description="The caller may charge them (team admin; clinicians when allowed)")


class ChargeFeeBody(Incoming):
    """``POST /api/v1/saved-cards/{id}/fees``: charge one of the clinic's fees to the card, citing a call."""

    messages = {
        "kind": "Choose no_show or late_cancellation.",
        "call": "Give the call's id as text.",
        "client_ref": "client_ref must be text of at most 100 characters.",
    }

    kind: FeeKind
    call: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        default=None, description="The call the fee is for (the platform's id); default: the call the card was saved in"
    )
    client_ref: Annotated[str, Field(min_length=1, max_length=100)] = Field(
        description="The same reference twice is one charge (a double click, a retry)"
    )


class FeeCharged(Outgoing):
    """What became of a fee: charged to the card, or sent to the patient as a pay-later link."""

    outcome: Literal["paid", "needs_patient"]
    message: str = Field(description="What happened, in words for the staff member who charged it")
    payment_request: PaymentRequest
    payment_link: PaymentLink | None = Field(description="The link sent instead, when the card couldn't be charged")
