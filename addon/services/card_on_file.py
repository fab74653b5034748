"""Saving a card at join, with consent, and removing it: the patient's side of a card on file.

When the clinic turns saved cards on, the patient widget asks at the start of the call (:func:`offer_for`). The
patient either says "Not now" (:func:`decline`: they join as ever and are not asked again in this call) or agrees to
the policy shown (:func:`start_setup`): the consent (the policy text exactly as shown, when, in which call, who) is
written on the saved-card row and in the audit trail, and a Stripe Customer and SetupIntent
(``usage=off_session``) on the clinic's connected account are made for Stripe.js's ``confirmSetup``. The card is
saved once Stripe says the SetupIntent succeeded: the browser's report (:func:`confirm_from_browser`) and the
``setup_intent.*`` events both only say "look now", and the SetupIntent is re-read from Stripe and applied with a
conditional UPDATE (:func:`apply_setup_intent`), so either order, and duplicates, save it once.

Removing (:func:`remove`) detaches the card at Stripe first, then marks the row removed; a card detached in the
clinic's Stripe dashboard (``payment_method.detached``) is marked removed too.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from addon import audit, dates
from addon.auth.access import require_role
from addon.auth.roles import Role
from addon.auth.sessions import Principal
from addon.cards import card_display
from addon.dbutil import insert_ignoring_conflict, rows_changed
from addon.email_address import parse_email
from addon.errors import Conflict, InvalidInput, NotFound
from addon.gateway import SetupIntentInfo, StripeFailure, StripeGateway, WebhookEvent
from addon.models import Call, Clinic, SavedCard, User, iso_utc, utcnow
from addon.outbound import Outbound
from addon.services.clinics import unavailable_reason
from addon.services.event_context import EventContext
from addon.services.receipts import name_on_receipt
from addon.services.stripe_errors import worded
from addon.settings import Settings
from addon.wire import saved_cards as wire

log = logging.getLogger("callpay.saved_cards")

NOT_FOUND = "That saved card doesn't exist, or isn't yours."
SAVE_FAILED = "Your card couldn't be saved. Try another card."


def new_id() -> str:
    return "card_" + secrets.token_hex(12)


def offer_key(call_id: int, patient_id: int) -> str:
    return f"{call_id}:{patient_id}"


# --- The JSON ----------------------------------------------------------------------------------------------


def card_json(card: SavedCard, call_external_id: str, timezone: str) -> wire.SavedCard:
    return wire.SavedCard(
        id=card.id,
        status=card.status,  # type: ignore[arg-type]  # the CHECK constraint keeps it to the four
        card=card_display(card.card_brand, card.card_last4),
        brand=card.card_brand,
        last4=card.card_last4,
        exp_month=card.card_exp_month,
        exp_year=card.card_exp_year,
        email=card.email,
        call=call_external_id,
        consent_text=card.consent_text,
        consent_at=iso_utc(card.consent_at),
        consent_display=dates.format_datetime(card.consent_at, timezone),
        saved_at=iso_utc(card.saved_at),
        removed_at=iso_utc(card.removed_at),
        failure_message=card.failure_message,
    )


async def _card_json(db: AsyncSession, card: SavedCard, clinic: Clinic) -> wire.SavedCard:
    call = await db.get_one(Call, card.call_id)
    return card_json(card, call.external_id, clinic.timezone)


# --- What the widget asks --------------------------------------------------------------------------------


def _patient(principal: Principal) -> tuple[int, int]:
    require_role(principal, {Role.PATIENT}, what="save a card")
    if principal.clinic_id is None or principal.call_id is None:
        raise NotFound("Open the payment window from your call.")
    return principal.clinic_id, principal.call_id


async def _active_card(db: AsyncSession, clinic: Clinic, patient_id: int) -> SavedCard | None:
    found: SavedCard | None = await db.scalar(
        select(SavedCard)
        .where(
            SavedCard.clinic_id == clinic.id,
            SavedCard.patient_id == patient_id,
            SavedCard.status == "active",
            SavedCard.stripe_account_id == clinic.stripe_account_id,
        )
        .order_by(SavedCard.saved_at.desc(), SavedCard.id.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )
    return found


async def _this_call(db: AsyncSession, call_id: int, patient_id: int) -> SavedCard | None:
    found: SavedCard | None = await db.scalar(
        select(SavedCard)
        .where(SavedCard.offer_key == offer_key(call_id, patient_id))
        .execution_options(populate_existing=True)
    )
    return found


def _enabled(clinic: Clinic) -> bool:
    return bool(clinic.saved_cards_enabled and clinic.saved_card_policy) and unavailable_reason(clinic) is None


async def offer_for(db: AsyncSession, principal: Principal) -> wire.SavedCardOffer:
    """``GET /api/v1/saved-card``: whether to ask now, the policy to show, and the patient's card if saved."""
    clinic_id, call_id = _patient(principal)
    clinic = await db.get_one(Clinic, clinic_id)
    enabled = _enabled(clinic)
    active = await _active_card(db, clinic, principal.user_id) if clinic.stripe_account_id else None
    here = await _this_call(db, call_id, principal.user_id)
    shown = active or (here if here is not None and here.status == "pending" else None)
    patient = await db.get_one(User, principal.user_id)
    return wire.SavedCardOffer(
        email=(shown.email if shown is not None else None) or patient.email,
        enabled=enabled,
        ask=enabled and active is None and (here is None or here.status == "pending"),
        clinic_name=name_on_receipt(clinic),
        policy=clinic.saved_card_policy if enabled else None,
        card=await _card_json(db, shown, clinic) if shown is not None else None,
    )


