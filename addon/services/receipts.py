"""Receipts: queued in the same transaction that marks a payment paid, so one is sent exactly once.

A receipt is built from the paid request, its refunds and the clinic's receipt details (what a patient needs to
claim with, see :mod:`addon.receipt_content`). The same :class:`Receipt` feeds the PDF, the email and the
download, so they never disagree. Staff can send it again, to the same address or a corrected one.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid, parseaddr
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import Update, bindparam, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from addon import audit, dates
from addon.auth.launch import DEFAULT_PATIENT_NAME
from addon.auth.roles import Role
from addon.auth.sessions import Principal
from addon.dbutil import insert_ignoring_conflict, loaded, set_params, set_values, table_of
from addon.email_address import parse_email
from addon.errors import Conflict, Forbidden, InvalidInput, NotFound
from addon.lifecycle import MONEY_TAKEN, after_refund
from addon.models import (
    Clinic,
    Instalment,
    InstalmentPlan,
    OffSessionCharge,
    OutboxEmail,
    PayAllItem,
    PaymentRequest,
    Refund,
    SavedCard,
    User,
    utcnow,
)
from addon.receipt_content import DEFAULT_GST_LINE, Item, Receipt, RefundLine
from addon.receipts_pdf import render_receipt_pdf
from addon.services.payment_access import may_see, visible_request

__all__ = ["Receipt", "build_receipt_email", "enqueue_receipt", "load_receipt", "receipt_for", "render_pdf"]

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
    """Queue the receipt email for a paid request; True if this call queued it (False: already queued or no email).

    Requests paid together (Pay all) share one receipt listing each: the first of them to be recorded queues it,
    keyed by the set, and the others find it queued."""
    if not request.patient_email:
        return False
    return await insert_ignoring_conflict(
        db,
        OutboxEmail,
        {
            "dedupe_key": f"receipt:{request.pay_all_id or request.id}",
            "kind": "receipt",
            "to_address": request.patient_email,
            "payment_request_id": request.id,
        },
        ["dedupe_key"],
    )


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


async def load_receipt(db: AsyncSession, request_id: str, *, refund_id: str | None = None) -> Receipt | None:
    """The receipt for a receipted request, or None (unknown, or not paid). With ``refund_id``, the refund
    receipt for that refund (None unless it succeeded)."""
    found = await _load(db, request_id)
    if found is None or found[0].status not in RECEIPTED:
        return None
    receipt = await _with_plan(db, await _with_consent(db, await _receipt(db, *found)))
    if refund_id is None:
        return receipt
    line = next((line for line in receipt.refunds if line.refund_id == refund_id), None)
    return replace(receipt, refund=line) if line is not None else None


async def receipt_for(db: AsyncSession, principal: Principal, request_id: str) -> Receipt:
    """The receipt the caller may download: the call's patient, or staff of the clinic. Others get "not found"."""
    found = await _load(db, request_id)
    if found is None or not may_see(principal, found[0], found[1]) or found[0].status not in RECEIPTED:
        raise NotFound(NO_RECEIPT)
    return await _with_plan(db, await _with_consent(db, await _receipt(db, *found)))


async def _receipt(db: AsyncSession, request: PaymentRequest, clinic: Clinic, clinician: User) -> Receipt:
    """One request's receipt; for a request paid with others (Pay all), the one receipt of them all."""
    receipt = _build(request, clinic, clinician, await _refund_lines(db, request.id, clinic.timezone))
    if request.pay_all_id is None:
        return receipt
    together = (
        await db.scalars(
            select(PaymentRequest)
            .join(PayAllItem, PayAllItem.payment_request_id == PaymentRequest.id)
            .where(
                PayAllItem.pay_all_id == request.pay_all_id,
                PaymentRequest.pay_all_id == request.pay_all_id,
                PaymentRequest.status.in_(list(RECEIPTED)),
            )
            .order_by(PayAllItem.position)
        )
    ).all()
    if len(together) < 2:
        return receipt
    refunds: list[RefundLine] = []
    for pr in together:
        lines = await _refund_lines(db, pr.id, clinic.timezone)
        refunds += [replace(line, item=pr.description) for line in lines]
    refunds.sort(key=lambda line: line.refunded_on)
    amount = sum(pr.amount for pr in together)
    refunded = sum(pr.amount_refunded for pr in together)
    numbers = [pr.receipt_number or pr.id for pr in together]
    return replace(
        receipt,
        receipt_number=numbers[0] if len(set(numbers)) == 1 else f"{numbers[0]}-{numbers[-1]}",
        status=str(after_refund(amount, refunded)),
        description=", ".join(pr.description for pr in together),
        amount=amount,
        amount_refunded=refunded,
        service_date=min(dates.local_date(pr.created_at, clinic.timezone) for pr in together),
        refunds=tuple(refunds),
        lines=tuple(
            Item(
                pr.description,
                pr.amount,
                pr.item_code,
                payment_request=pr.id,
                receipt_number=pr.receipt_number,
                amount_refunded=pr.amount_refunded,
            )
            for pr in together
        ),
    )


