"""The payment request lifecycle, written down once: its statuses, the triggers that move it, and what each allows.

Every change of a request's status is one of the :class:`Trigger` rows below, carried out by
:func:`addon.services.transitions.transition` as one conditional UPDATE (``WHERE status IN`` the row's sources), so
a duplicate or out-of-order report finds the row already moved and changes nothing. The database says the same:
``payment_requests.status`` has a CHECK constraint built from :class:`Status` (see :func:`status_check`).

Pages never restate these rules: the JSON carries :func:`flags` (``payable``, ``cancelable``, ``refundable``,
``receipt_available``), computed here from the same rows the transitions use.

This module imports nothing of the project, so the models (the CHECK constraint), the JSON, the services and the
OpenAPI document can all depend on it.

Adding a trigger (a hold, a refund pending, a link paid): add one row to :class:`Trigger` with where it
may start and where it leads, and fire it with ``transition(db, request_id, Trigger.X)``. Adding a status: add it to
:class:`Status`, to the rows that lead to and from it, and a migration that rewrites the CHECK constraint.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import TypedDict


class Status(StrEnum):
    REQUESTED = "requested"
    PROCESSING = "processing"
    AUTHORIZED = "authorized"  # a hold: the card is authorised, nothing charged yet
    PAID = "paid"
    FAILED = "failed"
    CANCELED = "canceled"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"


S = Status
# Money has moved. Once here a request never leaves these three (a refund records money going back, it does not
# un-record the payment), and nothing but a refund moves it within them.
MONEY_TAKEN: frozenset[Status] = frozenset({S.PAID, S.PARTIALLY_REFUNDED, S.REFUNDED})
# Still waiting for the patient: the states a payment may start (or start again) from.
UNPAID: frozenset[Status] = frozenset({S.REQUESTED, S.FAILED})


@dataclass(frozen=True)
class Rule:
    """One trigger: the states it may start from and the states it may lead to (empty: the status stays)."""

    says: str
    sources: frozenset[Status]
    targets: tuple[Status, ...] = ()


def _rule(says: str, sources: frozenset[Status] | set[Status], *targets: Status) -> Rule:
    return Rule(says, frozenset(sources), targets)


class Trigger(Enum):
    """Everything that may happen to a request. ``says`` is how the request's history words it."""

    # name                     what it is                                   may start from          leads to
    REQUEST = _rule("Requested", set(), S.REQUESTED)
    CHECKOUT_STARTED = _rule("Checkout started", UNPAID)
    RECEIPT_EMAIL_CHANGED = _rule("Receipt email changed", UNPAID)
    # A saved card charged without the patient present (addon/services/saved_cards.py): not payable while Stripe is
    # asked (a lost answer stays here until the retry), then its intent attached; a refusal is DECLINED.
    OFF_SESSION_STARTED = _rule("Charging the saved card", UNPAID, S.PROCESSING)
    OFF_SESSION_CHARGE = _rule("Charged to the saved card", {S.PROCESSING})
    PROCESSING = _rule("Payment processing", UNPAID, S.PROCESSING)
    DECLINED = _rule("Payment failed", {S.REQUESTED, S.PROCESSING}, S.FAILED)
    AUTHORIZED = _rule("Card authorised (hold)", UNPAID | {S.PROCESSING}, S.AUTHORIZED)
    CAPTURED = _rule("Hold charged", {S.AUTHORIZED}, S.PAID, S.PARTIALLY_REFUNDED, S.REFUNDED)
    RELEASED = _rule("Hold released", {S.AUTHORIZED}, S.CANCELED)
    # Money is the truth: a request canceled here whose intent was paid anyway records the payment. The payment may
    # already have been refunded in the clinic's Stripe dashboard before we heard of it, hence the refunded targets.
    SUCCEEDED = _rule(
        "Paid",
        UNPAID | {S.PROCESSING, S.AUTHORIZED, S.CANCELED},
        S.PAID,
        S.PARTIALLY_REFUNDED,
        S.REFUNDED,
    )
    # Pay all: the request joins a set paid with one intent (its own unconfirmed intent, if any, dropped), and the
    # set's payment marks every request in it paid, each by this one row, in one transaction. Money is the truth
    # here as for SUCCEEDED.
    PAY_ALL_JOINED = _rule("Paying it together with other requests (Pay all)", UNPAID)
    PAID_ALL = _rule(
        "Paid together with other requests (Pay all)",
        UNPAID | {S.PROCESSING, S.CANCELED},
        S.PAID,
        S.PARTIALLY_REFUNDED,
        S.REFUNDED,
    )
    CANCELED = _rule("Cancelled by the clinician", UNPAID, S.CANCELED)
    # Split into an instalment plan (addon/services/plans.py): the plan's instalments are requests of their own.
    PLAN_REPLACED = _rule("Split into an instalment plan", UNPAID, S.CANCELED)
    # Pay later: the clinic cancels what is still unpaid when a call ends; a patient choosing another amount on a
    # pay-later link changes an unpaid request's amount (and drops its unconfirmed intent).
    CALL_ENDED_CANCELED = _rule("Cancelled when the call ended", UNPAID, S.CANCELED)
    LINK_AMOUNT_CHOSEN = _rule("Amount chosen on the pay-later link", UNPAID)
    # Its pay-later link closed unpaid (its intent, if any, canceled at Stripe first).
    LINK_EXPIRED = _rule("Pay-later link expired", UNPAID, S.CANCELED)
    LINK_CANCELED = _rule("Pay-later link cancelled", UNPAID, S.CANCELED)
    INTENT_CANCELED = _rule("Cancelled at Stripe", UNPAID | {S.PROCESSING, S.AUTHORIZED}, S.CANCELED)
    REFUNDED_PARTLY = _rule("Partly refunded", {S.PAID, S.PARTIALLY_REFUNDED}, S.PARTIALLY_REFUNDED)
    REFUNDED_FULLY = _rule("Refunded", {S.PAID, S.PARTIALLY_REFUNDED}, S.REFUNDED)

    @property
    def sources(self) -> frozenset[Status]:
        return self.value.sources

    @property
    def targets(self) -> tuple[Status, ...]:
        return self.value.targets

    @property
    def says(self) -> str:
        return self.value.says

    @property
    def keeps_status(self) -> bool:
        """A guarded change that leaves the status as it is (an intent attached, a new receipt address)."""
        return not self.targets

    @property
    def takes_money(self) -> bool:
        """Moving by this trigger records a payment: the once-only work (receipt number, email, pop-up) follows."""
        return bool(self.targets) and set(self.targets) <= MONEY_TAKEN and not self.sources & MONEY_TAKEN

    def may_start(self, status: str) -> bool:
        return status in self.sources

    def target(self, to: Status | None = None) -> Status:
        """Where this trigger leads; ``to`` picks one when it may lead to several (a payment already refunded)."""
        if to is None:
            if len(self.targets) != 1:
                raise ValueError(f"{self.name} leads to {[str(t) for t in self.targets]}: say which")
            return self.targets[0]
        if to not in self.targets:
            raise ValueError(f"{self.name} can't lead to {to}")
        return to