async def decline(db: AsyncSession, principal: Principal) -> wire.SavedCardOffer:
    """ "Not now": the patient joins as ever and is not asked again in this call."""
    clinic_id, call_id = _patient(principal)
    now = utcnow()
    inserted = await insert_ignoring_conflict(
        db,
        SavedCard,
        {
            "id": new_id(),
            "offer_key": offer_key(call_id, principal.user_id),
            "clinic_id": clinic_id,
            "patient_id": principal.user_id,
            "call_id": call_id,
            "status": "declined",
            "created_at": now,
            "updated_at": now,
        },
        ["offer_key"],
    )
    if not inserted:
        # Asked to save and then thought better of it: an unconfirmed save becomes the call's "Not now".
        await db.execute(
            update(SavedCard)
            .where(SavedCard.offer_key == offer_key(call_id, principal.user_id), SavedCard.status == "pending")
            .values(status="declined", updated_at=now)
        )
    audit.record(
        db,
        "saved_card.declined",
        actor=principal,
        clinic_id=clinic_id,
        subject_type="call",
        subject_id=principal.call_external_id,
    )
    await db.flush()
    return await offer_for(db, principal)


# --- Saving --------------------------------------------------------------------------------------------------


def _same_policy(shown: str, policy: str) -> bool:
    def plain(text: str) -> str:
        return " ".join(text.split())

    return plain(shown) == plain(policy)


@dataclass(frozen=True)
class _ToCreate:
    card_id: str
    account_id: str
    customer_id: str | None
    patient_external_id: str
    clinic_external_id: str
    call_external_id: str


