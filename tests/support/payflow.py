"""The payment flow end to end, as tests drive it: the real app on a real port, the Stripe sandbox over HTTP, a
clinic connected through the real Connect OAuth, and Socket.IO clients that record every event they receive.

Webhooks: the sandbox delivers every event to the app by itself, as Stripe may (some twice, in any order, a little
late: see the ``sandbox`` fixture), so each flow meets at-least-once, unordered delivery; ``deliver()`` also posts
one event, signed as the sandbox signs it, for the orders a test wants to pin down; ``webhooks_settled()`` waits for
all of it before a test counts what happened.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import socketio
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from addon.app import create_app
from addon.appkeys import DB, DB_READ, GATEWAY, PUBLISHER
from addon.http.sessions import exchange_launch
from addon.models import OutboxEmail, PaymentRequest, StripeEventInbox
from addon.outbound import Outbound, Publisher
from addon.publish import publish_after_commit
from addon.services import connect
from addon.settings import Settings
from sandbox.stripe import RunningSandbox
from tests.conftest import bearer, free_port, launch_token, make_settings, open_session, stripe_signature
from tests.support import contract


@dataclass(frozen=True)
class Sent:
    """One published event as it goes on the wire: its payload is the JSON clients receive."""

    event: str
    room: str
    data: Any


class RecordingPublisher:
    """Passes events on to the real publisher and keeps a copy (checked against the contract), so tests assert
    exact counts."""

    def __init__(self, inner: Publisher) -> None:
        self.inner = inner
        self.events: list[Sent] = []

    async def publish(self, events: Sequence[Outbound]) -> None:
        for event in events:
            sent = Sent(event.event, event.room, event.data.to_json())
            contract.current().event(sent.event, sent.data)
            self.events.append(sent)
        await self.inner.publish(events)

    def of(self, name: str) -> list[Sent]:
        return [e for e in self.events if e.event == name]


@dataclass
class SocketUser:
    """A Socket.IO client that records every event it receives, in order."""

    client: Any
    received: list[tuple[str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def of(self, name: str) -> list[Any]:
        return [data for event, data in self.received if event == name]

    async def wait_for(self, predicate: Callable[[SocketUser], bool], wait: float = 5.0) -> None:
        async def until() -> None:
            while not predicate(self):
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(until(), wait)

    async def wait_count(self, name: str, count: int, wait: float = 5.0) -> list[Any]:
        await self.wait_for(lambda user: len(user.of(name)) >= count, wait)
        return self.of(name)

    async def call(self, event: str, data: Any, wait: float = 10.0) -> Any:
        ack = await self.client.call(event, data, timeout=wait)
        contract.current().ack(event, ack)
        return ack

    async def close(self) -> None:
        if self.client.connected:
            await self.client.disconnect()


async def open_socket(url: str, token: str | None, **kwargs: Any) -> SocketUser:
    client = socketio.AsyncClient(reconnection=False)
    user = SocketUser(client)

    async def record(event: str, data: Any = None) -> None:
        contract.current().event(event, data)
        user.received.append((event, data))
        user.changed.set()

    client.on("*", record)
    auth = {"token": token} if token is not None else None
    await client.connect(url, auth=auth, socketio_path="socket.io", transports=["websocket"], wait_timeout=15, **kwargs)
    return user


@dataclass
class PayStack:
    client: TestClient[Any, Any]
    app: web.Application
    settings: Settings
    sandbox: RunningSandbox
    platform_key: str
    url: str
    http: aiohttp.ClientSession
    published: RecordingPublisher
    webhook_endpoint: str
    webhook_secret: str
    sockets: list[SocketUser] = field(default_factory=list)
    account: str | None = None

    # --- Sessions and sockets ------------------------------------------------------------------------------

    async def session(self, **claims: Any) -> dict[str, Any]:
        return await open_session(self.client, **claims)

    async def clinician(self, **claims: Any) -> dict[str, Any]:
        return await self.session(**{"role": "team_member", "sub": "dr-ada", "name": "Dr Ada Lovelace", **claims})

    async def patient(self, **claims: Any) -> dict[str, Any]:
        return await self.session(**{"role": "patient", "sub": "patient-1", "name": None, **claims})

    async def socket(self, session: dict[str, Any] | None, **kwargs: Any) -> SocketUser:
        user = await open_socket(self.url, session["token"] if session else None, **kwargs)
        self.sockets.append(user)
        return user

    # --- The clinic's Stripe account -----------------------------------------------------------------------

    async def connect_clinic(self, *, clinic: str = "clinic-1", name: str = "Harbour Physio") -> str:
        """Connect OAuth as a clinic admin does it: Go to Stripe, authorise on Stripe's page, come back."""
        issued = await exchange_launch(
            self.app, launch_token(role="team_admin", sub="admin-1", clinic=clinic, call=None)
        )
        async with self.app[DB].begin() as db:
            authorize_url = await connect.begin_oauth(
                db, issued.principal, self.app[GATEWAY], redirect_uri=f"{self.url}/clinic-config/stripe/return"
            )
        query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
        form = {
            **query,
            "account": "new",
            "business_name": name,
            "country": "AU",
            "currency": "aud",
            "action": "authorize",
        }
        async with self.http.post(f"{self.sandbox.url}/oauth/authorize", data=form, allow_redirects=False) as answer:
            assert answer.status == 302, await answer.text()
            back = parse_qs(urlsplit(answer.headers["Location"]).query)
        result = await connect.complete_oauth(
            self.app[DB], self.app[GATEWAY], state=back["state"][0], code=back["code"][0], error=None
        )
        assert result.outcome == "connected", result.message
        await publish_after_commit(self.app, result.events)  # as the return page does: staff hear the new status
        account = result.issued.principal.clinic_id
        assert account is not None
        async with self.app[DB]() as db:
            from addon.models import Clinic

            row = await db.get_one(Clinic, account)
            assert row.stripe_account_id is not None
            self.account = row.stripe_account_id
        return self.account

    # --- Stripe, as the patient's browser and Stripe itself ------------------------------------------------

    async def stripe(self, method: str, path: str, data: dict[str, str] | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.platform_key}"}
        if self.account:
            headers["Stripe-Account"] = self.account
        async with self.http.request(method, f"{self.sandbox.url}{path}", data=data, headers=headers) as answer:
            return await answer.json()

    async def confirm_intent(self, intent_id: str, payment_method: str = "pm_card_visa") -> dict[str, Any]:
        """What Stripe.js's confirmPayment does, server-side with a test PaymentMethod."""
        body: dict[str, Any] = await self.stripe(
            "POST", f"/v1/payment_intents/{intent_id}/confirm", {"payment_method": payment_method}
        )
        return body

    async def complete_3ds(self, intent_id: str, client_secret: str, *, fail: bool = False) -> Any:
        outcome = "fail" if fail else "complete"
        return await self.stripe("POST", f"/_sandbox/3ds/{intent_id}/{outcome}", {"client_secret": client_secret})

    async def events_for(self, intent_id: str) -> list[dict[str, Any]]:
        """The sandbox's events about one PaymentIntent, oldest first."""
        body = await self.stripe("GET", "/v1/events?limit=100")
        found = [
            e
            for e in body["data"]
            if e["data"]["object"].get("id") == intent_id or e["data"]["object"].get("payment_intent") == intent_id
        ]
        return list(reversed(found))

    async def event(self, intent_id: str, type: str) -> dict[str, Any]:
        matching = [e for e in await self.events_for(intent_id) if e["type"] == type]
        assert matching, f"no {type} event for {intent_id}"
        return matching[-1]

    async def deliver(self, event: dict[str, Any], *, secret: str | None = None, settle: bool = True) -> int:
        """POST one Stripe event to the app's webhook, signed as the sandbox signs it (or with another secret).

        The webhook answers once the event is stored; its work happens after, in the inbox processor. Unless
        ``settle`` is False this waits for that too, so a test can look at what the event changed."""
        payload = json.dumps(event).encode()
        signature = stripe_signature(payload, secret or self.webhook_secret)
        response = await self.client.post(
            "/stripe/webhook",
            data=payload,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )
        await response.read()
        if settle and response.status == 200:
            await self.settled(event["id"])
        return response.status

    async def settled(self, event_id: str, wait: float = 10.0) -> StripeEventInbox:
        """The event's inbox row once the processor is done with it (processed, or failed and waiting to retry)."""

        async def until() -> StripeEventInbox:
            while True:
                async with self.app[DB_READ]() as db:
                    row = await db.get(StripeEventInbox, event_id)
                if row is not None and (row.processed_at is not None or (row.attempts and row.locked_until is None)):
                    return row
                await asyncio.sleep(0.02)

        return await asyncio.wait_for(until(), wait)

    async def webhooks_settled(self, wait: float = 10.0) -> None:
        """Wait until the sandbox has delivered all it means to (duplicates and late arrivals included) and the
        app has worked through every event it kept: a test that counts what happened counts after this."""
        async with self.http.post(f"{self.sandbox.url}/_sandbox/webhooks/flush", json={"timeout": wait}) as answer:
            assert answer.status == 200 and (await answer.json())["done"], await answer.text()

        async def until() -> None:
            while True:
                async with self.app[DB_READ]() as db:
                    rows = (await db.scalars(select(StripeEventInbox))).all()
                if all(row.processed_at is not None or (row.attempts and row.locked_until is None) for row in rows):
                    return
                await asyncio.sleep(0.02)

        await asyncio.wait_for(until(), wait)

    async def enable_webhooks(self) -> None:
        async with self.http.post(
            f"{self.sandbox.url}/v1/webhook_endpoints/{self.webhook_endpoint}",
            data={"disabled": "false"},
            headers={"Authorization": f"Bearer {self.platform_key}"},
        ) as answer:
            assert answer.status == 200, await answer.text()

    # --- The patient's calls -------------------------------------------------------------------------------

    async def api(self, method: str, path: str, session: dict[str, Any] | None, **kw: Any) -> tuple[int, Any]:
        headers = bearer(session) if session else {}
        response = await self.client.request(method, path, headers=headers, **kw)
        return response.status, await response.json()

    async def checkout(self, pr_id: str, patient: dict[str, Any], email: str = "pat@example.com") -> tuple[int, Any]:
        return await self.api("POST", f"/api/v1/payment-requests/{pr_id}/checkout", patient, json={"email": email})

    async def report(self, pr_id: str, patient: dict[str, Any]) -> tuple[int, Any]:
        return await self.api("POST", f"/api/v1/payment-requests/{pr_id}/confirmation", patient)

    async def request_payment(self, clinician: SocketUser, **body: Any) -> dict[str, Any]:
        body.setdefault("amount", "80.00")
        body.setdefault("description", "Consultation")
        ack: dict[str, Any] = await clinician.call("request_payment", body)
        assert ack["ok"], ack
        return ack["payment_request"]  # type: ignore[no-any-return]

    async def pay(
        self, pr_id: str, patient: dict[str, Any], payment_method: str = "pm_card_visa"
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Checkout, confirm at Stripe; returns (the intent as confirmed, the checkout answer)."""
        status, session = await self.checkout(pr_id, patient)
        assert status == 200, session
        intent_id = session["client_secret"].split("_secret_")[0]
        return await self.confirm_intent(intent_id, payment_method), session


async def build_stack(
    sandbox: RunningSandbox,
    database_url: str,
    aiohttp_client: Callable[..., Any],
    http: aiohttp.ClientSession,
    *,
    kind: type[PayStack] = PayStack,
    sandbox_delivers: bool = True,
    **overrides: str,
) -> PayStack:
    """The app on a port of its own, wired to a fresh platform account on the sandbox, which delivers Stripe's events
    to it as Stripe may (see the ``sandbox`` fixture: duplicated, in any order, a little late). Tests may also
    ``deliver()`` events themselves; with ``sandbox_delivers=False`` only those arrive."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    token = secrets.token_hex(8)
    key = f"sk_test_{token}"
    async with http.post(
        f"{sandbox.url}/v1/webhook_endpoints",
        data={"url": f"{url}/stripe/webhook", "enabled_events[]": "*", "connect": "true"},
        headers={"Authorization": f"Bearer {key}"},
    ) as answer:
        assert answer.status == 200, await answer.text()
        endpoint = await answer.json()
    if not sandbox_delivers:
        async with http.post(
            f"{sandbox.url}/v1/webhook_endpoints/{endpoint['id']}",
            data={"disabled": "true"},
            headers={"Authorization": f"Bearer {key}"},
        ) as answer:
            assert answer.status == 200, await answer.text()
    settings = make_settings(
        database_url,
        stripe_secret_key=key,
        stripe_publishable_key=f"pk_test_{token}",
        stripe_connect_client_id=f"ca_{token}",
        stripe_webhook_secret=endpoint["secret"],
        stripe_api_base=sandbox.url,
        stripe_connect_base=sandbox.url,
        stripe_js_url=f"{sandbox.url}/v3/",
        public_url=url,
        **overrides,
    )
    app = create_app(settings)
    published = RecordingPublisher(app[PUBLISHER])
    app[PUBLISHER] = published
    client = await aiohttp_client(app, server_kwargs={"port": port})
    return kind(client, app, settings, sandbox, key, url, http, published, endpoint["id"], endpoint["secret"])


@pytest.fixture
async def stack(
    sandbox: RunningSandbox, database_url: str, aiohttp_client: Callable[..., Any], http: aiohttp.ClientSession
) -> AsyncIterator[PayStack]:
    built = await build_stack(sandbox, database_url, aiohttp_client, http)
    yield built
    for user in built.sockets:
        await user.close()


@pytest.fixture
async def connected(stack: PayStack) -> PayStack:
    """The stack with clinic-1's Stripe account connected."""
    await stack.connect_clinic()
    return stack


@pytest.fixture
async def postgres_stack(
    sandbox: RunningSandbox,
    migrated_postgres_url: str,
    aiohttp_client: Callable[..., Any],
    http: aiohttp.ClientSession,
) -> AsyncIterator[PayStack]:
    """The payment stack on PostgreSQL, clinic-1 connected: where two transactions really run side by side."""
    built = await build_stack(sandbox, migrated_postgres_url, aiohttp_client, http)
    await built.connect_clinic()
    yield built
    for user in built.sockets:
        await user.close()


# --- What a payment left behind ----------------------------------------------------------------------------


async def request_row(stack: PayStack, pr_id: str) -> PaymentRequest:
    async with stack.app[DB]() as db:
        return await db.get_one(PaymentRequest, pr_id)


async def receipts_queued(stack: PayStack, pr_id: str, kind: str = "receipt") -> int:
    """Emails of one kind queued for a request: the receipt (at most one), or e.g. one "refund" email per refund."""
    async with stack.app[DB]() as db:
        query = (
            select(func.count())
            .select_from(OutboxEmail)
            .where(OutboxEmail.payment_request_id == pr_id, OutboxEmail.kind == kind)
        )
        return int(await db.scalar(query) or 0)


async def paid_intent(stack: PayStack) -> tuple[SocketUser, SocketUser, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A request paid at Stripe whose news hasn't reached Callpay yet."""
    doctor = await stack.socket(await stack.clinician())
    patient_session = await stack.patient()
    patient = await stack.socket(patient_session)
    pr = await stack.request_payment(doctor)
    intent, _ = await stack.pay(pr["id"], patient_session)
    assert intent["status"] == "succeeded"
    return doctor, patient, patient_session, pr, intent
