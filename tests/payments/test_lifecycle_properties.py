"""The lifecycle against the real database, driven by Hypothesis: whatever arrives, in whatever order, as often as
it likes, and two at once, the money invariants hold.

Each example is one payment request in a clinic of its own. The rules are what the product does to it: a checkout
attaching an intent, Stripe's news about the intent (succeeded, processing, declined, canceled, on hold, refunded,
read back through the same ``apply_intent`` and ``on_charge_refunded`` the webhooks and the browser's report use),
the clinician's cancel, any trigger of the table fired raw, a repeat of anything already done, and two of them
racing on separate connections. After every step, from the database:

- paid at most once: one ``payment_received`` in all the events ever returned, one queued receipt email;
- one receipt number: set once, never changed, and the clinic's counter says one;
- money that moved is never un-recorded: once money taken, always money taken; ``paid_at`` stays; the refunded
  total never shrinks;
- nothing moves backwards: every change seen is an edge of the trigger table, and refunds only go forwards.

``CALLPAY_LIFECYCLE_EXAMPLES`` raises the example count for a longer run.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from addon import db
from addon.gateway import PaymentIntentInfo, StripeGateway, WebhookEvent
from addon.lifecycle import MONEY_TAKEN, Status, Trigger
from addon.models import Call, Clinic, Organisation, OutboxEmail, PaymentRequest, User, utcnow
from addon.outbound import Outbound
from addon.services import checkout, payments
from addon.services.event_context import EventContext
from addon.services.transitions import transition
from tests.conftest import make_settings

EXAMPLES = int(os.environ.get("CALLPAY_LIFECYCLE_EXAMPLES", "25"))
STEPS = 25
AMOUNT = 8000
# Refunds only go forwards within money taken.
REFUND_ORDER = {Status.PAID: 0, Status.PARTIALLY_REFUNDED: 1, Status.REFUNDED: 2}
EDGES = {(source, target) for t in Trigger for source in t.sources for target in t.targets}

Action = Callable[[AsyncSession], Awaitable[list[Outbound]]]


@dataclass
class Run:
    """One database, engine and event loop for all of a test's examples; counts what was run."""

    loop: asyncio.AbstractEventLoop
    database: async_sessionmaker[AsyncSession]
    gateway: StripeGateway
    examples: int = 0
    steps: int = 0

    def wait(self, work: Awaitable[Any]) -> Any:
        return self.loop.run_until_complete(work)


def intent(intent_id: str, status: str, *, refunded: int = 0, failure: str | None = None) -> PaymentIntentInfo:
    return PaymentIntentInfo(
        id=intent_id,
        status=status,
        amount=AMOUNT,
        amount_received=AMOUNT if status == "succeeded" else 0,
        currency="aud",
        client_secret=f"{intent_id}_secret_x",
        receipt_email="pat@example.com",
        amount_refunded=refunded,
        card_brand="visa" if status == "succeeded" else None,
        card_last4="4242" if status == "succeeded" else None,
        failure_code="card_declined" if failure else None,
        failure_message=failure,
    )


NEWS = st.sampled_from(
    [
        ("succeeded", None),
        ("processing", None),
        ("requires_payment_method", "Your card was declined."),
        ("canceled", None),
        ("requires_capture", None),
        ("requires_action", None),
    ]
)
REFUNDED = st.sampled_from([0, 1, 500, AMOUNT - 1, AMOUNT])
RAW = st.sampled_from([(t, target) for t in Trigger if t.sources for target in (t.targets or (None,))])