async def start_setup(
    database: async_sessionmaker[AsyncSession],
    gateway: StripeGateway,
    settings: Settings,
    principal: Principal,
    body: dict[str, Any],
) -> wire.SavedCardSetup:
    """The patient agrees to the policy shown and opens the card fields: consent recorded, then a Customer and a
    SetupIntent on the clinic's account (one per offer: a second press returns the same one)."""
    clinic_id, call_id = _patient(principal)
    email = parse_email(body.get("email"))
    if body.get("agree") is not True:
        raise InvalidInput("Tick that you agree to the clinic's policy to save a card.", field="agree")
    async with database.begin() as db:
        clinic = await db.get_one(Clinic, clinic_id)
        if not _enabled(clinic) or clinic.saved_card_policy is None:
            raise Conflict("This clinic isn't saving cards right now.", code="saved_cards_off")
        if not _same_policy(str(body.get("policy") or ""), clinic.saved_card_policy):
            raise Conflict(
                "The clinic's policy has just changed. Read it again before you agree.",
                code="policy_changed",
                field="policy",
            )
        if await _active_card(db, clinic, principal.user_id) is not None:
            raise Conflict("You already have a card saved for this clinic.", code="already_saved")
        now = utcnow()
        key = offer_key(call_id, principal.user_id)
        await insert_ignoring_conflict(
            db,
            SavedCard,
            {
                "id": new_id(),
                "offer_key": key,
                "clinic_id": clinic_id,
                "patient_id": principal.user_id,
                "call_id": call_id,
                "status": "pending",
                "created_at": now,
                "updated_at": now,
            },
            ["offer_key"],
        )
        # The consent, as the patient gave it: the policy exactly as the clinic has it (and they were shown), now.
        await db.execute(
            update(SavedCard)
            .where(SavedCard.offer_key == key, SavedCard.status.in_(["declined", "pending"]))
            .values(
                status="pending",
                email=email,
                consent_text=clinic.saved_card_policy,
                consent_at=now,
                failure_message=None,
                updated_at=now,
            )
        )
        card = await _this_call(db, call_id, principal.user_id)
        assert card is not None
        if card.status != "pending":
            raise Conflict("You already have a card saved for this clinic.", code="already_saved")
        audit.record(
            db,
            "saved_card.consented",
            actor=principal,
            clinic_id=clinic_id,
            subject_type="saved_card",
            subject_id=card.id,
            data={"policy": clinic.saved_card_policy, "call": principal.call_external_id, "email": email},
        )
        assert clinic.stripe_account_id is not None
        existing = (
            card.stripe_setup_intent_id
            if card.stripe_account_id == clinic.stripe_account_id and card.stripe_client_secret
            else None
        )
        to_create = None
        if existing is None:
            # The patient's Customer on this account, from an earlier saved card, if they had one.
            customer = await db.scalar(
                select(SavedCard.stripe_customer_id)
                .where(
                    SavedCard.clinic_id == clinic_id,
                    SavedCard.patient_id == principal.user_id,
                    SavedCard.stripe_account_id == clinic.stripe_account_id,
                    SavedCard.stripe_customer_id.is_not(None),
                )
                .order_by(SavedCard.created_at.desc())
                .limit(1)
            )
            patient = await db.get_one(User, principal.user_id)
            to_create = _ToCreate(
                card_id=card.id,
                account_id=clinic.stripe_account_id,
                customer_id=customer,
                patient_external_id=patient.external_id,
                clinic_external_id=clinic.external_id,
                call_external_id=principal.call_external_id or "",
            )
    if to_create is not None:
        await _create_at_stripe(database, gateway, to_create)
    async with database() as db:
        card = await db.get_one(SavedCard, card.id, populate_existing=True)
        clinic = await db.get_one(Clinic, clinic_id)
        assert card.stripe_client_secret is not None and card.stripe_account_id is not None
        return wire.SavedCardSetup(
            client_secret=card.stripe_client_secret,
            publishable_key=settings.stripe_publishable_key,
            stripe_account=card.stripe_account_id,
            stripe_js_url=settings.stripe_js_url,
            saved_card=await _card_json(db, card, clinic),
        )


async def _create_at_stripe(
    database: async_sessionmaker[AsyncSession], gateway: StripeGateway, made: _ToCreate
) -> None:
    """The Customer (unless the patient has one on this account) and the SetupIntent, outside any transaction;
    stored by a conditional UPDATE, so of two racing presses one SetupIntent stays and the other is canceled."""
    ids = {"patient": made.patient_external_id, "clinic": made.clinic_external_id}
    with worded():
        customer = made.customer_id or await gateway.create_customer(
            account_id=made.account_id,
            # Ids only, as for payments: Callpay sends the receipts, so Stripe needs neither the address nor a name.
            email=None,
            name=None,
            metadata=ids,
            idempotency_key=f"callpay-customer:{made.card_id}",
        )
        setup = await gateway.create_setup_intent(
            account_id=made.account_id,
            customer_id=customer,
            metadata={**ids, "call": made.call_external_id, "saved_card": made.card_id},
            idempotency_scope=f"callpay-setup:{made.card_id}",
        )
    async with database.begin() as db:
        stored = rows_changed(
            await db.execute(
                update(SavedCard)
                .where(SavedCard.id == made.card_id, SavedCard.stripe_client_secret.is_(None))
                .values(
                    stripe_account_id=made.account_id,
                    stripe_customer_id=customer,
                    stripe_setup_intent_id=setup.id,
                    stripe_client_secret=setup.client_secret,
                    updated_at=utcnow(),
                )
            )
        )
    if not stored:
        try:
            await gateway.cancel_setup_intent(account_id=made.account_id, setup_intent_id=setup.id)
        except StripeFailure:
            log.warning("could not cancel a duplicate setup intent", extra={"setup_intent": setup.id})


