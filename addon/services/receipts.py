"""Receipts: queued in the same transaction that marks a payment paid, so one is sent exactly once.

A receipt is built from the paid request and the clinic's receipt details (what a patient needs to claim with: the
business name and number, the provider and their number, service date, item, amounts). The same :class:`Receipt`
feeds the PDF, the email and the download, so they never disagree.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage
from email.utils import formataddr, make_msgid, parseaddr
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from addon.auth.roles import Role
from addon.auth.sessions import Principal
from addon.cards import card_display
from addon.dbutil import insert_ignoring_conflict
from addon.errors import NotFound
from addon.lifecycle import MONEY_TAKEN
from addon.models import Clinic, OutboxEmail, PaymentRequest, User, iso_utc
from addon.money import format_amount
from addon.receipts_pdf import format_date, render_receipt_pdf

# A receipt exists once money has moved; refunds keep it (it then shows what was refunded).
RECEIPTED = MONEY_TAKEN
NO_RECEIPT = "There is no receipt for this payment yet."
_EMAIL_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(Path(__file__).parent.parent / "templates" / "email")),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


async def enqueue_receipt(db: AsyncSession, request: PaymentRequest) -> bool:
    """Queue the receipt email for a paid request; True if this call queued it (False: already queued or no email)."""
    if not request.patient_email:
        return False
    return await insert_ignoring_conflict(
        db,
        OutboxEmail,
        {
            "dedupe_key": f"receipt:{request.id}",
            "kind": "receipt",
            "to_address": request.patient_email,
            "payment_request_id": request.id,
        },
        ["dedupe_key"],
    )


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
            "paid_at": iso_utc(self.paid_at),
            "description": self.description,
            "amount": self.amount,
            "amount_refunded": self.amount_refunded,
            "currency": self.currency,
            "amount_display": self.charged_display,
            "outstanding_display": self.outstanding_display,
            "card_brand": self.card_brand,
            "card_last4": self.card_last4,
            "card_display": self.card_display,
        }

    @property
    def file_name(self) -> str:
        safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in self.receipt_number)
        return f"receipt-{safe}.pdf"


async def _load(db: AsyncSession, request_id: str) -> tuple[PaymentRequest, Clinic, User] | None:
    found = (
        await db.execute(
            select(PaymentRequest, Clinic, User)
            .join(Clinic, Clinic.id == PaymentRequest.clinic_id)
            .join(User, User.id == PaymentRequest.clinician_id)
            .where(PaymentRequest.id == request_id)
        )
    ).one_or_none()
    return None if found is None else (found[0], found[1], found[2])


async def load_receipt(db: AsyncSession, request_id: str) -> Receipt | None:
    """The receipt for a receipted request, or None (unknown, or not paid)."""
    found = await _load(db, request_id)
    if found is None or found[0].status not in RECEIPTED:
        return None
    return _build(*found)


async def receipt_for(db: AsyncSession, principal: Principal, request_id: str) -> Receipt:
    """The receipt the caller may download: the call's patient, or staff of the clinic. Others get "not found"."""
    found = await _load(db, request_id)
    if found is None or not _may_see(principal, found[0], found[1]) or found[0].status not in RECEIPTED:
        raise NotFound(NO_RECEIPT)
    return _build(*found)


async def render_pdf(receipt: Receipt) -> bytes:
    # Laying out a PDF is tens of milliseconds of CPU: off the event loop, so calls and sockets keep flowing.
    return await asyncio.to_thread(render_receipt_pdf, receipt)


def _may_see(principal: Principal, request: PaymentRequest, clinic: Clinic) -> bool:
    if principal.role is Role.PATIENT:
        return principal.call_id is not None and principal.call_id == request.call_id
    if principal.role is Role.ORG_ADMIN:
        return clinic.organisation_id == principal.organisation_id
    return principal.clinic_id == request.clinic_id


def name_on_receipt(clinic: Clinic) -> str:
    """The clinic's name as a receipt (and so the patient's statement) shows it."""
    return clinic.receipt_business_name or clinic.name or clinic.stripe_account_name or "Your clinic"


def _build(request: PaymentRequest, clinic: Clinic, clinician: User) -> Receipt:
    return Receipt(
        request_id=request.id,
        # A paid request always gets a number when it is marked paid; the id is only a fallback for old rows.
        receipt_number=request.receipt_number or request.id,
        status=request.status,
        clinic_name=name_on_receipt(clinic),
        business_name=name_on_receipt(clinic),
        abn=clinic.receipt_abn,
        provider_name=clinic.receipt_provider_name or clinician.name,
        provider_number=clinic.receipt_provider_number,
        address=clinic.receipt_address,
        phone=clinic.receipt_phone,
        footer=clinic.receipt_footer,
        service_date=request.created_at.date(),
        paid_at=request.paid_at,
        description=request.description,
        amount=request.amount,
        amount_refunded=request.amount_refunded,
        currency=request.currency,
        card_brand=request.card_brand,
        card_last4=request.card_last4,
    )


def build_receipt_email(receipt: Receipt, *, to_address: str, mail_from: str) -> EmailMessage:
    """The receipt as an email: plain text and HTML bodies, the PDF attached."""
    context = {"r": receipt, "format_date": format_date}
    message = EmailMessage()
    from_name, from_address = parseaddr(mail_from)
    # The clinic is who the patient paid; the platform's address only carries the mail.
    message["From"] = formataddr(
        (
            receipt.business_name if not from_name else f"{receipt.business_name} via {from_name}",
            from_address or mail_from,
        )
    )
    message["To"] = to_address
    message["Subject"] = f"Your receipt from {receipt.business_name} — {receipt.paid_display}"
    message["Message-ID"] = make_msgid(domain=(from_address or "callpay.invalid").rpartition("@")[2] or None)
    message.set_content(_EMAIL_TEMPLATES.get_template("receipt.txt").render(context))
    message.add_alternative(_EMAIL_TEMPLATES.get_template("receipt.html").render(context), subtype="html")
    message.add_attachment(
        render_receipt_pdf(receipt), maintype="application", subtype="pdf", filename=receipt.file_name
    )
    return message
