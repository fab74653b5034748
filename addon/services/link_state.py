"""A pay-later link's statuses, how they move, its JSON, and the notices a change sends.

Statuses: ``active`` → ``paid`` | ``expired`` | ``canceled``. Each move is one conditional UPDATE (``WHERE status IN``
the move's sources), so an expiry sweeper on two workers, a cancel and a payment racing each other change the row
once, and only the caller that moved it sends the notice. Money is the truth: a payment that lands on a link that
has just expired or been canceled (a stale tab paid a moment before its intent was canceled) still records it.

This module never imports the request transitions, so :mod:`addon.services.transitions` can call
:func:`on_request_paid` from the one place a payment is recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from addon import dates, money
from addon.dbutil import insert_ignoring_conflict
from addon.models import Clinic, OutboxEmail, PaymentLink, User, iso_utc, utcnow
from addon.outbound import Outbound, clinic_staff_room
from addon.services.receipts import name_on_receipt
from addon.wire import links as wire


class LinkStatus(StrEnum):
    ACTIVE = "active"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELED = "canceled"


L = LinkStatus
# Where each status may be reached from.
SOURCES: Mapping[LinkStatus, frozenset[LinkStatus]] = {
    L.PAID: frozenset({L.ACTIVE, L.EXPIRED, L.CANCELED}),
    L.EXPIRED: frozenset({L.ACTIVE}),
    L.CANCELED: frozenset({L.ACTIVE}),
}
STAMP = {L.PAID: "paid_at", L.EXPIRED: "expired_at", L.CANCELED: "canceled_at"}
# A notice (live, and by email when the clinic wants) goes when a link is paid or expires.
NOTIFIED = frozenset({L.PAID, L.EXPIRED})


async def move(
    db: AsyncSession,
    link_id: str,
    to: LinkStatus,
    *,
    now: datetime,
    where: Iterable[ColumnElement[bool]] = (),
    values: Mapping[str, Any] | None = None,
) -> bool:
    """Move the link to ``to`` if it is in one of that status's sources (and ``where`` holds); True if it moved."""
    changes: dict[str, Any] = {"status": to.value, "updated_at": now, STAMP[to]: now, **(values or {})}
    result = await db.execute(
        update(PaymentLink)
        .where(PaymentLink.id == link_id, PaymentLink.status.in_([s.value for s in SOURCES[to]]), *where)
        .values(**changes)
        .returning(PaymentLink.id)
    )
    return result.scalar_one_or_none() is not None


def effective_status(link: PaymentLink, now: datetime) -> LinkStatus:
    """An active link whose time is up is expired even before the sweeper has recorded it."""
    if link.status == L.ACTIVE and link.expires_at <= now:
        return L.EXPIRED
    return LinkStatus(link.status)


# --- The JSON ----------------------------------------------------------------------------------------------


def share_text(clinic_name: str, amount: str | None, description: str, url: str) -> str:
    """What a clinic pastes into an SMS or WhatsApp: short, who it is from, how much, the link."""
    what = f"{amount} for {description}" if amount else description
    return f"{clinic_name}: please pay {what} here: {url}"


def amount_words(link: PaymentLink, locale: str) -> str | None:
    return money.format_amount(link.amount, link.currency, locale) if link.amount is not None else None


def range_words(link: PaymentLink, locale: str) -> str:
    low = money.format_amount(link.min_amount or 0, link.currency, locale)
    if link.max_amount is None:
        return f"{low} or more"
    return f"{low} to {money.format_amount(link.max_amount, link.currency, locale)}"