async def apply_setup_intent(db: AsyncSession, card_id: str, setup: SetupIntentInfo) -> bool:
    """Record what Stripe says of the card's SetupIntent; True when this call saved the card."""
    now = utcnow()
    card = await db.get(SavedCard, card_id, populate_existing=True)
    if card is None or card.stripe_setup_intent_id != setup.id:
        return False
    if setup.status == "succeeded" and setup.payment_method_id:
        pm = setup.payment_method
        saved = rows_changed(
            await db.execute(
                update(SavedCard)
                .where(SavedCard.id == card_id, SavedCard.status.in_(["pending", "declined"]))
                .values(
                    status="active",
                    stripe_payment_method_id=setup.payment_method_id,
                    card_brand=pm.card_brand if pm else None,
                    card_last4=pm.card_last4 if pm else None,
                    card_exp_month=pm.exp_month if pm else None,
                    card_exp_year=pm.exp_year if pm else None,
                    failure_message=None,
                    saved_at=now,
                    updated_at=now,
                )
            )
        )
        if saved:
            audit.record(
                db,
                "saved_card.saved",
                clinic_id=card.clinic_id,
                subject_type="saved_card",
                subject_id=card_id,
                data={"setup_intent": setup.id, "card": card_display(pm.card_brand, pm.card_last4) if pm else None},
            )
        return bool(saved)
    if setup.status == "requires_payment_method" and (setup.failure_code or setup.failure_message):
        message = (setup.failure_message or "").strip()
        words = f"Your card couldn't be saved — {message[0].lower()}{message[1:]}" if message else SAVE_FAILED
        if not words.endswith("."):
            words += "."
        await db.execute(
            update(SavedCard)
            .where(SavedCard.id == card_id, SavedCard.status == "pending")
            .values(failure_message=words[:500], updated_at=now)
        )
    return False


async def confirm_from_browser(
    database: async_sessionmaker[AsyncSession], gateway: StripeGateway, principal: Principal
) -> wire.SavedCardOffer:
    """The browser says ``confirmSetup`` finished: ask Stripe what really happened and apply that."""
    _, call_id = _patient(principal)
    async with database() as db:
        card = await _this_call(db, call_id, principal.user_id)
        if card is None or card.stripe_setup_intent_id is None or card.stripe_account_id is None:
            raise Conflict("There is no card being saved. Choose Save a card first.", code="no_setup")
        card_id, account_id, setup_id = card.id, card.stripe_account_id, card.stripe_setup_intent_id
    with worded():
        setup = await gateway.retrieve_setup_intent(account_id=account_id, setup_intent_id=setup_id)
    async with database.begin() as db:
        await apply_setup_intent(db, card_id, setup)
        return await offer_for(db, principal)


# --- Removing ------------------------------------------------------------------------------------------------


async def remove(
    database: async_sessionmaker[AsyncSession], gateway: StripeGateway, principal: Principal, card_id: object
) -> wire.SavedCard:
    """The patient removes their saved card: detached at Stripe (so it can never be charged again), then marked
    removed. Removing it twice answers the removed card."""
    clinic_id, _ = _patient(principal)
    async with database() as db:
        card = await db.get(SavedCard, card_id) if isinstance(card_id, str) else None
        if card is None or card.clinic_id != clinic_id or card.patient_id != principal.user_id:
            raise NotFound(NOT_FOUND)
        account_id, pm_id, setup_id, status = (
            card.stripe_account_id, card.stripe_payment_method_id, card.stripe_setup_intent_id, card.status,
        )  # fmt: skip
    if status == "removed" or status == "declined":
        async with database() as db:
            return await _card_json(db, card, await db.get_one(Clinic, clinic_id))
    if account_id is not None:
        with worded():
            if pm_id is not None:
                await gateway.detach_payment_method(account_id=account_id, payment_method_id=pm_id)
            elif setup_id is not None:
                await gateway.cancel_setup_intent(account_id=account_id, setup_intent_id=setup_id)
    async with database.begin() as db:
        await _mark_removed(db, card.id, actor=principal, why="patient")
        card = await db.get_one(SavedCard, card.id, populate_existing=True)
        return await _card_json(db, card, await db.get_one(Clinic, clinic_id))