class LifecycleMachine(RuleBasedStateMachine):
    run: Run

    def __init__(self) -> None:
        super().__init__()
        self.run.examples += 1
        self.done: list[Action] = []
        self.received = 0
        self.seen: list[PaymentRequest] = []
        self.intent_id = f"pi_{uuid.uuid4().hex[:16]}"

    @initialize()
    def a_request(self) -> None:
        self.request_id, self.clinic_id = self.run.wait(self._create())
        self.seen.append(self.run.wait(self._row()))

    async def _create(self) -> tuple[str, int]:
        tag = uuid.uuid4().hex[:12]
        async with self.run.database.begin() as session:
            org = Organisation(platform="p", external_id=f"org-{tag}")
            session.add(org)
            await session.flush()
            clinic = Clinic(organisation_id=org.id, external_id=f"clinic-{tag}", stripe_account_id=f"acct_{tag}")
            doctor = User(platform="p", external_id=f"dr-{tag}", name="Dr Ada")
            session.add_all([clinic, doctor])
            await session.flush()
            call = Call(clinic_id=clinic.id, external_id=f"call-{tag}")
            session.add(call)
            await session.flush()
            request_id = f"pr_{tag}"
            now = utcnow()
            session.add(
                PaymentRequest(
                    id=request_id,
                    call_id=call.id,
                    clinic_id=clinic.id,
                    clinician_id=doctor.id,
                    amount=AMOUNT,
                    currency="aud",
                    description="Consultation",
                    created_at=now,
                    updated_at=now,
                )
            )
            return request_id, clinic.id

    async def _row(self) -> PaymentRequest:
        async with self.run.database() as session:
            return await session.get_one(PaymentRequest, self.request_id)

    # --- Doing things ----------------------------------------------------------------------------------

    def _do(self, action: Action, *, remember: bool = True) -> None:
        self.run.steps += 1
        self.received += self.run.wait(self._in_transaction(action))
        if remember:
            self.done.append(action)
        self.seen.append(self.run.wait(self._row()))

    async def _in_transaction(self, action: Action) -> int:
        async with self.run.database.begin() as session:
            events = await action(session)
        return sum(1 for e in events if e.event == "payment_received")

    async def _current(self, session: AsyncSession) -> PaymentRequest:
        return await session.get_one(PaymentRequest, self.request_id, populate_existing=True)

    def checkout_started(self) -> Action:
        async def act(session: AsyncSession) -> list[Outbound]:
            pr = await self._current(session)
            clinic = await session.get_one(Clinic, pr.clinic_id)
            await checkout._attach(session, pr.id, intent(self.intent_id, "requires_payment_method"), clinic, "p@x.org")
            return []

        return act

    def news(self, status: str, failure: str | None, refunded: int) -> Action:
        async def act(session: AsyncSession) -> list[Outbound]:
            pr = await self._current(session)
            return await payments.apply_intent(
                session, pr, intent(self.intent_id, status, refunded=refunded, failure=failure)
            )

        return act

    def refund_news(self, refunded: int) -> Action:
        event = WebhookEvent(
            id=f"evt_{uuid.uuid4().hex[:12]}",
            type="charge.refunded",
            account=None,
            created=0,
            object={"payment_intent": self.intent_id, "amount_refunded": refunded, "refunded": refunded >= AMOUNT},
        )
        known = {self.intent_id: intent(self.intent_id, "succeeded", refunded=refunded)}

        async def act(session: AsyncSession) -> list[Outbound]:
            return await payments.on_charge_refunded(session, event, EventContext(self.run.gateway, dict(known)))

        return act

    def clinician_cancels(self) -> Action:
        async def act(session: AsyncSession) -> list[Outbound]:
            pr = await self._current(session)
            unchanged = (
                PaymentRequest.stripe_payment_intent_id.is_(None)
                if pr.stripe_payment_intent_id is None
                else PaymentRequest.stripe_payment_intent_id == pr.stripe_payment_intent_id
            )
            return (await transition(session, self.request_id, Trigger.CANCELED, where=[unchanged])).events

        return act

    def raw(self, trigger: Trigger, target: Status | None) -> Action:
        async def act(session: AsyncSession) -> list[Outbound]:
            return (await transition(session, self.request_id, trigger, to=target)).events

        return act

    @rule()
    def a_checkout(self) -> None:
        self._do(self.checkout_started())

    @rule(news=NEWS, refunded=REFUNDED)
    def stripe_says(self, news: tuple[str, str | None], refunded: int) -> None:
        self._do(self.news(news[0], news[1], refunded))

    @rule(refunded=REFUNDED)
    def a_refund(self, refunded: int) -> None:
        self._do(self.refund_news(refunded))

    @rule()
    def the_clinician_cancels(self) -> None:
        self._do(self.clinician_cancels())

    @rule(fired=RAW)
    def any_trigger(self, fired: tuple[Trigger, Status | None]) -> None:
        self._do(self.raw(*fired))

    @rule(data=st.data())
    def again(self, data: st.DataObject) -> None:
        if self.done:
            self._do(data.draw(st.sampled_from(self.done), label="repeat"), remember=False)

    @rule(news=NEWS, refunded=REFUNDED, data=st.data())
    def two_at_once(self, news: tuple[str, str | None], refunded: int, data: st.DataObject) -> None:
        """Stripe's news and something else, each on its own connection and transaction, at the same moment."""
        other = data.draw(st.sampled_from([self.clinician_cancels(), self.refund_news(refunded), *self.done[-3:]]))
        first = self.news(news[0], news[1], refunded)

        async def both() -> list[int]:
            return list(await asyncio.gather(self._in_transaction(first), self._in_transaction(other)))

        self.run.steps += 2
        self.received += sum(self.run.wait(both()))
        self.done.append(first)
        self.seen.append(self.run.wait(self._row()))

    # --- What must always hold -------------------------------------------------------------------------

    @invariant()
    def paid_at_most_once(self) -> None:
        if not self.seen:
            return
        assert self.received <= 1
        queued = self.run.wait(self._count(OutboxEmail, OutboxEmail.payment_request_id == self.request_id))
        assert queued <= 1
        now = self.seen[-1]
        if now.status in MONEY_TAKEN:
            assert self.received == 1 and now.paid_at is not None and now.received_announced_at is not None

    @invariant()
    def one_receipt_number(self) -> None:
        numbers = {pr.receipt_number for pr in self.seen if pr.receipt_number is not None}
        assert len(numbers) <= 1
        if numbers:
            counter = self.run.wait(self._counter())
            assert counter == 1 and numbers == {"000001"}

    @invariant()
    def money_is_never_unrecorded(self) -> None:
        taken = [pr for pr in self.seen if pr.status in MONEY_TAKEN]
        if taken:
            first = self.seen.index(taken[0])
            assert all(pr.status in MONEY_TAKEN for pr in self.seen[first:])
            assert len({pr.paid_at for pr in self.seen[first:]}) == 1
        refunded = [pr.amount_refunded for pr in self.seen]
        assert refunded == sorted(refunded)

    @invariant()
    def nothing_moves_backwards(self) -> None:
        for before, after in zip(self.seen, self.seen[1:], strict=False):
            if before.status != after.status:
                assert (Status(before.status), Status(after.status)) in EDGES, (before.status, after.status)
            if before.status in MONEY_TAKEN:
                assert REFUND_ORDER[Status(after.status)] >= REFUND_ORDER[Status(before.status)]

    async def _count(self, model: Any, *where: Any) -> int:
        async with self.run.database() as session:
            return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    async def _counter(self) -> int:
        async with self.run.database() as session:
            return int(await session.scalar(select(Clinic.receipt_counter).where(Clinic.id == self.clinic_id)) or 0)


def run_lifecycle_machine(database_url: str) -> Run:
    loop = asyncio.new_event_loop()
    engine = db.create_engine(database_url)
    run = Run(loop, db.session_factory(engine), StripeGateway(make_settings(database_url)))
    LifecycleMachine.run = run
    try:
        run_state_machine_as_test(
            LifecycleMachine,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        loop.run_until_complete(engine.dispose())
        loop.close()
    print(f"lifecycle property test: {run.examples} examples, {run.steps} steps on {engine.dialect.name}")
    return run


def test_the_lifecycle_holds_on_sqlite(database_url: str) -> None:
    run = run_lifecycle_machine(database_url)
    assert run.examples >= EXAMPLES and run.steps > run.examples


@pytest.mark.postgres
def test_the_lifecycle_holds_on_postgres(migrated_postgres_url: str) -> None:
    run = run_lifecycle_machine(migrated_postgres_url)
    assert run.examples >= EXAMPLES and run.steps > run.examples