async def _with_consent(db: AsyncSession, receipt: Receipt) -> Receipt:
    """A payment charged to a saved card cites the policy the patient agreed to, and the date they agreed."""
    card = await db.scalar(
        select(SavedCard)
        .join(OffSessionCharge, OffSessionCharge.saved_card_id == SavedCard.id)
        .where(OffSessionCharge.payment_request_id == receipt.request_id)
    )
    if card is None or not card.consent_text or card.consent_at is None:
        return receipt
    return replace(
        receipt, policy=card.consent_text, policy_agreed_on=dates.format_date(card.consent_at, receipt.timezone)
    )


async def _with_plan(db: AsyncSession, receipt: Receipt) -> Receipt:
    """An instalment's receipt says which of the plan's instalments it is, what of the plan is outstanding, and
    the next date (addon/services/plans.py)."""
    inst = await db.scalar(select(Instalment).where(Instalment.payment_request_id == receipt.request_id))
    if inst is None:
        return receipt
    plan = await db.get_one(InstalmentPlan, inst.plan_id)
    rows = (
        await db.execute(
            select(Instalment.number, Instalment.amount, Instalment.status, Instalment.due_at, PaymentRequest.status)
            .outerjoin(PaymentRequest, PaymentRequest.id == Instalment.payment_request_id)
            .where(Instalment.plan_id == plan.id)
            .order_by(Instalment.number)
        )
    ).all()
    paid = sum(amount for _, amount, _, _, status in rows if status in MONEY_TAKEN)
    outstanding = 0 if plan.status == "canceled" else max(plan.amount - paid, 0)
    note = f"Instalment {inst.number} of {plan.count} of a plan for {receipt.money(plan.amount)}."
    upcoming = [(amount, due) for _, amount, state, due, _ in rows if state == "scheduled"]
    if plan.status == "active" and upcoming:
        amount, due = upcoming[0]
        note += f" Next: {receipt.money(amount)} on {dates.format_date(due, receipt.timezone)}."
    if inst.late:
        note += f" It was due on {dates.format_date(inst.due_at, receipt.timezone)} and was charged late."
    return replace(receipt, plan_outstanding=outstanding, plan_note=note)


async def _refund_lines(db: AsyncSession, request_id: str, tz: str) -> tuple[RefundLine, ...]:
    """The refunds that went back to the patient, oldest first, dated in the clinic's zone."""
    rows = (
        await db.scalars(
            select(Refund)
            .where(Refund.payment_request_id == request_id, Refund.status == "succeeded")
            .order_by(Refund.created_at, Refund.id)
        )
    ).all()
    return tuple(
        RefundLine(
            amount=row.amount,
            refunded_on=dates.local_date(row.settled_at or row.created_at, tz),
            reason=row.reason,
            refund_id=row.id,
        )
        for row in rows
    )


async def render_pdf(receipt: Receipt) -> bytes:
    # Laying out a PDF is tens of milliseconds of CPU: off the event loop, so calls and sockets keep flowing.
    return await asyncio.to_thread(render_receipt_pdf, receipt)


def name_on_receipt(clinic: Clinic) -> str:
    """The clinic's name as a receipt (and so the patient's statement) shows it."""
    return clinic.receipt_business_name or clinic.name or clinic.stripe_account_name or "Your clinic"


