"""Canceling a payment request: the clinician's "never mind", allowed only while it is unpaid.

Read, then Stripe, then a conditional transition, each on its own: a network call inside a transaction would hold
SQLite's single write lock (and a pooled connection) for its whole length. The PaymentIntent, if any, is canceled
at Stripe first, so money can't move after the clinician has said "never mind"; the transition then only moves a
request that is still unpaid and still on the intent that was canceled. A checkout that attaches a new intent in
between makes the transition miss, and the next round cancels that intent too. When Callpay can no longer reach
the intent (the clinic removed or replaced its Stripe account) the request is canceled here alone and the audit
trail says why.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from addon import audit
from addon.auth.access import require_role
from addon.auth.roles import CLINICIANS
from addon.auth.sessions import Principal
from addon.errors import Conflict
from addon.gateway import AccessRevoked, NotCancelable, StripeFailure, StripeGateway
from addon.lifecycle import MONEY_TAKEN, Status, Trigger
from addon.models import Clinic, PaymentRequest
from addon.services import pay_all
from addon.services.payment_requests import Outcome, changed_event, find_in_call
from addon.services.stripe_errors import for_people
from addon.services.transitions import transition

ROUNDS = 2


async def cancel(
    database: async_sessionmaker[AsyncSession], gateway: StripeGateway, principal: Principal, request_id: object
) -> Outcome:
    """Cancel an unpaid request of the clinician's call; its PaymentIntent, if any, is canceled at Stripe first."""
    require_role(principal, CLINICIANS, what="cancel payment requests")
    for _ in range(ROUNDS):
        async with database.begin() as db:
            pr = await find_in_call(db, principal, request_id)
            if pr.status == Status.CANCELED:
                body, _ = await changed_event(db, pr.id)
                return Outcome(body, [])
            if not Trigger.CANCELED.may_start(pr.status):
                raise Conflict(_not_cancelable(pr.status), code="not_cancelable")
            intent_id, account_id = pr.stripe_payment_intent_id, pr.stripe_account_id
            linked = await db.scalar(select(Clinic.stripe_account_id).where(Clinic.id == pr.clinic_id))
        left_at_stripe: str | None = None
        # Being paid with others (Pay all): out of that intent first, refused if the patient already confirmed it.
        await pay_all.before_cancel(database, gateway, pr.id)
        if intent_id is not None and account_id is not None:
            left_at_stripe = await cancel_at_stripe(gateway, pr.id, account_id, intent_id, linked)
        intent_unchanged = (
            PaymentRequest.stripe_payment_intent_id.is_(None)
            if intent_id is None
            else PaymentRequest.stripe_payment_intent_id == intent_id
        )
        async with database.begin() as db:
            moved = await transition(db, pr.id, Trigger.CANCELED, where=[intent_unchanged])
            if moved.moved:
                audit.record(
                    db,
                    "payment_request.canceled",
                    actor=principal,
                    clinic_id=pr.clinic_id,
                    subject_type="payment_request",
                    subject_id=pr.id,
                    data=None
                    if left_at_stripe is None
                    else {"canceled_at_stripe": False, "reason": left_at_stripe, "stripe_account": account_id},
                )
                body, _ = await changed_event(db, pr.id)
                return Outcome(body, moved.events)
    async with database.begin() as db:
        pr = await find_in_call(db, principal, request_id)
    raise Conflict(_not_cancelable(pr.status), code="not_cancelable")


async def cancel_at_stripe(
    gateway: StripeGateway, request_id: str, account_id: str, intent_id: str, linked: str | None
) -> str | None:
    """Cancel the request's intent at Stripe. None when done; otherwise why it was left there.

    When Callpay can no longer act on the intent (the clinic removed the account here, or in its Stripe dashboard
    before the webhook saying so arrived), the patient can't pay it through Callpay either, and refusing would
    leave the request waiting in the call for good: the caller cancels it here alone.
    """
    try:
        await gateway.cancel_payment_intent(
            account_id=account_id, intent_id=intent_id, idempotency_key=f"cancel:{request_id}:{intent_id}"
        )
    except NotCancelable as exc:
        # Stripe says the intent can't be canceled: it succeeded or is processing; the payment stands.
        raise Conflict(
            "The patient is paying or has just paid, so this request can't be cancelled.",
            code="not_cancelable",
        ) from exc
    except StripeFailure as exc:
        if linked != account_id:
            # Still tried, in case the old account lets us; it didn't, and it is no longer the clinic's.
            return "stripe_account_disconnected"
        if isinstance(exc, AccessRevoked):
            return "stripe_access_revoked"
        raise for_people(exc) from exc
    return None


def _not_cancelable(status: str) -> str:
    if status in MONEY_TAKEN:
        return "This request has been paid, so it can't be cancelled. Refund it instead."
    if status == Status.PROCESSING:
        return "The patient's payment is being processed, so this request can't be cancelled."
    return "This request can't be cancelled now."
