"""Checkout: the PaymentIntent a patient pays a request with, on the clinic's own Stripe account.

One PaymentIntent per request, as a direct charge on the connected account (``Stripe-Account``), so the money and
the records land in the clinic's Stripe dashboard. Repeating checkout returns the same intent; a new email only
changes where Callpay sends the receipt, and only while the request is unpaid. Stripe is never told the patient's
email (``receipt_email`` would have Stripe send a second receipt, and keep the address): Callpay sends the receipt.
Two checkouts racing are settled by a conditional UPDATE on the empty intent column: the first to write wins and
the other's intent (made only when what was sent differs, since the idempotency key covers every parameter) is
canceled.

The patient whose checkout made the intent keeps it. In a call with two patients (a patient and a carer), the other
one gets a 409 ``paid_by_someone_else`` rather than the same ``client_secret``: sharing it would let them take over
a payment the first has started, or send its receipt to their own address.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from typing import Any

from sqlalchemy import bindparam, exists, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from addon.auth.access import require_role
from addon.auth.roles import Role
from addon.auth.sessions import Principal
from addon.email_address import parse_email
from addon.errors import Conflict
from addon.gateway import PaymentIntentInfo, StripeFailure, StripeGateway
from addon.lifecycle import MONEY_TAKEN, Status, Trigger
from addon.models import Clinic, PayAllItem, PaymentRequest, User
from addon.services import participants, pay_all, receipts
from addon.services.clinics import require_payments_available
from addon.services.payment_requests import find_in_call
from addon.services.stripe_errors import worded
from addon.services.transitions import transition
from addon.settings import Settings

log = logging.getLogger("callpay.checkout")


@dataclass(frozen=True)
class CheckoutSession:
    client_secret: str
    publishable_key: str
    stripe_account: str
    stripe_js_url: str
    amount: int
    currency: str
    # The request as this checkout last read it (a single checkout's; None for Pay all), so what follows in the
    # same request (saying the patient is paying now) needn't read it again. Not part of the answer.
    request: PaymentRequest | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "request"}


def refuse_unless_payable(pr: PaymentRequest) -> None:
    if Trigger.CHECKOUT_STARTED.may_start(pr.status):
        return
    if pr.status in MONEY_TAKEN:
        raise Conflict("This payment has already been made. There's nothing more to pay.", code="already_paid")
    if pr.status == Status.CANCELED:
        raise Conflict("The clinician canceled this payment request.", code="request_canceled")
    if pr.status == Status.PROCESSING:
        raise Conflict("Your payment is being processed. There's no need to pay again.", code="payment_processing")
    raise Conflict("This payment request can't be paid now.", code="not_payable")


PAYING_WITH_OTHERS = (
    "You've started paying this together with your other requests, in another window. Finish there, or press Pay "
    "now again to pay this one on its own."
)


class _PaidWithOthers(Exception):
    """A Pay all claimed the request while its own intent was being made: the set keeps it."""


SOMEONE_ELSE = (
    "Someone else in the call has started paying this. If they can't finish, ask your clinician to request it "
    "again for you."
)


def refuse_unless_theirs(pr: PaymentRequest, principal: Principal) -> None:
    """Only the patient whose checkout made the request's PaymentIntent may have its client_secret."""
    if pr.checkout_user_id is not None and pr.checkout_user_id != principal.user_id:
        raise Conflict(SOMEONE_ELSE, code="paid_by_someone_else")


def idempotency_scope(pr: PaymentRequest) -> str:
    # The gateway adds a digest of everything sent (the email, the clinic's fee, the clinician's name...), so a
    # retried or doubled checkout replays Stripe's first answer and a changed one is a new intent instead of an
    # IdempotencyError; the conditional UPDATE in _attach keeps one intent per request either way.
    return f"callpay-checkout:{pr.id}"


