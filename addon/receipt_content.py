"""What a receipt says, once: the one :class:`Receipt` that the PDF, the email and the JSON are all made from.

A receipt a patient can claim with (Medicare and private health funds ask for these): the practice's name, address
and ABN; the provider and *their* provider number; the patient's name; the service date; each item with its
description and item number; the amount charged, paid and outstanding; the GST line; refunds with their dates; the
receipt number. Dates are in the clinic's time zone, in the one format of :mod:`addon.dates`.

This module only describes and words; it imports no database, no PDF and no email code, so each of those can
import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from addon import dates
from addon.cards import card_display
from addon.models import iso_utc
from addon.money import format_amount

# Australian health services are usually GST-free; a clinic sets its own line otherwise.
DEFAULT_GST_LINE = "GST-free health service"
TITLES = {"paid": "Receipt", "refunded": "Receipt (refunded)", "partially_refunded": "Receipt (partly refunded)"}


@dataclass(frozen=True)
class Item:
    description: str
    amount: int
    item_code: str | None = None
    # Set on the lines of a receipt for several requests paid at once (Pay all): which request, and its number.
    payment_request: str | None = None
    receipt_number: str | None = None
    amount_refunded: int = 0


@dataclass(frozen=True)
class RefundLine:
    amount: int
    refunded_on: date
    reason: str | None = None
    refund_id: str | None = None
    # On a receipt for several items: the item the refund was for.
    item: str | None = None


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
    patient_name: str | None = None
    item_code: str | None = None
    gst_line: str | None = DEFAULT_GST_LINE
    timezone: str = dates.DEFAULT_TIMEZONE
    refunds: tuple[RefundLine, ...] = field(default_factory=tuple)
    # Set on the receipt a refund email carries: the refund it is about.
    refund: RefundLine | None = None
    # Who paid (the launch name of the participant who paid), when it isn't the patient named above.
    payer_name: str | None = None
    # Several requests paid at once (Pay all): one line each. Empty: the one item above.
    lines: tuple[Item, ...] = ()
    # Charged to a card the patient saved: the clinic's policy as they agreed to it, and when (clinic time).
    policy: str | None = None
    policy_agreed_on: str | None = None
    # An instalment of a plan: what of the plan is still to pay, and a line saying which instalment it is.
    plan_outstanding: int | None = None
    plan_note: str | None = None

    # --- Amounts -------------------------------------------------------------------------------------------

    def money(self, minor: int) -> str:
        return format_amount(minor, self.currency)

    @property
    def items(self) -> tuple[Item, ...]:
        return self.lines or (Item(self.description, self.amount, self.item_code),)

    @property
    def several(self) -> bool:
        return len(self.items) > 1

    @property
    def paid_by(self) -> str | None:
        """The payer, named only when it is someone other than the patient (a carer, a parent)."""
        if not self.payer_name or self.payer_name == self.patient_name:
            return None
        return self.payer_name

    @property
    def charged_display(self) -> str:
        return self.money(self.amount)

    @property
    def paid_display(self) -> str:
        return self.money(self.amount)

    @property
    def refunded_display(self) -> str | None:
        return self.money(self.amount_refunded) if self.amount_refunded else None

    @property
    def outstanding(self) -> int:
        # A request is charged in full: nothing is left on it; an instalment's plan may have more to pay.
        return self.plan_outstanding or 0

    @property
    def outstanding_display(self) -> str:
        return self.money(self.outstanding)

    @property
    def card_display(self) -> str | None:
        return card_display(self.card_brand, self.card_last4)

    # --- Dates ---------------------------------------------------------------------------------------------

    @property
    def service_date_display(self) -> str:
        return dates.format_date(self.service_date)

    @property
    def paid_on_display(self) -> str | None:
        return dates.format_date(self.paid_at, self.timezone) if self.paid_at else None

    def refund_words(self, line: RefundLine) -> str:
        """``A$40.00 on 2 December 2026`` (``… for Script`` on a receipt of several items)."""
        words = f"{self.money(line.amount)} on {dates.format_date(line.refunded_on)}"
        return f"{words} for {line.item}" if line.item and self.several else words

    # --- Words ---------------------------------------------------------------------------------------------

    @property
    def title(self) -> str:
        if self.refund is not None:
            return "Refund receipt"
        return TITLES.get(self.status, "Receipt")

    @property
    def file_name(self) -> str:
        safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in self.receipt_number)
        if self.refund is not None:
            return f"refund-receipt-{safe}.pdf"
        return f"receipt-{safe}.pdf"

    def to_json(self) -> dict[str, Any]:
        """What the patient's confirmation shows: the receipt's own words, so screen and PDF agree."""
        return {
            "payment_request": self.request_id,
            "receipt_number": self.receipt_number,
            "status": self.status,
            "business_name": self.business_name,
            "abn": self.abn,
            "provider_name": self.provider_name,
            "provider_number": self.provider_number,
            "address": self.address,
            "phone": self.phone,
            "service_date": self.service_date.isoformat(),
            "service_date_display": self.service_date_display,
            "paid_at": iso_utc(self.paid_at),
            "paid_on_display": self.paid_on_display,
            "description": self.description,
            "item_code": self.item_code,
            "patient_name": self.patient_name,
            "payer_name": self.paid_by,
            "items": [
                {
                    "payment_request": item.payment_request or self.request_id,
                    "description": item.description,
                    "item_code": item.item_code,
                    "amount": item.amount,
                    "amount_display": self.money(item.amount),
                    "amount_refunded": item.amount_refunded,
                    "receipt_number": item.receipt_number or self.receipt_number,
                }
                for item in self.items
            ],
            "gst_line": self.gst_line,
            "amount": self.amount,
            "amount_refunded": self.amount_refunded,
            "currency": self.currency,
            "amount_display": self.charged_display,
            "outstanding_display": self.outstanding_display,
            "plan_note": self.plan_note,
            "refunds": [
                {"amount": line.amount, "date": line.refunded_on.isoformat(), "display": self.refund_words(line)}
                for line in self.refunds
            ],
            "card_brand": self.card_brand,
            "card_last4": self.card_last4,
            "card_display": self.card_display,
        }