async def _mark_removed(db: AsyncSession, card_id: str, *, actor: Principal | None, why: str) -> bool:
    now = utcnow()
    moved = rows_changed(
        await db.execute(
            update(SavedCard)
            .where(SavedCard.id == card_id, SavedCard.status.in_(["pending", "active"]))
            # The call's offer is answered no more: the patient may save another card, even in this call.
            .values(status="removed", offer_key=None, removed_at=now, updated_at=now)
        )
    )
    if moved:
        card = await db.get_one(SavedCard, card_id)
        audit.record(
            db,
            "saved_card.removed",
            actor=actor,
            clinic_id=card.clinic_id,
            subject_type="saved_card",
            subject_id=card_id,
            data={"by": why},
        )
    return bool(moved)


# --- Stripe's events -----------------------------------------------------------------------------------------


async def prefetch_setup_intent(
    database: async_sessionmaker[AsyncSession], event: WebhookEvent, context: EventContext
) -> None:
    """Re-read the event's SetupIntent from Stripe before the transaction opens: the payload may be stale."""
    setup_id = event.object.get("id")
    if not isinstance(setup_id, str):
        return
    async with database() as db:
        card = await db.scalar(select(SavedCard).where(SavedCard.stripe_setup_intent_id == setup_id))
        if card is None or card.stripe_account_id is None:
            return
        account_id = card.stripe_account_id
    try:
        context.setup_intents[setup_id] = await context.gateway.retrieve_setup_intent(
            account_id=account_id, setup_intent_id=setup_id
        )
    except StripeFailure:
        return  # the handler asks again and, failing, the event is retried


async def on_setup_intent(db: AsyncSession, event: WebhookEvent, context: EventContext) -> list[Outbound]:
    """setup_intent.succeeded / setup_failed / canceled: look at the SetupIntent as Stripe has it now."""
    setup_id = event.object.get("id")
    if not isinstance(setup_id, str):
        return []
    card = await db.scalar(select(SavedCard).where(SavedCard.stripe_setup_intent_id == setup_id))
    if card is None or card.stripe_account_id is None:
        return []  # not ours, or not stored yet (the browser's report will apply it)
    setup = context.setup_intents.get(setup_id) or await context.gateway.retrieve_setup_intent(
        account_id=card.stripe_account_id, setup_intent_id=setup_id
    )
    await apply_setup_intent(db, card.id, setup)
    return []


async def on_payment_method_detached(db: AsyncSession, event: WebhookEvent, context: EventContext) -> list[Outbound]:
    """payment_method.detached: the card was taken off its customer (in the clinic's Stripe dashboard, or by us)."""
    pm_id = event.object.get("id")
    if not isinstance(pm_id, str):
        return []
    cards = (
        await db.scalars(
            select(SavedCard).where(SavedCard.stripe_payment_method_id == pm_id, SavedCard.status == "active")
        )
    ).all()
    for card in cards:
        assert card.stripe_account_id is not None
        try:
            pm = await context.gateway.retrieve_payment_method(
                account_id=card.stripe_account_id, payment_method_id=pm_id
            )
        except StripeFailure:
            raise
        if pm.customer is None or pm.customer != card.stripe_customer_id:
            await _mark_removed(db, card.id, actor=None, why="stripe")
    return []


HANDLERS = {
    "setup_intent.succeeded": on_setup_intent,
    "setup_intent.setup_failed": on_setup_intent,
    "setup_intent.canceled": on_setup_intent,
    "payment_method.detached": on_payment_method_detached,
}
PREPARERS = {name: prefetch_setup_intent for name in HANDLERS if name.startswith("setup_intent.")}