async def checkout(
    database: async_sessionmaker[AsyncSession],
    gateway: StripeGateway,
    settings: Settings,
    principal: Principal,
    request_id: object,
    body: Any,
) -> CheckoutSession:
    """What the patient's browser needs to pay the request with Stripe.js.

    Stripe creates the intent while no transaction is open (a network call inside one would hold SQLite's single
    write lock, and a pooled connection, for its whole length); the conditional UPDATE that attaches it makes
    that safe against a second checkout racing this one.
    """
    async with database.begin() as db:
        pr = await find_in_call(db, principal, request_id)
        require_role(principal, {Role.PATIENT}, what="pay payment requests")
        participants.require_payer(pr, principal)
        email = parse_email(body.get("email") if isinstance(body, dict) else None)
        refuse_unless_payable(pr)
        refuse_unless_theirs(pr, principal)
        await receipts.record_patient_name(db, pr, principal, body.get("name") if isinstance(body, dict) else None)
        await receipts.record_payer(db, pr, principal)
        clinic = await require_payments_available(db, pr.clinic_id)
        new_intent = None if pr.stripe_payment_intent_id else await _intent_to_create(db, pr, clinic, email, principal)
    # Paying it on its own after starting Pay all: that set's intent goes first, so it can't be paid twice.
    retired = await pay_all.before_single_checkout(database, gateway, principal, pr.id)
    if new_intent is not None:
        with worded():
            intent = await gateway.create_payment_intent(**new_intent)
        try:
            async with database.begin() as db:
                attached, pr = await _attach(db, pr.id, intent, clinic, email, user_id=principal.user_id)
        except _PaidWithOthers:
            await _discard(gateway, clinic.stripe_account_id, intent)
            raise Conflict(PAYING_WITH_OTHERS, code="paying_with_others") from None
        if not attached:
            await _discard(gateway, clinic.stripe_account_id, intent)
    elif retired:
        async with database.begin() as db:
            pr = await find_in_call(db, principal, request_id)
    if new_intent is not None or retired:
        # What was checked at the start may have changed meanwhile: the request, read once since, is checked again.
        refuse_unless_payable(pr)
        refuse_unless_theirs(pr, principal)  # another patient's checkout won the race
    if pr.stripe_payment_intent_id is not None and pr.patient_email != email:
        await _change_email(database, gateway, pr, email)
    assert pr.stripe_client_secret is not None and pr.stripe_account_id is not None
    return CheckoutSession(
        client_secret=pr.stripe_client_secret,
        publishable_key=settings.stripe_publishable_key,
        stripe_account=pr.stripe_account_id,
        stripe_js_url=settings.stripe_js_url,
        amount=pr.amount,
        currency=pr.currency,
        request=pr,
    )


async def checkout_call(
    database: async_sessionmaker[AsyncSession],
    gateway: StripeGateway,
    settings: Settings,
    principal: Principal,
    call: str,
    body: Any,
) -> CheckoutSession:
    """``POST /api/v1/calls/{call}/checkout``: Pay all, answered as a single checkout (see :mod:`.pay_all`)."""
    paying = await pay_all.checkout_all(
        database, gateway, principal, call, body if isinstance(body, dict) else {}, describe=clinic_description
    )
    assert paying.stripe_client_secret is not None and paying.stripe_account_id is not None
    return CheckoutSession(
        client_secret=paying.stripe_client_secret,
        publishable_key=settings.stripe_publishable_key,
        stripe_account=paying.stripe_account_id,
        stripe_js_url=settings.stripe_js_url,
        amount=paying.amount,
        currency=paying.currency,
    )


NEUTRAL_DESCRIPTION = "Telehealth consultation"


def clinic_description(clinic: Clinic) -> str:
    """What Stripe is told a payment of several requests is for: as :func:`stripe_description`, without a number."""
    name = clinic.receipt_business_name or clinic.name
    return " · ".join([NEUTRAL_DESCRIPTION, name[:200]] if name else [NEUTRAL_DESCRIPTION])


def stripe_description(pr: PaymentRequest, clinic: Clinic) -> str:
    """What Stripe is told a payment is for: by default never the clinician's words, which may be health
    information (Stripe asks that nothing sensitive goes in a description).

    "Telehealth consultation", the clinic's name and the receipt number when it has one, so the clinic's Stripe
    dashboard and the card statement line stay recognisable without saying what the consultation was about. A
    clinic that wants its own words in its Stripe dashboard turns on ``share_description_with_stripe``."""
    parts = [NEUTRAL_DESCRIPTION]
    name = clinic.receipt_business_name or clinic.name
    if name:
        parts.append(name[:200])
    if pr.receipt_number:
        parts.append(pr.receipt_number)
    if clinic.share_description_with_stripe and pr.description:
        parts.append(pr.description)
    return " · ".join(parts)[:1000]


