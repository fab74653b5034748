"""Pay all: the patient pays several open requests of the call with one PaymentIntent, for their sum.

A set (:class:`~addon.models.PayAll`) names its requests twice, in ``pay_all_items`` and in the intent's metadata
(``payment_requests``, ids only), and the two are changed together: Stripe first, then the database. When the
intent succeeds, the metadata Stripe hands back says which requests the money was for, and each is marked paid by
the lifecycle's one ``PAID_ALL`` row, in the one transaction that records the payment (so there is one receipt, see
:mod:`addon.services.receipts`, and a ``payment_received`` per request, as the contract has it).

What keeps the money right:

- **One set per request.** ``PayAllItem.claim`` is unique: a request is in at most one open set. Asking for a
  different set cancels the old set's intent at Stripe first (refused when it is already being paid), then marks it
  ``superseded``. The same set again is the same intent.
- **No second intent for the same request.** A request joining a set has its own unconfirmed intent (from an earlier
  Pay now) canceled at Stripe before the set's intent exists; its ``payment_intent.canceled`` only unhooks it (see
  :func:`own_intent_canceled`). Pay now on a request in an open set cancels the set's intent first.
- **A cancel while the patient pays all.** The clinician's cancel first takes the request out of the set *at
  Stripe*: the intent's amount and metadata are lowered to the rest. If Stripe refuses because the patient has
  already confirmed (processing or paid), the cancel is refused, as a cancel of a single payment is: money never
  moves for a cancelled request, and no refund is needed. The patient's page asks again right before confirming
  (the same call), and a set with a request no longer payable is answered 409 ``set_changed``, naming it, with the
  new total.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from addon import audit, money
from addon.auth.access import require_role
from addon.auth.launch import DEFAULT_PATIENT_NAME
from addon.auth.roles import Role
from addon.auth.sessions import Principal
from addon.email_address import parse_email
from addon.errors import Conflict, InvalidInput, NotFound
from addon.gateway import (
    NotCancelable,
    NotUpdatable,
    PaymentIntentInfo,
    RefundInfo,
    StripeFailure,
    StripeGateway,
)
from addon.lifecycle import MONEY_TAKEN, Status, Trigger
from addon.models import Call, Clinic, PayAll, PayAllItem, PaymentRequest, Refund, utcnow
from addon.outbound import Outbound
from addon.services import receipts
from addon.services.clinics import require_payments_available
from addon.services.stripe_errors import worded
from addon.services.transitions import transition

log = logging.getLogger("callpay.pay_all")

# Stripe keeps a metadata value to 500 characters; the ids of this many requests fit with room to spare.
MAX_ITEMS = 15
BEING_PAID = "A payment for these is already going through. There's no need to pay again."
CHANGED = "These payment requests changed while you were paying. Please try again."
# As for one request (see checkout.refuse_unless_theirs): the patient who started paying keeps the payment.
SOMEONE_ELSE = (
    "Someone else in the call has started paying {what}. If they can't finish, ask your clinician to request it "
    "again for you."
)


def new_id() -> str:
    return "pa_" + secrets.token_hex(12)


class SetRefused(Conflict):
    """409 naming the requests at fault (``payment_requests``); with the set as it now stands when it changed."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        named: Sequence[str],
        now: Sequence[str] | None = None,
        amount: int | None = None,
        currency: str | None = None,
    ) -> None:
        super().__init__(message, code=code, field="payment_requests")
        self.named = list(named)
        self.now = None if now is None else list(now)
        self.amount = amount
        self.currency = currency

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["payment_requests"] = self.named
        if self.now is not None:
            # What is still to pay: the page shows this total and asks again with these ids.
            body["remaining"] = self.now
            if self.amount is not None and self.currency is not None:
                body["amount"] = self.amount
                body["currency"] = self.currency
                body["amount_display"] = money.format_amount(self.amount, self.currency)
        return body


def what(pr: PaymentRequest) -> str:
    """How a request is named to the patient: ``A$40.00 for Script``."""
    return f"{money.format_amount(pr.amount, pr.currency)} for {pr.description}"