def link_json(
    link: PaymentLink, clinic: Clinic, clinician: User, *, now: datetime | None = None, notice: str | None = None
) -> wire.PaymentLink:
    """The contract's PaymentLink, with what screens show (amounts and dates in words) so no page formats them."""
    status = effective_status(link, now or utcnow())
    shown = amount_words(link, clinic.locale)
    return wire.PaymentLink.model_validate({
        "id": link.id,
        "clinic": clinic.external_id,
        "clinician": {"id": clinician.external_id, "name": clinician.name},
        "status": status.value,
        "amount": link.amount,
        "min_amount": link.min_amount,
        "max_amount": link.max_amount,
        "currency": link.currency,
        "description": link.description,
        "email": link.email,
        "name": link.name,
        "url": link.url,
        "share_text": share_text(name_on_receipt(clinic), shown, link.description, link.url),
        "expires_at": iso_utc(link.expires_at),
        "created_at": iso_utc(link.created_at),
        "paid_at": iso_utc(link.paid_at),
        "payment_request": link.payment_request_id,
        "last_reminded_at": iso_utc(link.last_reminded_at),
        # Optional additions.
        "amount_display": shown or range_words(link, clinic.locale),
        "expires_display": dates.format_datetime(link.expires_at, clinic.timezone) or "",
        "created_display": dates.format_datetime(link.created_at, clinic.timezone) or "",
        "last_reminded_display": dates.format_datetime(link.last_reminded_at, clinic.timezone),
        "canceled_at": iso_utc(link.canceled_at),
        "expired_at": iso_utc(link.expired_at),
        "reminders_sent": link.reminders_sent,
        "origin": link.origin,
        "notice": notice,
    })


async def load(db: AsyncSession, link_id: str) -> tuple[PaymentLink, Clinic, User]:
    row = (
        await db.execute(
            select(PaymentLink, Clinic, User)
            .join(Clinic, Clinic.id == PaymentLink.clinic_id)
            .join(User, User.id == PaymentLink.clinician_id)
            .where(PaymentLink.id == link_id)
            .execution_options(populate_existing=True)
        )
    ).one()
    return row[0], row[1], row[2]


def notice_words(link: PaymentLink, clinic: Clinic, status: LinkStatus) -> str:
    who = link.name or link.email or "The patient"
    shown = amount_words(link, clinic.locale) or "the amount they chose"
    if status is L.PAID:
        return f"{who} paid {shown} for {link.description} (pay-later link)."
    return f"The pay-later link for {link.description} ({shown}) expired unpaid."


async def changed(db: AsyncSession, link_id: str, *, now: datetime, notify: LinkStatus | None = None) -> Outbound:
    """The ``payment_link`` event for the link as it now stands; with ``notify``, the notice it carries, and the
    clinic's notice email queued once (its key names the link and the status)."""
    link, clinic, clinician = await load(db, link_id)
    notice = None
    if notify is not None and notify in NOTIFIED:
        notice = notice_words(link, clinic, notify)
        if clinic.link_notice_email:
            await insert_ignoring_conflict(
                db,
                OutboxEmail,
                {
                    "dedupe_key": f"link-notice:{link.id}:{notify.value}",
                    "kind": "link_notice",
                    "to_address": clinic.link_notice_email,
                    "payment_request_id": link.payment_request_id,
                    "created_at": now,
                    "next_attempt_at": utcnow(),
                },
                ["dedupe_key"],
            )
    body = link_json(link, clinic, clinician, now=now, notice=notice)
    return Outbound(event="payment_link", room=clinic_staff_room(clinic.id), data=body)


async def on_request_paid(db: AsyncSession, request_id: str) -> list[Outbound]:
    """A request was just recorded paid (in the caller's transaction): the link it belongs to turns paid, once."""
    # The newest of the request's links (an earlier one may have expired before this one was made).
    link_id = await db.scalar(
        select(PaymentLink.id)
        .where(PaymentLink.payment_request_id == request_id)
        .order_by(PaymentLink.created_at.desc(), PaymentLink.id.desc())
        .limit(1)
    )
    if link_id is None:
        return []
    now = utcnow()
    if not await move(db, link_id, L.PAID, now=now):
        return []
    return [await changed(db, link_id, now=now, notify=L.PAID)]
