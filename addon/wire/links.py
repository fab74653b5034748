"""Pay-later links: made by staff, paid by whoever holds the link, and ``POST …/calls/{call}/ended``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from addon.wire.base import Currency, Incoming, MinorUnits, Outgoing, TimeIn, Timestamp
from addon.wire.common import Person
from addon.wire.payments import PaymentRequest

LinkStatus = Literal["active", "paid", "expired", "canceled"]
Amount = Annotated[int, Field(gt=0)] | str


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
    expires_at: TimeIn | None = Field(default=None, description="60 s to 30 days ahead; default 7 days")
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
