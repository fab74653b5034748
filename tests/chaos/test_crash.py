"""Crash tests: a real ``callpay serve`` process, SIGKILLed at a random moment of real payments, then restarted.

Each trial starts a few payments (checkout, the patient's card confirmed at Stripe, the browser's report, the
receipt), staggered, and kills the server at a random delay: during a checkout, between Stripe's answer and our
commit, inside a receipt's SMTP send (the mail server takes a random while to accept, so sends are open windows),
or between them. Stripe's webhook deliveries fail the whole time, so nothing but the app itself (the browser's
report, reconciliation on start-up) can learn of a payment. A patient whose checkout got no answer tries again
after the restart; one whose report was cut off has closed the window and does nothing more.

After the restart, without anyone's help: every payment that succeeded at Stripe is ``paid`` with exactly one
receipt (one outbox row, sent, and its Message-ID at the mail server; a copy sent again after a kill between the
server's acceptance and the row being marked sent has the same Message-ID and counts once: the test says how many
there were), nothing Stripe didn't take is paid, and no request has two PaymentIntents.

Quick (``./scripts/test``): a few trials on SQLite and on PostgreSQL. ``CALLPAY_FUZZ=full``: 100 trials on each;
``CALLPAY_CRASH_TRIALS=N`` runs N instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import secrets
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import socketio
from aiosmtpd.smtp import Envelope
from sqlalchemy import select

from addon import db as dbmod
from addon.models import Clinic, OutboxEmail, PaymentRequest
from sandbox.mailbox import RunningMailbox, start_mailbox
from sandbox.stripe import RunningSandbox
from tests.conftest import BASE_ENV, free_port, launch_token
from tests.support.chaos import FULL, TALLY, examples

# CALLPAY_CRASH_TRIALS overrides the profile's count (a full run cut to what fits in the time there is).
TRIALS = int(os.environ.get("CALLPAY_CRASH_TRIALS") or examples(quick=2, full=100))
PAYMENTS = 3  # started in each trial
LEASE = 3.0  # CALLPAY_OUTBOX_LEASE_SECONDS: a receipt cut off mid-send goes out again this soon after
STAGGER = 1.0  # seconds over which a trial's payments start
CONVERGE = 45.0  # seconds after a restart for every payment to come out right
MESSAGE_ID = re.compile(r"<callpay\.receipt\.(\d+)@")


@dataclass
class Payment:
    trial: int
    id: str
    patient: str  # session token
    client_secret: str | None = None
    confirmed: bool = False
    step: str = "waiting"
    checkout_cut: bool = False
    report_cut: bool = False


@dataclass
class Counts:
    kills_by_moment: Counter[str] = field(default_factory=Counter)
    checkouts_cut: int = 0
    checkouts_cut_after_stripe_made_the_intent: int = 0
    reports_cut_after_stripe_took_the_money: int = 0
    receipts_sent_twice_same_message_id: int = 0


class Server:
    """``callpay serve`` as an operator runs it, in its own process."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.url = f"http://127.0.0.1:{port}"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, http: aiohttp.ClientSession) -> None:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "addon.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                env=self.env, stdout=log, stderr=log,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.returncode is None, self.tail()
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{self.url}/readyz") as answer:
                    if answer.status == 200:
                        return
            await asyncio.sleep(0.1)
        raise AssertionError(f"callpay serve did not become ready:\n{self.tail()}")

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                await self.kill()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