def _listed(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def metadata_of(pa: PayAll, call: Call, clinic: Clinic, request_ids: Sequence[str]) -> dict[str, str]:
    # Ids only: Callpay's records explain the payment; Stripe holds no names or health text.
    return {
        "pay_all": pa.id,
        "payment_requests": ",".join(request_ids),
        "call": call.external_id,
        "clinic": clinic.external_id,
    }


def covered_by(intent: PaymentIntentInfo) -> list[str] | None:
    """The requests an intent's money is for, as its metadata (read back from Stripe) says."""
    listed = intent.metadata.get("payment_requests")
    return [part for part in listed.split(",") if part] if listed else None


def _fee(clinic: Clinic, requests: Sequence[PaymentRequest]) -> int | None:
    # The clinic's fee per request, as each would have had paid on its own.
    fee = clinic.application_fee_amount
    if not fee:
        return None
    total = sum(fee for pr in requests if fee < pr.amount)
    return total or None


# --- Reading sets --------------------------------------------------------------------------------------------


async def items_of(db: AsyncSession, pay_all_id: str, *, active: bool = True) -> list[PayAllItem]:
    query = select(PayAllItem).where(PayAllItem.pay_all_id == pay_all_id).order_by(PayAllItem.position)
    if active:
        query = query.where(PayAllItem.claim.is_not(None))
    return list((await db.scalars(query.execution_options(populate_existing=True))).all())


async def open_set_of(db: AsyncSession, request_id: str) -> PayAll | None:
    """The open set holding the request, if any."""
    found: PayAll | None = await db.scalar(
        select(PayAll)
        .join(PayAllItem, PayAllItem.pay_all_id == PayAll.id)
        .where(PayAllItem.claim == request_id, PayAll.status == "open")
        .execution_options(populate_existing=True)
    )
    return found


async def set_for_intent(db: AsyncSession, intent_id: object) -> PayAll | None:
    if not isinstance(intent_id, str) or not intent_id:
        return None
    found: PayAll | None = await db.scalar(
        select(PayAll).where(PayAll.stripe_payment_intent_id == intent_id).execution_options(populate_existing=True)
    )
    return found


async def charge_of(db: AsyncSession, pr: PaymentRequest) -> tuple[str, str] | None:
    """(account, intent) whose charge took the request's money: its own intent, or its set's."""
    if pr.pay_all_id is not None:
        pa = await db.get(PayAll, pr.pay_all_id)
        if pa is not None and pa.stripe_account_id and pa.stripe_payment_intent_id:
            return pa.stripe_account_id, pa.stripe_payment_intent_id
        return None
    if pr.stripe_account_id and pr.stripe_payment_intent_id:
        return pr.stripe_account_id, pr.stripe_payment_intent_id
    return None


async def refund_owner(db: AsyncSession, intent_id: str, made: RefundInfo) -> str | None:
    """Which request of a set one of its intent's refunds is for: the one Callpay refunded (its row, or the
    metadata it sent), else, for a refund made in the Stripe dashboard, the first paid item it fits in."""
    pa = await set_for_intent(db, intent_id)
    if pa is None:
        return None
    row = await db.scalar(select(Refund.payment_request_id).where(Refund.stripe_refund_id == made.id))
    if row is not None:
        return str(row)
    paid = list(
        (
            await db.scalars(
                select(PaymentRequest)
                .join(PayAllItem, PayAllItem.payment_request_id == PaymentRequest.id)
                .where(PayAllItem.pay_all_id == pa.id, PaymentRequest.pay_all_id == pa.id)
                .order_by(PayAllItem.position)
            )
        ).all()
    )
    ours = made.metadata.get("callpay_request")
    if ours and any(pr.id == ours for pr in paid):
        return ours
    for pr in paid:
        if pr.amount - max(pr.refund_reserved, pr.amount_refunded) >= made.amount:
            return pr.id
    return paid[0].id if paid else None


# --- Checkout ------------------------------------------------------------------------------------------------


@dataclass
class _Plan:
    """What the first read found: the requests asked for and what must happen at Stripe before a new set."""

    requests: list[PaymentRequest]
    clinic: Clinic
    call: Call
    email: str
    reuse: PayAll | None = None
    supersede: list[PayAll] | None = None
    own_intents: list[tuple[str, str, str]] | None = None  # (request, account, intent)


@dataclass(frozen=True)
class _Stale:
    """The patient's own open set lost a request (cancelled, or paid on its own): what to answer once it is resized."""

    pay_all: PayAll
    refused: SetRefused


def _parse(body: Mapping[str, Any]) -> tuple[str, list[str]]:
    email = parse_email(body.get("email"))
    given = body.get("payment_requests")
    if not isinstance(given, list) or not given or not all(isinstance(i, str) and i for i in given):
        raise InvalidInput("Choose the payment requests to pay.", field="payment_requests")
    ids = list(dict.fromkeys(given))  # the same request twice is still one request
    if len(ids) > MAX_ITEMS:
        raise InvalidInput(f"Pay at most {MAX_ITEMS} requests at once.", field="payment_requests")
    return email, ids


async def _refusals(
    db: AsyncSession, principal: Principal, ids: Sequence[str], found: Mapping[str, PaymentRequest]
) -> None:
    """409 naming every request asked for that this patient can't pay in this call now; nothing is charged.

    A request of the patient's own open set that stopped being payable (cancelled, or paid on its own) is the set
    changing under them: the set is made the rest at Stripe, and the answer says what changed and the new total.
    """
    foreign = [i for i in ids if i not in found or found[i].call_id != principal.call_id]
    if foreign:
        raise SetRefused(
            "One of these isn't a payment request of this call." if len(foreign) == 1
            else "Some of these aren't payment requests of this call.",
            code="not_in_call", named=foreign,
        )  # fmt: skip
    me = principal.user_external_id
    others = [found[i] for i in ids if found[i].payer_sub is not None and found[i].payer_sub != me]
    if others:
        raise SetRefused(
            f"{_listed([what(pr) for pr in others])} is for {others[0].payer_name or 'someone else'} to pay.",
            code="not_payer", named=[pr.id for pr in others],
        )  # fmt: skip
    theirs = [found[i] for i in ids if found[i].checkout_user_id not in (None, principal.user_id)]
    for request_id in ids:
        held = await open_set_of(db, request_id)
        if held is not None and held.payer_user_id != principal.user_id and found[request_id] not in theirs:
            theirs.append(found[request_id])
    if theirs:
        raise SetRefused(
            SOMEONE_ELSE.format(what=_listed([what(pr) for pr in theirs])),
            code="paid_by_someone_else", named=[pr.id for pr in theirs],
        )  # fmt: skip
    holds = [found[i] for i in ids if found[i].capture == "hold"]
    if holds:
        raise SetRefused(
            f"{_listed([what(pr) for pr in holds])} is a card hold. Pay it on its own.",
            code="not_payable", named=[pr.id for pr in holds],
        )  # fmt: skip
    stale = [found[i] for i in ids if not Trigger.CHECKOUT_STARTED.may_start(found[i].status)]
    if not stale:
        return
    rest = [found[i] for i in ids if Trigger.CHECKOUT_STARTED.may_start(found[i].status)]
    total = sum(pr.amount for pr in rest)
    currency = rest[0].currency if rest else stale[0].currency
    words = _listed([what(pr) for pr in stale])
    if all(pr.status == Status.CANCELED for pr in stale):
        reason = f"Your clinician cancelled {words}. You haven't been charged for it."
    elif all(pr.status in MONEY_TAKEN for pr in stale):
        reason = f"{words} has been paid already."
    else:
        reason = f"{words} can't be paid now."
    after = f" The new total is {money.format_amount(total, currency)}." if rest else " There's nothing left to pay."
    raise SetRefused(
        reason + after, code="set_changed", named=[pr.id for pr in stale], now=[pr.id for pr in rest],
        amount=total, currency=currency,
    )  # fmt: skip


async def _plan(
    database: async_sessionmaker[AsyncSession], principal: Principal, call: str, body: Mapping[str, Any]
) -> _Plan | _Stale:
    require_role(principal, {Role.PATIENT}, what="pay payment requests")
    if principal.call_id is None or call != principal.call_external_id:
        raise NotFound("That call isn't the one you are in.")
    email, ids = _parse(body)
    async with database.begin() as db:
        rows = (
            await db.scalars(
                select(PaymentRequest).where(PaymentRequest.id.in_(ids)).execution_options(populate_existing=True)
            )
        ).all()
        found = {pr.id: pr for pr in rows}
        try:
            await _refusals(db, principal, ids, found)
        except SetRefused as refused:
            if refused.code == "set_changed":
                # The set changed under the patient: their open set becomes the rest (done at Stripe by the caller).
                mine = await _mine(db, principal, ids)
                if mine is not None:
                    return _Stale(mine, refused)
            raise
        requests = [found[i] for i in ids]
        currencies = sorted({pr.currency for pr in requests})
        if len(currencies) > 1:
            raise SetRefused(
                "These are in different currencies, so they can't be paid together. Pay each on its own.",
                code="mixed_currencies", named=[pr.id for pr in requests if pr.currency != requests[0].currency],
            )  # fmt: skip
        clinic = await require_payments_available(db, requests[0].clinic_id)
        typed = body.get("name")
        for pr in requests:
            await receipts.record_patient_name(db, pr, principal, typed)
        plan = _Plan(requests, clinic, await db.get_one(Call, principal.call_id), email)
        sets = {pa.id: pa for pr in requests if (pa := await open_set_of(db, pr.id)) is not None}
        same = [pa for pa in sets.values() if pa.payer_user_id == principal.user_id]
        for pa in same:
            held = {item.payment_request_id for item in await items_of(db, pa.id)}
            if held == set(ids) and pa.stripe_payment_intent_id:
                plan.reuse = pa
                return plan
        plan.supersede = list(sets.values())
        plan.own_intents = [
            (pr.id, pr.stripe_account_id, pr.stripe_payment_intent_id)
            for pr in requests
            if pr.stripe_payment_intent_id and pr.stripe_account_id
        ]
        return plan


async def _mine(db: AsyncSession, principal: Principal, ids: Sequence[str]) -> PayAll | None:
    for request_id in ids:
        pa = await open_set_of(db, request_id)
        if pa is not None and pa.payer_user_id == principal.user_id:
            return pa
    return None


async def checkout_all(
    database: async_sessionmaker[AsyncSession],
    gateway: StripeGateway,
    principal: Principal,
    call: str,
    body: Mapping[str, Any],
    *,
    describe: Callable[[Clinic], str],
) -> PayAll:
    """``POST /api/v1/calls/{call}/checkout``: the open set, with one PaymentIntent for the sum of the requests
    asked for (``describe`` words the intent's neutral description for Stripe).

    Stripe is never waited on inside a transaction; each step after a Stripe call re-checks what it relies on.
    """
    planned = await _plan(database, principal, call, body)
    if isinstance(planned, _Stale):
        await resize(database, gateway, planned.pay_all.id, planned.refused.now or [])
        raise planned.refused
    plan = planned
    if plan.reuse is not None:
        pa = plan.reuse
        if pa.patient_email != plan.email:
            await _change_email(database, pa, plan.email)
        return pa
    for old in plan.supersede or []:
        await _retire(database, gateway, old, "superseded")
    pa = await _create(database, principal, plan)
    try:
        for request_id, account_id, intent_id in plan.own_intents or []:
            try:
                await gateway.cancel_payment_intent(
                    account_id=account_id, intent_id=intent_id, idempotency_key=f"callpay-pay-all:{pa.id}:{intent_id}"
                )
            except NotCancelable:
                pr = next(pr for pr in plan.requests if pr.id == request_id)
                raise SetRefused(
                    f"{what(pr)} is being paid on its own already. There's no need to pay it again.",
                    code="payment_processing", named=[request_id],
                ) from None  # fmt: skip
        async with database.begin() as db:
            for request_id, _, intent_id in plan.own_intents or []:
                # The request's own intent is canceled: it is paid with the set's from now on.
                await own_intent_dropped(db, request_id, intent_id)
        intent = await _create_intent(gateway, pa, plan, describe(plan.clinic))
    except BaseException:
        await _retire(database, gateway, pa, "canceled", at_stripe=False)
        raise
    async with database.begin() as db:
        attached = await db.execute(
            update(PayAll)
            .where(PayAll.id == pa.id, PayAll.status == "open", PayAll.stripe_payment_intent_id.is_(None))
            .values(
                stripe_payment_intent_id=intent.id,
                stripe_client_secret=intent.client_secret,
                stripe_account_id=plan.clinic.stripe_account_id,
                updated_at=utcnow(),
            )
            .returning(PayAll.id)
        )
        won = attached.scalar_one_or_none() is not None
        fresh = await db.get_one(PayAll, pa.id, populate_existing=True)
    if not won:
        await _cancel_quietly(gateway, str(plan.clinic.stripe_account_id), intent.id, f"callpay-discard:{intent.id}")
        raise Conflict(CHANGED, code="set_changed", field="payment_requests")
    return fresh


async def _create(database: async_sessionmaker[AsyncSession], principal: Principal, plan: _Plan) -> PayAll:
    """The set and its claims, after checking again that every request is still payable."""
    now = utcnow()
    pa = PayAll(
        id=new_id(),
        call_id=plan.call.id,
        clinic_id=plan.clinic.id,
        payer_user_id=principal.user_id,
        payer_sub=principal.user_external_id,
        payer_name=principal.user_name if principal.user_name != DEFAULT_PATIENT_NAME else None,
        status="open",
        amount=sum(pr.amount for pr in plan.requests),
        currency=plan.requests[0].currency,
        patient_email=plan.email,
        stripe_account_id=plan.clinic.stripe_account_id,
        created_at=now,
        updated_at=now,
    )
    try:
        async with database.begin() as db:
            dropping = {request_id: intent_id for request_id, _, intent_id in plan.own_intents or []}
            for pr in plan.requests:
                # Locked, so a Pay now attaching its own intent to it at this moment waits for this claim and then
                # sees it (checkout._attach); one that attached first is seen here.
                fresh = await db.get_one(PaymentRequest, pr.id, populate_existing=True, with_for_update=True)
                own = fresh.stripe_payment_intent_id
                if not Trigger.CHECKOUT_STARTED.may_start(fresh.status) or own not in (None, dropping.get(pr.id)):
                    raise Conflict(CHANGED, code="set_changed", field="payment_requests")
            db.add(pa)
            await db.flush()
            for position, pr in enumerate(plan.requests):
                db.add(PayAllItem(pay_all_id=pa.id, payment_request_id=pr.id, position=position, amount=pr.amount,
                                  claim=pr.id))  # fmt: skip
            await db.flush()
            audit.record(
                db, "pay_all.started", clinic_id=plan.clinic.id, subject_type="pay_all", subject_id=pa.id,
                data={"payment_requests": [pr.id for pr in plan.requests], "amount": pa.amount},
            )  # fmt: skip
    except IntegrityError:
        # Another set claimed one of these requests at the same moment.
        raise Conflict(CHANGED, code="set_changed", field="payment_requests") from None
    return pa


async def _create_intent(gateway: StripeGateway, pa: PayAll, plan: _Plan, description: str) -> PaymentIntentInfo:
    clinic = plan.clinic
    assert clinic.stripe_account_id is not None
    with worded():
        return await gateway.create_payment_intent(
            account_id=clinic.stripe_account_id,
            amount=pa.amount,
            currency=pa.currency,
            description=description,
            # Callpay sends the receipt; Stripe would send a second one and keep the patient's address.
            receipt_email=None,
            metadata=metadata_of(pa, plan.call, clinic, [pr.id for pr in plan.requests]),
            idempotency_scope=f"callpay-pay-all:{pa.id}",
            application_fee_amount=_fee(clinic, plan.requests),
        )


async def _change_email(database: async_sessionmaker[AsyncSession], pa: PayAll, email: str) -> None:
    """Where Callpay sends the set's receipt (Stripe never holds the patient's address)."""
    async with database.begin() as db:
        await db.execute(update(PayAll).where(PayAll.id == pa.id, PayAll.status == "open").values(patient_email=email))


async def _cancel_quietly(gateway: StripeGateway, account_id: str, intent_id: str, key: str) -> None:
    try:
        await gateway.cancel_payment_intent(account_id=account_id, intent_id=intent_id, idempotency_key=key)
    except StripeFailure:
        log.warning("could not cancel a pay-all intent", extra={"payment_intent": intent_id})


async def _retire(
    database: async_sessionmaker[AsyncSession],
    gateway: StripeGateway,
    pa: PayAll,
    status: str,
    *,
    at_stripe: bool = True,
) -> None:
    """End an open set: its intent canceled at Stripe first (refused while it is being paid), then its claims let
    go, so its requests may be paid another way.

    The set's intent is read again here and after the set has ended: its checkout may attach one at any moment
    until then (``pa`` can be older than that), and an intent left uncanceled could take the requests' money
    while they are paid another way."""
    async with database() as db:
        intent_id = await db.scalar(select(PayAll.stripe_payment_intent_id).where(PayAll.id == pa.id))
    await _cancel_set_intent(gateway, pa.stripe_account_id, intent_id, strict=at_stripe)
    async with database.begin() as db:
        ended = await end_set(db, pa.id, status)
        late = await db.scalar(select(PayAll.stripe_payment_intent_id).where(PayAll.id == pa.id)) if ended else None
    if late is not None and late != intent_id:
        await _cancel_set_intent(gateway, pa.stripe_account_id, late, strict=at_stripe)


async def _cancel_set_intent(
    gateway: StripeGateway, account_id: str | None, intent_id: str | None, *, strict: bool
) -> None:
    """Cancel a set's intent: ``strict``, a refusal because the patient is paying it now is a 409 and Stripe out of
    reach the usual error; otherwise a failure is only logged (the intent then expires unpaid)."""
    if intent_id is None or account_id is None:
        return
    key = f"callpay-pay-all-end:{intent_id}"
    if not strict:
        await _cancel_quietly(gateway, account_id, intent_id, key)
        return
    try:
        await gateway.cancel_payment_intent(account_id=account_id, intent_id=intent_id, idempotency_key=key)
    except NotCancelable:
        raise Conflict(BEING_PAID, code="payment_processing") from None
    except StripeFailure as exc:
        with worded():
            raise exc


async def end_set(db: AsyncSession, pay_all_id: str, status: str) -> bool:
    moved = await db.execute(
        update(PayAll)
        .where(PayAll.id == pay_all_id, PayAll.status == "open")
        .values(status=status, updated_at=utcnow())
        .returning(PayAll.id)
    )
    if moved.scalar_one_or_none() is None:
        return False
    await db.execute(update(PayAllItem).where(PayAllItem.pay_all_id == pay_all_id).values(claim=None))
    return True


# --- Changing a set under the patient ------------------------------------------------------------------------


async def resize(
    database: async_sessionmaker[AsyncSession], gateway: StripeGateway, pay_all_id: str, keep: Sequence[str]
) -> None:
    """Make an open set just ``keep``: Stripe's amount and metadata first, then the items. A set with nothing left
    has its intent canceled. Refused (409) when the patient has already confirmed: the money may be moving."""
    async with database() as db:
        pa = await db.get(PayAll, pay_all_id)
        if pa is None or pa.status != "open":
            return
        items = await items_of(db, pa.id)
        kept = [item for item in items if item.payment_request_id in set(keep)]
        if len(kept) == len(items):
            return
        requests = [await db.get_one(PaymentRequest, item.payment_request_id) for item in kept]
        call = await db.get_one(Call, pa.call_id)
        clinic = await db.get_one(Clinic, pa.clinic_id)
    if not kept:
        await _retire(database, gateway, pa, "canceled")
        return
    amount = sum(item.amount for item in kept)
    if pa.stripe_payment_intent_id and pa.stripe_account_id:
        try:
            await gateway.update_payment_intent_amount(
                account_id=pa.stripe_account_id,
                intent_id=pa.stripe_payment_intent_id,
                amount=amount,
                metadata=metadata_of(pa, call, clinic, [item.payment_request_id for item in kept]),
                application_fee_amount=_fee(clinic, requests),
            )
        except NotUpdatable:
            raise Conflict(BEING_PAID, code="payment_processing") from None
        except StripeFailure as exc:
            with worded():
                raise exc
    async with database.begin() as db:
        now = utcnow()
        gone = [item.payment_request_id for item in items if item not in kept]
        await db.execute(
            update(PayAllItem)
            .where(PayAllItem.pay_all_id == pa.id, PayAllItem.payment_request_id.in_(gone))
            .values(claim=None, removed_at=now)
        )
        await db.execute(update(PayAll).where(PayAll.id == pa.id).values(amount=amount, updated_at=now))
        audit.record(
            db, "pay_all.changed", clinic_id=pa.clinic_id, subject_type="pay_all", subject_id=pa.id,
            data={"removed": gone, "amount": amount},
        )  # fmt: skip


async def before_cancel(database: async_sessionmaker[AsyncSession], gateway: StripeGateway, request_id: str) -> None:
    """The clinician cancels a request the patient is paying with others: take it out of the set at Stripe first,
    so the intent can no longer take money for it; refused (409) if the patient has already confirmed."""
    async with database() as db:
        pa = await open_set_of(db, request_id)
        if pa is None:
            return
        keep = [item.payment_request_id for item in await items_of(db, pa.id) if item.payment_request_id != request_id]
    try:
        await resize(database, gateway, pa.id, keep)
    except Conflict as exc:
        raise Conflict(
            "The patient is paying for this now, together with other requests, so it can't be cancelled.",
            code="not_cancelable",
        ) from exc


async def before_single_checkout(
    database: async_sessionmaker[AsyncSession], gateway: StripeGateway, principal: Principal, request_id: str
) -> bool:
    """Pay now on a request that is in an open set: the set's intent is canceled first, so the request can't be
    paid twice (409 while that payment is going through). Another patient's set is theirs to finish (409). True
    when a set was retired (the request may have changed meanwhile)."""
    async with database() as db:
        pa = await open_set_of(db, request_id)
        pr = await db.get(PaymentRequest, request_id) if pa is not None else None
    if pa is None or pr is None:
        return False
    if pa.payer_user_id != principal.user_id:
        raise Conflict(SOMEONE_ELSE.format(what=what(pr)), code="paid_by_someone_else")
    await _retire(database, gateway, pa, "superseded")
    return True


async def call_ended(db: AsyncSession, call_id: int) -> list[tuple[str, str]]:
    """The call is over: its open sets end, and the caller cancels their intents at Stripe (account, intent)."""
    sets = (await db.scalars(select(PayAll).where(PayAll.call_id == call_id, PayAll.status == "open"))).all()
    intents = []
    for pa in sets:
        if await end_set(db, pa.id, "canceled") and pa.stripe_account_id and pa.stripe_payment_intent_id:
            intents.append((pa.stripe_account_id, pa.stripe_payment_intent_id))
    return intents


# --- What Stripe says about a set's intent -------------------------------------------------------------------


async def apply_set_intent(
    db: AsyncSession, pa: PayAll, intent: PaymentIntentInfo, *, failure_message: str | None = None
) -> list[Outbound]:
    """Move the set's requests to what its intent says, in the caller's transaction; the events to publish.
    ``failure_message`` is the decline in the patient's words, when the intent says the card was declined."""
    if intent.id != pa.stripe_payment_intent_id:
        return []
    items = await items_of(db, pa.id, active=False)
    if intent.status == "succeeded":
        return await _paid(db, pa, intent, items)
    if intent.status == "canceled":
        await end_set(db, pa.id, "canceled")
        return []
    active = [item.payment_request_id for item in items if item.claim is not None]
    events: list[Outbound] = []
    if intent.status == "processing":
        for request_id in active:
            events += (await transition(db, request_id, Trigger.PROCESSING, values={"failure_message": None})).events
    elif intent.status == "requires_payment_method" and failure_message:
        for request_id in active:
            moved = await transition(db, request_id, Trigger.DECLINED, values={"failure_message": failure_message})
            events += moved.events
    return events


async def _paid(db: AsyncSession, pa: PayAll, intent: PaymentIntentInfo, items: list[PayAllItem]) -> list[Outbound]:
    """The set's money arrived: each request its metadata names is marked paid, all in this one transaction."""
    named = covered_by(intent)
    ours = {item.payment_request_id for item in items}
    covered = [item.payment_request_id for item in items if named is None or item.payment_request_id in named]
    if named is not None and set(named) - ours:
        log.warning("pay-all intent names requests that aren't in its set", extra={"pay_all": pa.id})
    expected = sum(item.amount for item in items if item.payment_request_id in covered)
    if expected != (intent.amount_received or intent.amount):
        log.warning("pay-all intent amount differs from its requests", extra={"pay_all": pa.id})
    now = utcnow()
    await db.execute(
        update(PayAll)
        .where(PayAll.id == pa.id, PayAll.status != "paid")
        .values(status="paid", paid_at=now, updated_at=now)
    )
    events: list[Outbound] = []
    for request_id in covered:
        moved = await transition(
            db,
            request_id,
            Trigger.PAID_ALL,
            to=Status.PAID,
            values={
                "pay_all_id": pa.id,
                "stripe_account_id": pa.stripe_account_id,
                # Its own intent was canceled when it joined the set; the set's intent is the charge now.
                "stripe_payment_intent_id": None,
                "stripe_client_secret": None,
                "patient_email": pa.patient_email,
                "card_brand": intent.card_brand,
                "card_last4": intent.card_last4,
                "paid_by_sub": pa.payer_sub,
                "paid_by_name": pa.payer_name,
            },
        )
        events += moved.events
    return events


async def own_intent_dropped(db: AsyncSession, request_id: str, intent_id: str) -> bool:
    """A request in a set lets go of its own (canceled) intent; its history says it is paid with the others."""
    moved = await transition(
        db,
        request_id,
        Trigger.PAY_ALL_JOINED,
        where=[PaymentRequest.stripe_payment_intent_id == intent_id],
        values={"stripe_payment_intent_id": None, "stripe_client_secret": None, "checkout_user_id": None},
    )
    return moved.moved


async def own_intent_canceled(db: AsyncSession, pr: PaymentRequest, intent: PaymentIntentInfo) -> bool:
    """``payment_intent.canceled`` for the request's own intent, canceled because the request joined a set: the
    request is not cancelled, only unhooked from it. False when the request is in no set (a real cancel)."""
    if intent.status != "canceled" or await open_set_of(db, pr.id) is None:
        return False
    await own_intent_dropped(db, pr.id, intent.id)
    return True


# --- Reconciliation ------------------------------------------------------------------------------------------


async def open_sets(read: async_sessionmaker[AsyncSession], since: Any, limit: int) -> list[tuple[str, str, str]]:
    """(set, account, intent) of every open set with an intent, touched since ``since``."""
    async with read() as db:
        rows = await db.execute(
            select(PayAll.id, PayAll.stripe_account_id, PayAll.stripe_payment_intent_id)
            .where(
                PayAll.status == "open",
                PayAll.stripe_payment_intent_id.is_not(None),
                PayAll.stripe_account_id.is_not(None),
                PayAll.updated_at >= since,
            )
            .order_by(PayAll.updated_at)
            .limit(limit)
        )
        return [(r[0], str(r[1]), str(r[2])) for r in rows.all()]


__all__ = [
    "MAX_ITEMS",
    "SetRefused",
    "apply_set_intent",
    "before_cancel",
    "before_single_checkout",
    "charge_of",
    "checkout_all",
    "own_intent_canceled",
    "refund_owner",
    "set_for_intent",
]