def gst_line(clinic: Clinic) -> str | None:
    """The clinic's own GST line, or what an Australian health service usually prints."""
    if clinic.receipt_gst_line:
        return clinic.receipt_gst_line
    australian = (clinic.stripe_country or "").upper() == "AU" or clinic.default_currency == "aud"
    return DEFAULT_GST_LINE if australian else None


def provider_on_receipt(clinic: Clinic, clinician: User) -> tuple[str, str | None]:
    """Who provided the service, and their provider number: the clinician who took the payment, with their own
    number (from the launch or their Callpay profile). A clinician with none falls back to the clinic's provider
    details (a practice of one keeps them in the clinic's settings)."""
    if clinician.provider_number:
        return clinician.name, clinician.provider_number
    return clinic.receipt_provider_name or clinician.name, clinic.receipt_provider_number


def _build(request: PaymentRequest, clinic: Clinic, clinician: User, refunds: tuple[RefundLine, ...]) -> Receipt:
    provider_name, provider_number = provider_on_receipt(clinic, clinician)
    return Receipt(
        request_id=request.id,
        # A paid request always gets a number when it is marked paid; the id is only a fallback for old rows.
        receipt_number=request.receipt_number or request.id,
        status=request.status,
        clinic_name=name_on_receipt(clinic),
        business_name=name_on_receipt(clinic),
        abn=clinic.receipt_abn,
        provider_name=provider_name,
        provider_number=provider_number,
        address=clinic.receipt_address,
        phone=clinic.receipt_phone,
        footer=clinic.receipt_footer,
        service_date=dates.local_date(request.created_at, clinic.timezone),
        paid_at=request.paid_at,
        description=request.description,
        amount=request.amount,
        amount_refunded=request.amount_refunded,
        currency=request.currency,
        card_brand=request.card_brand,
        card_last4=request.card_last4,
        patient_name=request.patient_name,
        item_code=request.item_code,
        payer_name=request.paid_by_name,
        gst_line=gst_line(clinic),
        timezone=clinic.timezone,
        refunds=refunds,
    )


def build_receipt_email(receipt: Receipt, *, to_address: str, mail_from: str) -> EmailMessage:
    """The receipt as an email: plain text and HTML bodies, the PDF attached."""
    context = {"r": receipt}
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
    if receipt.refund is not None:
        message["Subject"] = f"Your refund from {receipt.business_name} — {receipt.money(receipt.refund.amount)}"
    else:
        message["Subject"] = f"Your receipt from {receipt.business_name} — {receipt.paid_display}"
    message["Message-ID"] = make_msgid(domain=(from_address or "callpay.invalid").rpartition("@")[2] or None)
    message.set_content(_EMAIL_TEMPLATES.get_template("receipt.txt").render(context))
    message.add_alternative(_EMAIL_TEMPLATES.get_template("receipt.html").render(context), subtype="html")
    message.add_attachment(
        render_receipt_pdf(receipt), maintype="application", subtype="pdf", filename=receipt.file_name
    )
    return message


# --- The patient's name ---------------------------------------------------------------------------------------

MAX_PATIENT_NAME = 200


async def record_patient_name(db: AsyncSession, pr: PaymentRequest, principal: Principal, typed: object) -> None:
    """The name a receipt gives the patient: what they typed on the pay form (optional), else their launch's name.

    Only while the request is unpaid: a receipt already issued keeps the name it was issued to.
    """
    if typed is not None and not isinstance(typed, str):
        raise InvalidInput("Enter your name as text, or leave it empty.", field="name")
    name = " ".join((typed or "").split())
    if len(name) > MAX_PATIENT_NAME:
        raise InvalidInput(f"Keep your name to {MAX_PATIENT_NAME} characters or fewer.", field="name")
    if not name and principal.user_name != DEFAULT_PATIENT_NAME:
        name = principal.user_name
    if not name or name == pr.patient_name:
        return
    await _set_unpaid(db, pr, {"patient_name": name})


