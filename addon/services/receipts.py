"""Receipts: queued in the same transaction that marks a payment paid, so one is sent exactly once."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from addon.dbutil import insert_ignoring_conflict
from addon.models import OutboxEmail, PaymentRequest


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
