"""One payment request as the payment centre opens it: its refunds, what happened when, and what the viewer may do.

``GET /api/v1/payment-requests/{id}`` answers the call's patient (never an email) and the clinic's staff. The
timeline is put together from what is recorded anyway: the request itself, the audit trail (who asked, cancelled
or refunded), the refunds, and the outbox (each receipt or refund email, and when it was sent).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from addon import dates, money
from addon.auth.roles import Role
from addon.auth.sessions import Principal
from addon.models import AuditEvent, OutboxEmail, User
from addon.services import refunds
from addon.services.payment_access import Visible, visible_request
from addon.services.payment_listing import TAKEN, UNPAID, clinic_display_name
from addon.services.payment_requests import payment_request_json
from addon.wire import payments as wire

# What the audit trail's actions say on a timeline; actions not named here aren't shown.
AUDIT_WORDS = {
    "payment_request.canceled": "Cancelled by {actor}",
    # Transitions (addon.services.transitions records each): those the timeline doesn't already show otherwise.
    "lifecycle.checkout_started": "The patient started paying",
    "lifecycle.receipt_email_changed": "The patient changed the receipt email",
    "lifecycle.processing": "The bank is processing the payment",
    "lifecycle.declined": "{failure}",
    "lifecycle.authorized": "Card authorised (hold)",
    "lifecycle.captured": "Hold charged",
    "lifecycle.released": "Hold released",
    "lifecycle.intent_canceled": "Cancelled at Stripe",
    "refund.requested": "{actor} asked for a refund of {amount}",
    "refund.succeeded": "Refund of {amount} made",
    "refund.failed": "Refund of {amount} failed",
    "refund.canceled": "Refund of {amount} didn't go ahead",
    "receipt.resent": "{actor} sent the receipt again to {email}",
    # A charge to the patient's saved card (addon/services/saved_cards.py); a refusal shows as lifecycle.declined.
    "saved_card.charge_started": "{actor} asked for it to be charged to the patient's saved card",
}
EMAIL_WORDS = {"receipt": "Receipt emailed", "refund": "Refund receipt emailed"}


def _entry(at: datetime | None, what: str, tz: str) -> dict[str, Any] | None:
    if at is None:
        return None
    return {"at": at.isoformat().replace("+00:00", "Z"), "at_display": dates.format_datetime(at, tz), "what": what}


async def timeline(db: AsyncSession, seen: Visible, *, staff: bool) -> list[dict[str, Any]]:
    pr, tz = seen.request, seen.clinic.timezone
    entries: list[dict[str, Any] | None] = [
        _entry(pr.created_at, f"{money.format_amount(pr.amount, pr.currency)} requested by {seen.clinician.name}", tz),
    ]
    if pr.paid_at is not None:
        card = f" with {pr.card_brand.title()} ending in {pr.card_last4}" if pr.card_brand and pr.card_last4 else ""
        receipt = f", receipt {pr.receipt_number}" if pr.receipt_number else ""
        entries.append(_entry(pr.paid_at, f"Paid{card}{receipt}", tz))
    audits = (
        await db.execute(
            select(AuditEvent, User.name)
            .outerjoin(User, User.id == AuditEvent.actor_user_id)
            .where(AuditEvent.subject_type == "payment_request", AuditEvent.subject_id == pr.id)
            .order_by(AuditEvent.occurred_at, AuditEvent.id)
        )
    ).all()
    for event, actor in audits:
        words = AUDIT_WORDS.get(event.action)
        if words is None:
            continue
        data = event.data or {}
        amount = data.get("amount")
        entries.append(
            _entry(
                event.occurred_at,
                words.format(
                    actor=actor or "The clinic",
                    amount=money.format_amount(int(amount), pr.currency) if isinstance(amount, int) else "",
                    email=data.get("email", "the patient") if staff else "you",
                    failure=data.get("failure_message") or "Payment failed",
                ),
                tz,
            )
        )
    for refund in await refunds.refunds_of(db, pr.id):
        if refund.source == "stripe":
            entries.append(
                _entry(
                    refund.created_at,
                    f"Refund of {money.format_amount(refund.amount, refund.currency)} made in the Stripe dashboard",
                    tz,
                )
            )
        if refund.status == "failed":
            entries.append(_entry(refund.settled_at, f"Refund failed: {refund.failure_message}", tz))
    emails = (
        await db.scalars(
            select(OutboxEmail)
            .where(OutboxEmail.payment_request_id == pr.id, OutboxEmail.sent_at.is_not(None))
            .order_by(OutboxEmail.sent_at)
        )
    ).all()
    for email in emails:
        words = EMAIL_WORDS.get(email.kind, "Email sent")
        entries.append(_entry(email.sent_at, f"{words} to {email.to_address}" if staff else words, tz))
    if pr.canceled_at is not None and not any(e and e["what"].startswith("Cancelled") for e in entries):
        entries.append(_entry(pr.canceled_at, "Cancelled", tz))
    shown = [e for e in entries if e is not None]
    return sorted(shown, key=lambda e: e["at"])


def next_step(seen: Visible) -> str | None:
    """What can still be done about a request that wasn't paid, in words for staff."""
    status = seen.request.status
    if status in UNPAID:
        declined = " The last card was declined." if status == "failed" else ""
        return (
            f"Not paid yet.{declined} The patient can still pay while the call is open; after the call, send them a "
            "pay-later link, or cancel the request if it is no longer owed."
        )
    if status == "processing":
        return "The bank is still processing this payment. It will show as paid or failed by itself."
    if status == "canceled":
        return "Cancelled before it was paid: nothing was charged."
    return None