async def _intent_to_create(
    db: AsyncSession, pr: PaymentRequest, clinic: Clinic, email: str, principal: Principal
) -> dict[str, Any]:
    """The gateway's create_payment_intent arguments for this request, read while the transaction is open. The
    request is of the patient's own call (find_in_call), so the session names the call."""
    assert principal.call_id == pr.call_id and principal.call_external_id is not None
    clinician = await db.scalar(_CLINICIAN, {"user_id": pr.clinician_id})
    assert clinician is not None
    assert clinic.stripe_account_id is not None
    fee = clinic.application_fee_amount
    return dict(
        account_id=clinic.stripe_account_id,
        amount=pr.amount,
        currency=pr.currency,
        description=stripe_description(pr, clinic),
        # Callpay sends the receipt; Stripe would send a second one and keep the patient's address.
        receipt_email=None,
        # Ids only: the clinic's records in Callpay explain the payment; Stripe holds no names or health text.
        metadata={
            "payment_request": pr.id,
            "call": principal.call_external_id,
            "clinic": clinic.external_id,
            "clinician": clinician,
        },
        idempotency_scope=idempotency_scope(pr),
        application_fee_amount=fee if fee and fee < pr.amount else None,
        # A hold: the card is authorised now and charged (captured) when the clinician, the call's end or the
        # sweeper says so.
        capture_method="manual" if pr.capture == "hold" else None,
    )


async def _attach(
    db: AsyncSession,
    request_id: str,
    intent: PaymentIntentInfo,
    clinic: Clinic,
    email: str,
    user_id: int | None = None,
) -> tuple[bool, PaymentRequest]:
    """Store the intent unless another checkout stored one first: whether the request now has this intent, and
    the request as it now stands (one read, after the conditional UPDATE). ``user_id`` is the patient who keeps
    it.

    Raises :class:`_PaidWithOthers` (rolling the attach back) when an open Pay all set claims the request: the
    UPDATE holds the request's row, which a set locks before it claims it (``pay_all._create``), so the claim is
    read after any set that got there first has committed, and a set that comes later sees this intent and stops.
    Without it, on PostgreSQL, Pay now and Pay all at the same moment could each leave an intent that takes the
    request's money."""
    moved = await transition(
        db,
        request_id,
        Trigger.CHECKOUT_STARTED,
        intent=None,
        values={
            "stripe_payment_intent_id": intent.id,
            "stripe_client_secret": intent.client_secret,
            "stripe_account_id": clinic.stripe_account_id,
            "patient_email": email,
            "checkout_user_id": user_id,
        },
    )
    pr, claimed = (await db.execute(_ATTACHED, {"request_id": request_id})).one()
    if moved.moved and claimed:
        raise _PaidWithOthers()
    return moved.moved or pr.stripe_payment_intent_id == intent.id, pr


# A checkout's reads, built once.
_CLINICIAN = select(User.external_id).where(User.id == bindparam("user_id"))
_ATTACHED = (
    select(PaymentRequest, exists().where(PayAllItem.claim == bindparam("request_id")))
    .where(PaymentRequest.id == bindparam("request_id"))
    .execution_options(populate_existing=True)
)


async def _discard(gateway: StripeGateway, account_id: str | None, intent: PaymentIntentInfo) -> None:
    """Cancel an intent that lost the race, so it can't be paid; if that fails it simply expires unpaid."""
    if account_id is None:
        return
    try:
        await gateway.cancel_payment_intent(
            account_id=account_id, intent_id=intent.id, idempotency_key=f"callpay-discard:{intent.id}"
        )
    except StripeFailure:
        log.warning("could not cancel a duplicate payment intent", extra={"payment_intent": intent.id})


async def _change_email(
    database: async_sessionmaker[AsyncSession], gateway: StripeGateway, seen: PaymentRequest, email: str
) -> None:
    """A new receipt address, only while the request is unpaid and still on the same intent.

    What was read a moment ago may be stale: the payment can land between checkout's status check and this. So the
    row is read again first, and a paid request keeps the address its receipt went to. Stripe isn't told: it never
    holds the patient's address (``gateway`` stays in the signature for the callers that pass it).
    """
    async with database.begin() as db:
        pr = await db.get_one(PaymentRequest, seen.id, populate_existing=True)
        refuse_unless_payable(pr)
        if pr.stripe_payment_intent_id != seen.stripe_payment_intent_id or pr.patient_email == email:
            return  # a racing checkout already did it, or another intent is now the request's
        intent_id = pr.stripe_payment_intent_id
        moved = await transition(
            db,
            seen.id,
            Trigger.RECEIPT_EMAIL_CHANGED,
            intent=intent_id,
            values={"patient_email": email},
        )
        now = await db.get_one(PaymentRequest, seen.id, populate_existing=True)
    if moved.moved:
        seen.patient_email = email
        return
    refuse_unless_payable(now)
    raise Conflict("This payment request changed while you were paying. Please try again.", code="not_payable")
