"""What the patient may pay at once in the call: the offer behind the widget's **Pay all (A$…)** button.

It counts only what ``POST /api/v1/calls/{call}/checkout`` would accept from this participant now (see
:func:`addon.services.pay_all._refusals`): open requests of their call, not addressed to someone else, not a card
hold (a hold is authorised on its own), not being paid by another participant, in one currency. The page shows the
button only when the offer has two or more, and asks again whenever a request of the call changes, so the rule
lives here and not in the browser.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from addon import money
from addon.auth.access import require_role
from addon.auth.roles import Role
from addon.auth.sessions import Principal
from addon.errors import NotFound
from addon.lifecycle import Trigger
from addon.models import PayAll, PayAllItem, PaymentRequest
from addon.services.pay_all import MAX_ITEMS


@dataclass(frozen=True)
class Offer:
    payment_requests: list[str]  # oldest first, as the receipt lists them
    amount: int
    currency: str | None
    amount_display: str | None

    @property
    def count(self) -> int:
        return len(self.payment_requests)

    @property
    def available(self) -> bool:
        return self.count >= 2


def payable_by(pr: PaymentRequest, principal: Principal, held_by_others: set[str]) -> bool:
    """Whether this participant may put the request in a Pay all now."""
    if not Trigger.CHECKOUT_STARTED.may_start(pr.status) or pr.capture == "hold":
        return False
    if pr.payer_sub is not None and pr.payer_sub != principal.user_external_id:
        return False
    if pr.checkout_user_id not in (None, principal.user_id):
        return False  # another participant's checkout made its payment: theirs to finish
    return pr.id not in held_by_others


async def offer(db: AsyncSession, principal: Principal, call: str) -> Offer:
    """``GET /api/v1/calls/{call}/pay-all``: the requests this patient may pay together now, and their sum."""
    require_role(principal, {Role.PATIENT}, what="pay payment requests")
    if principal.call_id is None or call != principal.call_external_id:
        raise NotFound("That call isn't the one you are in.")
    requests = (
        await db.scalars(
            select(PaymentRequest)
            .where(PaymentRequest.call_id == principal.call_id)
            .order_by(PaymentRequest.created_at, PaymentRequest.id)
            .execution_options(populate_existing=True)
        )
    ).all()
    # Requests in another participant's open set: they started paying them together.
    held_by_others = set(
        (
            await db.scalars(
                select(PayAllItem.payment_request_id)
                .join(PayAll, PayAll.id == PayAllItem.pay_all_id)
                .where(
                    PayAll.call_id == principal.call_id,
                    PayAll.status == "open",
                    PayAll.payer_user_id != principal.user_id,
                    PayAllItem.claim.is_not(None),
                )
            )
        ).all()
    )
    mine = [pr for pr in requests if payable_by(pr, principal, held_by_others)]
    if not mine:
        return Offer([], 0, None, None)
    # One currency per payment: the one most of them are in (a tie goes to the oldest request's).
    counts = Counter(pr.currency for pr in mine)
    currency = max(counts, key=lambda c: (counts[c], -next(i for i, pr in enumerate(mine) if pr.currency == c)))
    chosen = [pr for pr in mine if pr.currency == currency][:MAX_ITEMS]
    amount = sum(pr.amount for pr in chosen)
    return Offer([pr.id for pr in chosen], amount, currency, money.format_amount(amount, currency))