async def record_payer(db: AsyncSession, pr: PaymentRequest, principal: Principal) -> None:
    """Who is paying (their launch name), for the receipt's "Paid by"; only while the request is unpaid."""
    # A launch without a name gives a placeholder, which names nobody on a receipt.
    name = principal.user_name if principal.user_name != DEFAULT_PATIENT_NAME else None
    if (pr.paid_by_sub, pr.paid_by_name) == (principal.user_external_id, name):
        return
    await _set_unpaid(db, pr, {"paid_by_sub": principal.user_external_id, "paid_by_name": name})


async def _set_unpaid(db: AsyncSession, pr: PaymentRequest, values: dict[str, Any]) -> None:
    """Who the receipt names, set while the request is unpaid (a checkout's every time): one UPDATE built once
    for each set of columns; the session's copy of the request says it too, as the ORM's UPDATE made it."""
    if await db.scalar(_unpaid_update(tuple(sorted(values))), {"request_id": pr.id, **set_values(values)}) is not None:
        loaded(db, PaymentRequest, pr.id, values)


_REQUESTS = table_of(PaymentRequest)


@cache
def _unpaid_update(keys: tuple[str, ...]) -> Update:
    status = _REQUESTS.c.status
    return (
        update(_REQUESTS)
        .where(
            _REQUESTS.c.id == bindparam("request_id", type_=_REQUESTS.c.id.type),
            status.not_in([literal(v, status.type) for v in sorted(s.value for s in RECEIPTED)]),
        )
        .values(set_params(_REQUESTS, keys))
        .returning(_REQUESTS.c.id)
    )


# --- Sending it again ----------------------------------------------------------------------------------------

RESEND_GAP = timedelta(seconds=30)


async def resend(db: AsyncSession, principal: Principal, request_id: object, body: Mapping[str, Any]) -> str:
    """Queue the receipt again, to the patient's address or a corrected one (which becomes the receipt address).

    Team admins of the clinic, and the clinician who took the payment. The address the email goes to is returned.
    """
    seen = await visible_request(db, principal, request_id)
    pr = seen.request
    if principal.role is Role.PATIENT:
        raise NotFound(NO_RECEIPT)
    allowed = (principal.role is Role.TEAM_ADMIN and principal.clinic_id == pr.clinic_id) or (
        principal.role is Role.TEAM_MEMBER and pr.clinician_id == principal.user_id
    )
    if not allowed:
        raise Forbidden("Only a clinic admin, or the clinician who took the payment, can resend its receipt.",
                        code="role_not_allowed")  # fmt: skip
    unknown = sorted(set(body) - {"email"})
    if unknown:
        raise InvalidInput(f"'{unknown[0]}' is not part of a resend.", field=unknown[0])
    if pr.status not in RECEIPTED:
        raise Conflict(NO_RECEIPT, code="no_receipt")
    given = body.get("email")
    if given in (None, "") and not pr.patient_email:
        raise InvalidInput("Enter the email address to send the receipt to.", field="email")
    email = parse_email(given) if given not in (None, "") else str(pr.patient_email)
    recent = await db.scalar(
        select(OutboxEmail.id).where(
            OutboxEmail.payment_request_id == pr.id,
            OutboxEmail.kind == "receipt",
            OutboxEmail.to_address == email,
            OutboxEmail.created_at > utcnow() - RESEND_GAP,
        )
    )
    if recent is not None:
        raise Conflict(f"The receipt was just sent to {email}. Give it a minute to arrive.", code="recently_sent")
    if email != pr.patient_email:
        # A corrected address: later emails (a refund's) go there too.
        await db.execute(update(PaymentRequest).where(PaymentRequest.id == pr.id).values(patient_email=email))
    db.add(
        OutboxEmail(
            dedupe_key=f"receipt-resend:{pr.id}:{secrets.token_hex(8)}",
            kind="receipt",
            to_address=email,
            payment_request_id=pr.id,
        )
    )
    audit.record(
        db,
        "receipt.resent",
        actor=principal,
        clinic_id=pr.clinic_id,
        subject_type="payment_request",
        subject_id=pr.id,
        data={"email": email, "corrected": email != seen.request.patient_email},
    )
    await db.flush()
    return email
