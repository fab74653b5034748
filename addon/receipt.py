"""What a receipt says: one record that feeds the PDF, the email and the JSON download, so they never disagree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from addon.cards import card_display
from addon.lifecycle import Status
from addon.models import iso_utc
from addon.money import format_amount
from addon.wire import receipts as wire


@dataclass(frozen=True)
class Receipt:
    request_id: str
    receipt_number: str
    status: str
    clinic_name: str
    business_name: str
    abn: str | None
    provider_name: str
    provider_number: str | None
    address: str | None
    phone: str | None
    footer: str | None
    service_date: date
    paid_at: datetime | None
    description: str
    amount: int
    amount_refunded: int
    currency: str
    card_brand: str | None
    card_last4: str | None

    @property
    def charged_display(self) -> str:
        return format_amount(self.amount, self.currency)

    @property
    def paid_display(self) -> str:
        return format_amount(self.amount, self.currency)

    @property
    def refunded_display(self) -> str | None:
        return format_amount(self.amount_refunded, self.currency) if self.amount_refunded else None

    @property
    def outstanding_display(self) -> str:
        # Charged in full at the time of the call: nothing is ever left to pay on a receipted request.
        return format_amount(0, self.currency)

    @property
    def card_display(self) -> str | None:
        return card_display(self.card_brand, self.card_last4)

    def to_wire(self) -> wire.Receipt:
        """What the patient's confirmation shows: the receipt's own words, so screen and PDF agree."""
        return wire.Receipt(
            payment_request=self.request_id,
            receipt_number=self.receipt_number,
            status=Status(self.status),
            business_name=self.business_name,
            abn=self.abn,
            provider_name=self.provider_name,
            provider_number=self.provider_number,
            address=self.address,
            phone=self.phone,
            service_date=self.service_date.isoformat(),
            paid_at=iso_utc(self.paid_at),
            description=self.description,
            amount=self.amount,
            amount_refunded=self.amount_refunded,
            currency=self.currency,
            amount_display=self.charged_display,
            outstanding_display=self.outstanding_display,
            card_brand=self.card_brand,
            card_last4=self.card_last4,
            card_display=self.card_display,
        )

    @property
    def file_name(self) -> str:
        safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in self.receipt_number)
        return f"receipt-{safe}.pdf"