INITIAL: Status = Trigger.REQUEST.target()


# --- Instalment plans (addon/services/plans.py) --------------------------------------------------------------
# A plan is ``active`` until every instalment is settled (``completed``) or staff cancel it (``canceled``). An
# instalment is ``scheduled`` until its date; a sweeper claims it (``charging``, with a lease, so one worker acts
# and a crashed one's claim lapses); once it has become a payment request (charged to the saved card, or sent as a
# pay-later link) it is ``sent``, and that request's own status says whether it is paid. Cancelling a plan cancels
# what is still ``scheduled``.
PLAN_STATUSES = ("active", "completed", "canceled")
INSTALMENT_STATUSES = ("scheduled", "charging", "sent", "canceled")
PLAN_INTERVALS = ("weekly", "fortnightly", "monthly")
# Where each instalment move may start.
INSTALMENT_MOVES: dict[str, tuple[tuple[str, ...], str]] = {
    "claim": (("scheduled", "charging"), "charging"),  # charging: only when its lease lapsed
    "sent": (("charging",), "sent"),
    "cancel": (("scheduled",), "canceled"),
}
REFUNDS = (Trigger.REFUNDED_PARTLY, Trigger.REFUNDED_FULLY)


def after_refund(amount: int, refunded: int) -> Status:
    """The status money-taken request lands on, given how much of it has been refunded."""
    if refunded <= 0:
        return S.PAID
    return S.REFUNDED if refunded >= amount else S.PARTIALLY_REFUNDED


def refund_trigger(amount: int, refunded: int) -> Trigger:
    return Trigger.REFUNDED_FULLY if refunded >= amount else Trigger.REFUNDED_PARTLY


class Flags(TypedDict):
    payable: bool
    cancelable: bool
    refundable: bool
    receipt_available: bool


FLAG_NAMES: tuple[str, ...] = tuple(Flags.__annotations__)


def flags(status: str, amount: int, amount_refunded: int, refund_reserved: int = 0) -> Flags:
    """What may be done with a request now; the same for every viewer (who may do it is the services' business).

    ``refund_reserved`` is what refunds already asked for (and not failed) hold back, so a refund still pending at
    Stripe leaves only the rest refundable.
    """
    left = amount - max(amount_refunded, refund_reserved)
    return {
        "payable": Trigger.CHECKOUT_STARTED.may_start(status),
        "cancelable": Trigger.CANCELED.may_start(status),
        "refundable": left > 0 and any(t.may_start(status) for t in REFUNDS),
        "receipt_available": status in MONEY_TAKEN,
    }


def status_check(column: str = "status") -> str:
    """The CHECK constraint's SQL: the column holds one of :class:`Status`, nothing else."""
    return f"{column} IN ({', '.join(repr(str(s)) for s in Status)})"


def _check_table() -> None:
    # The money invariants hold by construction, so a row added later can't quietly break them.
    for trigger in Trigger:
        leaves_money = trigger.sources & MONEY_TAKEN and not set(trigger.targets) <= MONEY_TAKEN
        assert not leaves_money or trigger.keeps_status, f"{trigger.name} would un-record money that moved"
        mixed = trigger.targets and set(trigger.targets) <= MONEY_TAKEN and trigger.sources & MONEY_TAKEN
        assert not mixed or trigger.sources <= MONEY_TAKEN, f"{trigger.name}: pay and refund in one row"
        assert not (trigger.sources & MONEY_TAKEN and S.PAID in trigger.targets), f"{trigger.name} moves back to paid"
        assert S.REFUNDED not in trigger.sources or trigger.keeps_status, f"{trigger.name} moves a full refund back"


_check_table()