class SlowMail:
    """The mail server's gate: each message is accepted after a random pause, so a kill can land mid-send."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.in_flight = 0

    async def __call__(self, envelope: Envelope) -> str | None:
        self.in_flight += 1
        try:
            await asyncio.sleep(self.rng.uniform(0.05, 0.4))
        finally:
            self.in_flight -= 1
        return None


@pytest.fixture(params=["sqlite", "postgresql"])
def crash_database(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("database_url" if request.param == "sqlite" else "migrated_postgres_url")
    return url


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    seed = int(os.environ.get("CALLPAY_CRASH_SEED", "0")) or (secrets.randbits(32) if FULL else 20261202)
    print(f"crash trials seed: CALLPAY_CRASH_SEED={seed}")
    return random.Random(seed)


@pytest.fixture
async def slow_mail(rng: random.Random) -> AsyncIterator[tuple[RunningMailbox, SlowMail]]:
    gate = SlowMail(rng)
    running = await start_mailbox(http_port=None, gate=gate)
    try:
        yield running, gate
    finally:
        await running.close()


async def _server(
    sandbox: RunningSandbox, http: aiohttp.ClientSession, database_url: str, smtp_url: str, log: Path
) -> tuple[Server, str]:
    port = free_port()
    token = secrets.token_hex(8)
    key = f"sk_test_{token}"
    async with http.post(
        f"{sandbox.url}/v1/webhook_endpoints",
        data={"url": f"http://127.0.0.1:{port}/stripe/webhook", "enabled_events[]": "*", "connect": "true"},
        headers={"Authorization": f"Bearer {key}"},
    ) as answer:
        assert answer.status == 200, await answer.text()
        endpoint = await answer.json()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CALLPAY_")},
        **BASE_ENV,
        "CALLPAY_DATABASE_URL": database_url,
        "CALLPAY_STRIPE_SECRET_KEY": key,
        "CALLPAY_STRIPE_PUBLISHABLE_KEY": f"pk_test_{token}",
        "CALLPAY_STRIPE_CONNECT_CLIENT_ID": f"ca_{token}",
        "CALLPAY_STRIPE_WEBHOOK_SECRET": endpoint["secret"],
        "CALLPAY_STRIPE_API_BASE": sandbox.url,
        "CALLPAY_STRIPE_CONNECT_BASE": sandbox.url,
        "CALLPAY_STRIPE_JS_URL": f"{sandbox.url}/v3/",
        "CALLPAY_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CALLPAY_SMTP_URL": smtp_url,
        "CALLPAY_OUTBOX_LEASE_SECONDS": str(LEASE),
    }
    return Server(env, port, log), key


async def _session(http: aiohttp.ClientSession, server: Server, **claims: Any) -> str:
    async with http.post(f"{server.url}/api/v1/sessions", json={"launch": launch_token(**claims)}) as answer:
        assert answer.status == 201, await answer.text()
        token: str = (await answer.json())["token"]
        return token


async def _connect_clinic(http: aiohttp.ClientSession, server: Server, sandbox: RunningSandbox) -> str:
    """Connect OAuth over HTTP, as a clinic admin's browser does it."""
    admin = await _session(http, server, role="team_admin", sub="admin-1", call=None)
    async with http.post(
        f"{server.url}/api/v1/clinic/stripe/connect", headers={"Authorization": f"Bearer {admin}"}
    ) as answer:
        assert answer.status == 201, await answer.text()
        authorize_url = (await answer.json())["authorize_url"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
    form = {**query, "account": "new", "business_name": "Harbour Physio", "country": "AU", "currency": "aud"}
    async with http.post(
        f"{sandbox.url}/oauth/authorize", data={**form, "action": "authorize"}, allow_redirects=False
    ) as answer:
        assert answer.status == 302, await answer.text()
        back = answer.headers["Location"]
    async with http.get(back, allow_redirects=False) as answer:
        assert answer.status < 400, await answer.text()
    engine = dbmod.create_engine(server.env["CALLPAY_DATABASE_URL"])
    try:
        async with dbmod.session_factory(engine)() as db:
            account = await db.scalar(select(Clinic.stripe_account_id).where(Clinic.external_id == "clinic-1"))
    finally:
        await engine.dispose()
    assert account, "the clinic did not get connected"
    return str(account)


async def _request_payments(server: Server, trial: int, http: aiohttp.ClientSession) -> list[Payment]:
    call = f"call-{trial}"
    doctor = await _session(http, server, role="team_member", sub="dr-ada", call=call)
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(server.url, auth={"token": doctor}, transports=["websocket"], wait_timeout=10)
    payments = []
    try:
        for n in range(PAYMENTS):
            ack = await client.call(
                "request_payment", {"amount": f"{40 + n}.00", "description": "Consultation"}, timeout=20
            )
            assert ack["ok"], ack
            patient = await _session(http, server, role="patient", sub=f"patient-{trial}-{n}", name=None, call=call)
            payments.append(Payment(trial, ack["payment_request"]["id"], patient))
    finally:
        await client.disconnect()
    return payments


class Flow:
    """The patient's browser and Stripe.js: checkout at Callpay, confirm at Stripe, report to Callpay."""

    def __init__(self, http: aiohttp.ClientSession, server: Server, sandbox: RunningSandbox, key: str, account: str):
        self.http, self.server, self.sandbox, self.key, self.account = http, server, sandbox, key, account

    async def checkout(self, payment: Payment) -> None:
        payment.step = "checkout"
        async with self.http.post(
            f"{self.server.url}/api/v1/payment-requests/{payment.id}/checkout",
            json={"email": f"{payment.id}@example.com"},
            headers={"Authorization": f"Bearer {payment.patient}"},
        ) as answer:
            body = await answer.json()
            assert answer.status == 200, body
            payment.client_secret = body["client_secret"]

    async def confirm(self, payment: Payment) -> None:
        payment.step = "confirm"
        assert payment.client_secret is not None
        intent = payment.client_secret.split("_secret_")[0]
        async with self.http.post(
            f"{self.sandbox.url}/v1/payment_intents/{intent}/confirm",
            data={"payment_method": "pm_card_visa"},
            headers={"Authorization": f"Bearer {self.key}", "Stripe-Account": self.account},
        ) as answer:
            body = await answer.json()
            assert body["status"] == "succeeded", body
            payment.confirmed = True

    async def report(self, payment: Payment) -> None:
        payment.step = "report"
        async with self.http.post(
            f"{self.server.url}/api/v1/payment-requests/{payment.id}/confirmation",
            headers={"Authorization": f"Bearer {payment.patient}"},
        ) as answer:
            body = await answer.json()
            assert answer.status == 200, body

    async def pay(self, payment: Payment, delay: float) -> None:
        """The whole payment as a browser makes it; a connection cut by the kill ends it where it stood."""
        await asyncio.sleep(delay)
        try:
            await self.checkout(payment)
        except (aiohttp.ClientError, OSError):
            payment.checkout_cut = True
            payment.step = "cut"
            return
        await self.confirm(payment)  # Stripe is up: the card is confirmed whatever happens to Callpay
        try:
            await self.report(payment)
        except (aiohttp.ClientError, OSError):
            payment.report_cut = True
        payment.step = "done"


async def _intents_by_request(flow: Flow) -> dict[str, list[dict[str, Any]]]:
    """Every PaymentIntent at Stripe on the clinic's account, by the request its metadata names."""
    found: dict[str, list[dict[str, Any]]] = {}
    after: str | None = None
    while True:
        params = {"limit": "100", **({"starting_after": after} if after else {})}
        async with flow.http.get(
            f"{flow.sandbox.url}/v1/payment_intents",
            params=params,
            headers={"Authorization": f"Bearer {flow.key}", "Stripe-Account": flow.account},
        ) as answer:
            page = await answer.json()
        for intent in page["data"]:
            found.setdefault(intent["metadata"].get("payment_request", "?"), []).append(intent)
        if not page["has_more"]:
            return found
        after = page["data"][-1]["id"]


async def _converged(
    database_url: str, payments: list[Payment], flow: Flow, mailbox: RunningMailbox
) -> tuple[bool, str, Counter[str]]:
    """Whether every payment came out right; what isn't, if not; Message-ID counts of the receipts."""
    intents = await _intents_by_request(flow)
    engine = dbmod.create_engine(database_url)
    try:
        async with dbmod.session_factory(engine)() as db:
            ids = [p.id for p in payments]
            rows = {r.id: r for r in await db.scalars(select(PaymentRequest).where(PaymentRequest.id.in_(ids)))}
            outbox = list(
                await db.scalars(
                    select(OutboxEmail).where(OutboxEmail.payment_request_id.in_(ids), OutboxEmail.kind == "receipt")
                )
            )
    finally:
        await engine.dispose()
    arrived: Counter[str] = Counter()
    for message in mailbox.mailbox.messages:
        found = MESSAGE_ID.search(str(message.message.get("Message-ID", "")))
        assert found, f"a message without a receipt's Message-ID arrived: {message.message.get('Message-ID')}"
        arrived[found.group(1)] += 1
    by_request: dict[str, list[OutboxEmail]] = {}
    for row in outbox:
        assert row.payment_request_id is not None
        by_request.setdefault(row.payment_request_id, []).append(row)
    for payment in payments:
        mine = intents.get(payment.id, [])
        assert len(mine) <= 1, f"{payment.id} has {len(mine)} PaymentIntents at Stripe"
        paid_at_stripe = bool(mine) and mine[0]["status"] == "succeeded"
        row = rows[payment.id]
        receipts = by_request.get(payment.id, [])
        if not paid_at_stripe:
            assert row.status != "paid" and not receipts, (payment, row.status)
            continue
        if row.status != "paid":
            return False, f"{payment.id} succeeded at Stripe but is {row.status}", arrived
        assert len(receipts) == 1, f"{payment.id} has {len(receipts)} receipt rows"
        if receipts[0].status != "sent" or not arrived[str(receipts[0].id)]:
            return (
                False,
                f"{payment.id}'s receipt is {receipts[0].status}, {arrived[str(receipts[0].id)]} arrived",
                arrived,
            )
    return True, "", arrived


async def _until_converged(
    database_url: str, payments: list[Payment], flow: Flow, mailbox: RunningMailbox, server: Server, what: str
) -> None:
    deadline = time.monotonic() + CONVERGE
    while True:
        done, missing, _ = await _converged(database_url, payments, flow, mailbox)
        if done:
            return
        assert time.monotonic() < deadline, f"{what}: {missing}\n{server.tail()}"
        await asyncio.sleep(0.2)


@pytest.mark.postgres
async def test_killed_at_random_moments_every_payment_stripe_took_ends_paid_with_one_receipt(
    sandbox: RunningSandbox,
    http: aiohttp.ClientSession,
    crash_database: str,
    slow_mail: tuple[RunningMailbox, SlowMail],
    rng: random.Random,
    tmp_path: Path,
) -> None:
    mailbox, gate = slow_mail
    server, key = await _server(sandbox, http, crash_database, mailbox.smtp_url, tmp_path / "serve.log")
    await server.start(http)
    counts = Counts()
    everything: list[Payment] = []
    try:
        account = await _connect_clinic(http, server, sandbox)
        flow = Flow(http, server, sandbox, key, account)
        # Stripe's webhooks fail from now on: only the browser's report and reconciliation can tell the app.
        async with http.post(f"{sandbox.url}/_sandbox/webhooks/fail", json={"until": 86_400}) as answer:
            assert answer.status == 200
        # A trial without a kill first: how long payments take here, from the first checkout to the last receipt,
        # so the kills of the trials after it fall anywhere in that span, however loaded the machine is.
        calibration = await _request_payments(server, -1, http)
        everything += calibration
        started = time.monotonic()
        await asyncio.gather(*(flow.pay(p, STAGGER * n / PAYMENTS) for n, p in enumerate(calibration)))
        await _until_converged(crash_database, everything, flow, mailbox, server, "calibration")
        span = time.monotonic() - started
        for trial in range(TRIALS):
            payments = await _request_payments(server, trial, http)
            everything += payments
            paying = [asyncio.create_task(flow.pay(p, rng.uniform(0, STAGGER))) for p in payments]
            await asyncio.sleep(rng.uniform(0, span))
            moment = sorted({p.step for p in payments if p.step not in ("waiting", "done", "cut")})
            if gate.in_flight:
                moment.append("smtp")
            counts.kills_by_moment["+".join(moment) or "between steps"] += 1
            await server.kill()
            await asyncio.gather(*paying)
            cut = [p for p in payments if p.checkout_cut]
            before = await _intents_by_request(flow)
            counts.checkouts_cut += len(cut)
            counts.checkouts_cut_after_stripe_made_the_intent += sum(1 for p in cut if before.get(p.id))
            counts.reports_cut_after_stripe_took_the_money += sum(1 for p in payments if p.report_cut and p.confirmed)

            await server.start(http)
            # The patients whose checkout got no answer try again; the rest have gone.
            for payment in cut:
                await flow.checkout(payment)
                await flow.confirm(payment)
                await flow.report(payment)
            await _until_converged(crash_database, everything, flow, mailbox, server, f"trial {trial}")
            TALLY.crashes += 1
        # A last look once every lease has lapsed: nothing went out again, nothing changed.
        await asyncio.sleep(LEASE + 1)
        done, missing, arrived = await _converged(crash_database, everything, flow, mailbox)
        assert done, missing
        counts.receipts_sent_twice_same_message_id = sum(1 for n in arrived.values() if n > 1)
        assert all(n <= 2 for n in arrived.values()), arrived
    finally:
        await server.stop()
    paid = sum(1 for p in everything if p.confirmed)
    TALLY.notes.append(
        f"crash trials ({crash_database.split(':')[0]}): {TRIALS} kills at random within {span:.1f} s of payments, "
        f"{len(everything)} payments, {paid} paid at Stripe, all paid here with one receipt each; "
        f"kills by moment {dict(counts.kills_by_moment)}; "
        f"{counts.checkouts_cut} checkouts cut ({counts.checkouts_cut_after_stripe_made_the_intent} after Stripe "
        f"made the intent: reused, none doubled); {counts.reports_cut_after_stripe_took_the_money} reports cut "
        f"after Stripe took the money (reconciled); {counts.receipts_sent_twice_same_message_id} receipts sent "
        f"twice with the same Message-ID (counted once)"
    )