def actions(principal: Principal, seen: Visible) -> list[str]:
    """What this viewer may do to the request now."""
    pr = seen.request
    allowed: list[str] = []
    if principal.role is Role.PATIENT:
        return allowed
    if refunds.refundable_amount(pr) > 0 and refunds.may_refund(principal, pr, seen.clinic):
        allowed.append("refund")
    if pr.status in TAKEN and principal.role is not Role.ORG_ADMIN:
        allowed.append("resend_receipt")
    return allowed


async def detail_json(db: AsyncSession, principal: Principal, seen: Visible) -> wire.PaymentRequestDetail:
    pr, clinic = seen.request, seen.clinic
    staff = principal.role is not Role.PATIENT
    tz = clinic.timezone
    left = refunds.refundable_amount(pr)
    shared: dict[str, Any] = {
        **dict(payment_request_json(seen.view)),
        "refunds": [refunds.refund_json(r, tz) for r in await refunds.refunds_of(db, pr.id)],
        "timeline": await timeline(db, seen, staff=staff),
        "clinic_name": clinic_display_name(clinic),
        "patient_name": pr.patient_name,
        "created_at_display": dates.format_datetime(pr.created_at, tz),
        "paid_at_display": dates.format_datetime(pr.paid_at, tz),
        "amount_refunded_display": money.format_amount(pr.amount_refunded, pr.currency),
        "timezone": tz,
    }
    if not staff:
        return wire.PaymentRequestDetail.model_validate(shared)
    return wire.StaffPaymentRequestDetail.model_validate(
        {
            **shared,
            "patient_email": pr.patient_email,
            "amount_refundable": left,
            "amount_refundable_display": money.format_amount(left, pr.currency),
            "amount_refundable_text": money.format_typed(left, pr.currency),
            "stripe_fee": pr.stripe_fee,
            "stripe_fee_display": money.format_amount(pr.stripe_fee, pr.currency)
            if pr.stripe_fee is not None
            else None,
            "next_step": next_step(seen),
            "actions": actions(principal, seen),
        }
    )


async def detail_for(db: AsyncSession, principal: Principal, request_id: object) -> wire.PaymentRequestDetail:
    """``GET /api/v1/payment-requests/{id}``."""
    seen = await visible_request(db, principal, request_id)
    return await detail_json(db, principal, seen)

