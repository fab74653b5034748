"""Pay-later links: made by staff, paid by whoever holds the link, and ``POST …/calls/{call}/ended``."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field

from addon.wire.base import Currency, Incoming, MinorUnits, Outgoing, TimeIn, Timestamp
from addon.wire.common import Person
from addon.wire.payments import PaymentRequest

LinkStatus = Literal["active", "paid", "expired", "canceled"]
Amount = Annotated[int, Field(gt=0)] | str
DateIn = Annotated[date, Field(strict=False)]


class PaymentLink(Outgoing):
    id: str
    clinic: str
    clinician: Person
    status: LinkStatus
    amount: MinorUnits | None = Field(description="null: the patient chooses, between min_amount and max_amount")
    min_amount: MinorUnits | None
    max_amount: MinorUnits | None
    currency: Currency
    description: str
    email: str | None
    name: str | None
    url: str = Field(json_schema_extra={"format": "uri"})
    share_text: str
    expires_at: Timestamp
    created_at: Timestamp
    paid_at: Timestamp | None
    payment_request: str | None = Field(description="The request it was made from, or that records its payment")
    last_reminded_at: Timestamp | None
    # Added (optional to read, always sent): what screens show, so no page formats money or dates itself.
    amount_display: str = Field(description='The amount ("A$80.00"), or the range a patient may choose in')
    expires_display: str = Field(description="The expiry in the clinic's time zone, in words")
    created_display: str = Field(description="When it was made, in the clinic's time zone, in words")
    last_reminded_display: str | None
    canceled_at: Timestamp | None
    expired_at: Timestamp | None
    reminders_sent: int
    origin: Literal["call_ended", "request", "new", "saved_card", "instalment"] = Field(
        description="call_ended: made when its call ended; request: Send link on a request; new: made as it is; "
        "saved_card: sent because a saved card could not be charged without the patient; instalment: an "
        "instalment of a plan, due with no saved card to charge"
    )
    notice: str | None = Field(
        description="Set on the one event that says the link was just paid or expired: the pop-up's words"
    )


class PaymentLinkBody(Incoming):
    """``POST /api/v1/payment-links``. Amounts are minor units, or text read in the clinic's locale."""

    messages = {
        "amount": "Enter an amount, such as 80.00.",
        "min_amount": "Enter the smallest amount the patient may choose, such as 20.00.",
        "max_amount": "Enter the largest amount the patient may choose, such as 200.00.",
        "description": "Say what the payment is for, such as 'Consultation'.",
        "email": "Enter an email address like name@example.com.",
        "expires_at": "Give the expiry as an ISO 8601 time with its offset, such as 2026-01-31T17:00:00+11:00.",
        "client_ref": "client_ref must be text of at most 100 characters.",
    }

    amount: Amount | None = None
    min_amount: Amount | None = None
    max_amount: Amount | None = None
    currency: str | None = None
    description: str
    email: str | None = None
    name: Annotated[str, Field(max_length=200)] | None = None
    expires_at: TimeIn | DateIn | None = Field(
        default=None, description="60 s to 30 days ahead; default 7 days. A date: to the end of that day, clinic time"
    )
    from_request: str | None = Field(default=None, description="The id of an unpaid request to make it from")
    client_ref: Annotated[str, Field(min_length=1, max_length=100)] | None = None


class PaymentLinksQuery(Incoming):
    status: str | None = None
    q: str | None = None
    limit: str | None = None
    cursor: str | None = None


class PaymentLinksPage(Outgoing):
    data: list[PaymentLink]
    next_cursor: str | None
    # Added: how many of the caller's links are in each status (the whole list, not the filter or the page).
    counts: dict[LinkStatus, int]


class PaymentLinkRemindBody(Incoming):
    """``POST /api/v1/payment-links/{id}/remind``: optionally to a new (corrected) address."""

    messages = {"email": "Enter an email address like name@example.com."}

    email: str | None = None


class PublicPaymentLink(Outgoing):
    """``GET /api/v1/pay/{token}``: what the link's holder may see, and no more."""

    status: LinkStatus
    clinic_name: str
    amount: MinorUnits | None
    min_amount: MinorUnits | None
    max_amount: MinorUnits | None
    currency: Currency
    description: str
    expires_at: Timestamp
    paid_at: Timestamp | None
    # Added: what the page shows and prefills.
    amount_display: str
    min_amount_display: str | None
    max_amount_display: str | None
    amount_example: str
    expires_display: str
    email: str | None
    name: str | None
    payment_request: str | None


class PayLinkCheckoutBody(Incoming):
    messages = {
        "email": "Enter your email address for the receipt.",
        "amount": "Enter an amount, such as 80.00.",
    }

    email: str
    amount: Amount | None = None
    name: Annotated[str, Field(max_length=200)] | None = None


class CallEnded(Outgoing):
    """What became of each unpaid request of a call the host platform says is over."""

    payment_requests: list[PaymentRequest]
    payment_links: list[PaymentLink]
