"""No-show and late-cancellation fees, charged to a patient's saved card from the payment centre.

A team admin of the clinic (a clinician too, when the clinic allows it) charges one of the clinic's fees to a card
saved for it, citing a call (by default the one the card was saved in). The charge goes through
:func:`addon.services.saved_cards.charge_saved_card`, idempotent on the fee, the call and the patient: a double
click, a retry or two admins at once charge once, and a repeat answers what the first did. When the bank wants the
patient, or declines, the patient is emailed a pay-later link instead, and the answer says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from addon import dates, money
from addon.auth.roles import Role
from addon.auth.sessions import Principal
from addon.cards import card_display
from addon.clock import Clock
from addon.errors import Conflict, Forbidden, InvalidInput, NotFound
from addon.gateway import StripeGateway
from addon.models import Call, Clinic, SavedCard, User, iso_utc
from addon.outbound import Outbound
from addon.services import saved_cards
from addon.services.card_on_file import NOT_FOUND
from addon.wire import saved_cards as wire
from addon.wire.common import Person

FEES: dict[wire.FeeKind, tuple[str, str]] = {
    # kind: (the label on screen and on the request, the purpose recorded with the charge)
    "no_show": ("No-show fee", "no_show_fee"),
    "late_cancellation": ("Late-cancellation fee", "late_cancellation_fee"),
}
STATUSES = ("active", "removed")


def _amount(clinic: Clinic, kind: wire.FeeKind) -> int | None:
    return clinic.no_show_fee if kind == "no_show" else clinic.late_cancellation_fee


def fees_of(clinic: Clinic) -> list[wire.Fee]:
    found = []
    for kind, (label, _) in FEES.items():
        amount = _amount(clinic, kind)
        if amount is not None:
            found.append(
                wire.Fee(
                    kind=kind,
                    label=label,
                    amount=amount,
                    currency=clinic.default_currency,
                    amount_display=money.format_amount(amount, clinic.default_currency, clinic.locale),
                )
            )
    return found


def may_charge(principal: Principal, clinic: Clinic) -> bool:
    if principal.clinic_id != clinic.id:
        return False
    return principal.role is Role.TEAM_ADMIN or (principal.role is Role.TEAM_MEMBER and clinic.clinician_fees)


def _staff_clinic(principal: Principal) -> int:
    if principal.role not in (Role.TEAM_ADMIN, Role.TEAM_MEMBER) or principal.clinic_id is None:
        raise Forbidden("Open the payment centre from your clinic to see its saved cards.", code="role_not_allowed")
    return principal.clinic_id


async def list_cards(db: AsyncSession, principal: Principal, query: Mapping[str, str]) -> wire.SavedCardsPage:
    """``GET /api/v1/saved-cards?status=active|removed``: the clinic's saved cards, newest first."""
    clinic_id = _staff_clinic(principal)
    clinic = await db.get_one(Clinic, clinic_id)
    status = query.get("status") or "active"
    if status not in STATUSES:
        raise InvalidInput("Choose active or removed.", field="status")
    rows = (
        await db.execute(
            select(SavedCard, User, Call)
            .join(User, User.id == SavedCard.patient_id)
            .join(Call, Call.id == SavedCard.call_id)
            .where(SavedCard.clinic_id == clinic_id, SavedCard.status == status)
            .order_by(SavedCard.saved_at.desc(), SavedCard.id.desc())
            .limit(200)
        )
    ).all()
    tz = clinic.timezone
    return wire.SavedCardsPage(
        data=[
            wire.StaffSavedCard(
                id=card.id,
                status=card.status,  # type: ignore[arg-type]
                patient=Person(id=user.external_id, name=user.name),
                card=card_display(card.card_brand, card.card_last4),
                email=card.email,
                call=call.external_id,
                consent_text=card.consent_text,
                consent_at=iso_utc(card.consent_at),
                consent_display=dates.format_datetime(card.consent_at, tz),
                saved_at=iso_utc(card.saved_at),
                saved_display=dates.format_datetime(card.saved_at, tz),
                removed_at=iso_utc(card.removed_at),
            )
            for card, user, call in rows
            if card.status != "active" or card.stripe_account_id == clinic.stripe_account_id
        ],
        fees=fees_of(clinic),
        may_charge=may_charge(principal, clinic),
    )


