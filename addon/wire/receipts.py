"""``GET /api/v1/payment-requests/{id}/receipt``: the receipt as the PDF shows it."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from addon.wire.base import Currency, MinorUnits, Outgoing, Timestamp
from addon.wire.payments import PaymentStatus


class ReceiptRefund(Outgoing):
    amount: MinorUnits
    date: Annotated[str, Field(json_schema_extra={"format": "date"})]
    display: str = Field(description='"A$40.00 on 2 December 2026"')


class ReceiptItem(Outgoing):
    """One line of the receipt: a request it covers (several when they were paid at once, with Pay all)."""

    payment_request: str
    description: str
    item_code: str | None
    amount: MinorUnits
    amount_display: str
    amount_refunded: MinorUnits
    receipt_number: str


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
    service_date_display: str
    paid_at: Timestamp | None
    paid_on_display: str | None = Field(description="In the clinic's time zone")
    description: str
    item_code: str | None
    patient_name: str | None
    payer_name: str | None = Field(default=None, description="Who paid, when not the patient (a carer, a parent)")
    items: list[ReceiptItem] = []
    gst_line: str | None
    amount: MinorUnits
    amount_refunded: MinorUnits
    currency: Currency
    amount_display: str
    outstanding_display: str = Field(description="What is left to pay: nothing, or what of its instalment plan is")
    plan_note: str | None = Field(
        default=None, description="An instalment's receipt: which instalment of its plan, and the next date"
    )
    refunds: list[ReceiptRefund]
    card_brand: str | None
    card_last4: str | None
    card_display: str | None
