"""``GET /api/v1/payment-requests/{id}/receipt``: the receipt as the PDF shows it."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from addon.wire.base import Currency, MinorUnits, Outgoing, Timestamp
from addon.wire.payments import PaymentStatus


class Receipt(Outgoing):
    """The receipt's own words, so screen and PDF agree."""

    payment_request: str
    receipt_number: str
    status: PaymentStatus
    business_name: str
    abn: str | None
    provider_name: str
    provider_number: str | None
    address: str | None
    phone: str | None
    service_date: Annotated[str, Field(json_schema_extra={"format": "date"})]
    paid_at: Timestamp | None
    description: str
    amount: MinorUnits
    amount_refunded: MinorUnits
    currency: Currency
    amount_display: str
    outstanding_display: str
    card_brand: str | None
    card_last4: str | None
    card_display: str | None