@dataclass(frozen=True)
class FeeOutcome:
    body: wire.FeeCharged
    events: list[Outbound] = field(default_factory=list)
    created: bool = True


async def charge_fee(
    database: async_sessionmaker[AsyncSession],
    gateway: StripeGateway,
    principal: Principal,
    card_id: object,
    body: Mapping[str, Any],
    *,
    clock: Clock,
    base_url: str,
) -> FeeOutcome:
    """``POST /api/v1/saved-cards/{id}/fees``: charge a fee to the card, or send the patient a link for it."""
    clinic_id = _staff_clinic(principal)
    kind = body.get("kind")
    if kind not in FEES:
        raise InvalidInput("Choose no_show or late_cancellation.", field="kind")
    async with database() as db:
        card = await db.get(SavedCard, card_id) if isinstance(card_id, str) else None
        if card is None or card.clinic_id != clinic_id:
            raise NotFound(NOT_FOUND)
        clinic = await db.get_one(Clinic, clinic_id)
        if not may_charge(principal, clinic):
            raise Forbidden(
                "Only a clinic admin can charge fees to a saved card"
                + ("." if principal.role is not Role.TEAM_MEMBER else ", unless the clinic lets clinicians."),
                code="role_not_allowed",
            )
        label, purpose = FEES[kind]
        amount = _amount(clinic, kind)
        if amount is None:
            raise Conflict(f"The clinic hasn't set a {label.lower()}. A clinic admin can set one in Client Payments.",
                           code="fee_not_set", field="kind")  # fmt: skip
        if card.status != "active" or card.stripe_account_id != clinic.stripe_account_id:
            raise Conflict("This card isn't saved any more: the patient removed it.", code="card_removed")
        call = await _cited_call(db, clinic, card, body.get("call"))
        call_id, patient_id, currency = call.id, card.patient_id, clinic.default_currency
        patient = await db.get_one(User, card.patient_id)
    outcome = await saved_cards.charge_saved_card(
        database, gateway, clock=clock, base_url=base_url, clinic_id=clinic_id, call_id=call_id,
        clinician_id=principal.user_id, amount=amount, currency=currency, description=label, purpose=purpose,
        # One fee of a kind per call and patient: however many clicks, tabs or admins, one charge.
        idempotency_key=f"fee:{kind}:{call_id}:{patient_id}", patient_id=patient_id, actor=principal,
    )  # fmt: skip
    shown = money.format_amount(amount, currency, clinic.locale)
    if isinstance(outcome, saved_cards.Paid):
        message = f"{label} of {shown} charged to {card_display(card.card_brand, card.card_last4) or 'the card'}."
        if not outcome.first:
            message = f"Already charged: {message}"
        answer = wire.FeeCharged(
            outcome="paid", message=message, payment_request=outcome.payment_request, payment_link=None
        )
        return FeeOutcome(answer, outcome.events, outcome.first)
    if isinstance(outcome, saved_cards.NeedsPatient):
        why = {
            "authentication_required": "The patient's bank wants them to confirm this payment",
            "declined": "The card was declined",
            "card_removed": "The card was removed",
        }[outcome.reason]
        where = f"emailed to {outcome.link.email}" if outcome.link.email else "made (copy it for the patient)"
        message = f"{why}, so nothing was charged. A pay-later link for the {label.lower()} of {shown} was {where}."
        answer = wire.FeeCharged(
            outcome="needs_patient", message=message, payment_request=outcome.payment_request,
            payment_link=outcome.link,
        )  # fmt: skip
        return FeeOutcome(answer, outcome.events, outcome.first)
    raise Conflict(f"{patient.name} has no saved card this clinic can charge.", code="no_saved_card")


async def _cited_call(db: AsyncSession, clinic: Clinic, card: SavedCard, given: object) -> Call:
    if given is None or given == "":
        return await db.get_one(Call, card.call_id)
    if not isinstance(given, str):
        raise InvalidInput("Give the call's id as text.", field="call")
    call = await db.scalar(select(Call).where(Call.clinic_id == clinic.id, Call.external_id == given.strip()))
    if call is None:
        raise InvalidInput("That call isn't one this clinic has had.", field="call")
    return call
