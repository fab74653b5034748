"""The Socket.IO server as clients meet it: connect auth, origin, rooms, snapshots, and who hears what."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
import socketio

from addon.app import create_app
from addon.outbound import Outbound, call_room, call_staff_room, clinic_patients_room, clinic_staff_room
from addon.wire.clinic import ClinicStatus, PaymentsAvailable
from addon.wire.common import Person
from addon.wire.payments import PaymentRequest
from realtime.events import InvalidEvent, check
from realtime.server import redis_channel
from sandbox.stripe import RunningSandbox
from tests.support.payflow import PayStack, build_stack, open_socket


async def refused(stack: PayStack, token: str | None, **kwargs: Any) -> Any:
    """Connect and expect refusal; returns what the server said (the connect_error data, or the transport error)."""
    client = socketio.AsyncClient(reconnection=False)
    said: list[Any] = []
    client.on("connect_error", lambda data: said.append(data))
    auth = {"token": token} if token is not None else None
    with pytest.raises(socketio.exceptions.ConnectionError) as caught:
        await client.connect(stack.url, auth=auth, transports=["websocket"], wait_timeout=15, **kwargs)
    return said[0] if said else str(caught.value)


async def test_a_missing_or_bad_token_is_refused_at_connect(stack: PayStack) -> None:
    missing = await refused(stack, None)
    assert missing["message"].startswith("Sign-in is missing") and missing["data"] == {"code": "session_missing"}
    bad = await refused(stack, "not-a-real-token")
    assert bad["message"].startswith("Your session has ended") and bad["data"] == {"code": "session_invalid"}


async def test_a_foreign_origin_is_refused_and_our_own_is_let_in(
    stack: PayStack, caplog: pytest.LogCaptureFixture
) -> None:
    session = await stack.clinician()
    # Refused at the handshake, before any Socket.IO packet: the client only learns that it failed.
    await refused(stack, session["token"], headers={"Origin": "https://evil.example"})
    assert "origin not allowed" in caplog.text
    user = await stack.socket(session, headers={"Origin": stack.url})
    assert user.client.connected


async def test_a_reconnecting_patient_gets_the_snapshot_mid_payment(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    patient_session = await stack.patient()
    patient = await stack.socket(patient_session)
    await patient.wait_count("payment_requests", 1)
    pr = await stack.request_payment(doctor)
    intent, checkout = await stack.pay(pr["id"], patient_session, "pm_card_authenticationRequired")
    await patient.close()  # the call window reloads while the bank's challenge is open

    await stack.complete_3ds(intent["id"], checkout["client_secret"])
    await stack.deliver(await stack.event(intent["id"], "payment_intent.succeeded"))
    back = await stack.socket(patient_session)
    snapshot = (await back.wait_count("payment_requests", 1))[0]
    assert [(p["id"], p["status"], p["receipt_number"]) for p in snapshot] == [(pr["id"], "paid", "000001")]
    assert back.of("payment_received") == [] and back.of("clinic_status") == []

    # The clinician reconnecting gets the list and the clinic's status, and no second pop-up.
    await doctor.close()
    again = await stack.socket(await stack.clinician())
    await again.wait_count("clinic_status", 1)
    assert (await again.wait_count("payment_requests", 1))[0][0]["status"] == "paid"
    await asyncio.sleep(0.2)
    assert again.of("payment_received") == []


async def test_staff_only_events_never_reach_patients(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    patient_session = await stack.patient()
    patient = await stack.socket(patient_session)
    other_call_patient = await stack.socket(await stack.patient(sub="patient-2", call="call-2"))
    pr = await stack.request_payment(doctor)
    await stack.pay(pr["id"], patient_session)
    await stack.report(pr["id"], patient_session)
    await doctor.wait_count("payment_received", 1)
    await patient.wait_for(lambda u: len(u.of("payment_request")) == 3)
    await asyncio.sleep(0.3)

    # Who is in the call (for the "who pays" picker) comes on connect and when someone joins, to clinicians only.
    assert doctor.of("participants")[-1] == [{"id": "patient-1", "name": "Patient"}]
    # The request made, the patient paying it (checkout open), paid.
    assert [event for event, _ in doctor.received if event != "participants"] == [
        "payment_requests",
        "clinic_status",
        "payment_request",
        "payment_request",
        "payment_request",
        "payment_received",
    ]
    # Patients hear whether they can pay by card (in their own words, nothing staff-only), then the call's list.
    expected = ["payments_available", "payment_requests", "payment_request", "payment_request", "payment_request"]
    assert [event for event, _ in patient.received] == expected
    assert patient.of("payments_available") == [{"payments_available": True, "reason": None}]
    assert [event for event, _ in other_call_patient.received] == ["payments_available", "payment_requests"]
    assert other_call_patient.of("payment_requests") == [[]]
    assert len(stack.published.of("payment_received")) == 1
    assert all(e.room == call_staff_room(1) for e in stack.published.of("payment_received"))


async def test_a_patient_cannot_act_on_another_calls_request(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    pr = await stack.request_payment(doctor)
    stranger = await stack.patient(sub="patient-9", call="call-9")
    for status, body in (await stack.checkout(pr["id"], stranger), await stack.report(pr["id"], stranger)):
        assert status == 404 and body["error"]["code"] == "not_found"
    # A clinician of another call can't cancel it either, and the same "not found" answers a made-up id.
    other_doctor = await stack.socket(await stack.clinician(sub="dr-bob", call="call-9"))
    ack = await other_doctor.call("cancel_payment_request", {"id": pr["id"]})
    assert ack["ok"] is False and ack["error"]["code"] == "not_found"
    assert (await stack.checkout("pr_missing", await stack.patient()))[0] == 404
    # The clinician's own call can't be paid by staff through the patient's endpoint.
    status, body = await stack.checkout(pr["id"], await stack.clinician())
    assert status == 403


async def test_an_ended_session_stops_acting_on_an_open_socket(connected: PayStack) -> None:
    stack = connected
    session = await stack.clinician()
    doctor = await stack.socket(session)
    from addon.appkeys import DB
    from addon.auth import sessions

    async with stack.app[DB].begin() as db:
        await sessions.revoke(db, sessions.hash_token(session["token"]))
    ack = await doctor.call("request_payment", {"amount": "10", "description": "x"})
    assert ack["ok"] is False and ack["error"]["code"] == "session_invalid"


def _request() -> PaymentRequest:
    return PaymentRequest(
        id="pr_1",
        call="call-1",
        clinic="clinic-1",
        clinician=Person(id="dr-ada", name="Dr Ada Lovelace"),
        amount=8000,
        currency="aud",
        description="Consultation",
        status="requested",
        amount_refunded=0,
        receipt_number=None,
        created_at="2026-01-01T00:00:00Z",
        paid_at=None,
        failure_message=None,
        payable=True,
        cancelable=True,
        refundable=False,
        receipt_available=False,
        amount_display="A$80.00",
        card_brand=None,
        card_last4=None,
        card_display=None,
        canceled_at=None,
        updated_at="2026-01-01T00:00:00Z",
    )


def test_events_are_checked_against_the_rooms_they_may_reach() -> None:
    status = ClinicStatus(clinic="clinic-1", payments_available=True, reason_code=None, reason=None)
    available = PaymentsAvailable(payments_available=True, reason=None)
    check(Outbound("payment_request", call_room(1), _request()))
    check(Outbound("payment_received", call_staff_room(1), _request()))
    check(Outbound("clinic_status", clinic_staff_room(1), status))
    check(Outbound("payments_available", clinic_patients_room(1), available))
    for bad in (
        Outbound("payment_received", call_room(1), _request()),
        Outbound("clinic_status", call_room(1), status),
        Outbound("clinic_status", clinic_patients_room(1), status),
        Outbound("payments_available", clinic_staff_room(1), available),
        Outbound("payment_request", "everyone", _request()),
    ):
        with pytest.raises(InvalidEvent):
            check(bad)


def test_an_event_carries_the_payload_model_its_name_calls_for() -> None:
    with pytest.raises(TypeError, match="carries PaymentRequest"):
        Outbound("payment_request", call_room(1), PaymentsAvailable(payments_available=True, reason=None))
    with pytest.raises(TypeError, match="not a realtime event"):
        Outbound("surprise", call_room(1), _request())  # type: ignore[arg-type]


async def test_two_workers_sharing_redis_deliver_each_others_events(
    sandbox: RunningSandbox,
    database_url: str,
    aiohttp_client: Callable[..., Any],
    http: aiohttp.ClientSession,
    redis_server: str,
) -> None:
    first = await build_stack(sandbox, database_url, aiohttp_client, http, redis_url=redis_server)
    second_app = create_app(first.settings)
    second = await aiohttp_client(second_app)
    second_url = str(second.make_url("")).rstrip("/")
    listener = aioredis.Redis.from_url(redis_server)
    channel = redis_channel(first.settings)
    try:

        async def subscribers() -> int:
            counts = dict(await listener.pubsub_numsub(channel))
            return int(counts.get(channel.encode(), 0))

        for _ in range(100):
            if await subscribers() >= 2:
                break
            await asyncio.sleep(0.05)
        assert await subscribers() >= 2

        await first.connect_clinic()
        doctor = await open_socket(second_url, (await first.clinician())["token"])
        patient_session = await first.patient()
        patient = await open_socket(second_url, patient_session["token"])
        try:
            await doctor.wait_count("payment_requests", 1)
            on_first = await first.socket(await first.clinician(sub="dr-cat"))
            pr = await first.request_payment(on_first)
            await first.pay(pr["id"], patient_session)
            await first.report(pr["id"], patient_session)  # published by the first worker …
            received = await doctor.wait_count("payment_received", 1)  # … heard on the second
            assert received[0]["id"] == pr["id"]
            await patient.wait_for(lambda u: any(p["status"] == "paid" for p in u.of("payment_request")))
            await asyncio.sleep(0.3)
            assert len(doctor.of("payment_received")) == 1
            assert patient.of("payment_received") == []
        finally:
            await doctor.close()
            await patient.close()
            for user in first.sockets:
                await user.close()
    finally:
        await listener.aclose()


async def test_patients_learn_live_when_card_payments_stop_and_start(connected: PayStack) -> None:
    """Turning Callpay off tells the call's patient that paying can't work, in words meant for a patient."""
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    patient = await stack.socket(await stack.patient())
    await patient.wait_count("payments_available", 1)
    boss = await stack.session(role="org_admin", sub="boss", clinic=None, call=None)
    status, _ = await stack.api("PATCH", "/api/v1/org/clinics/clinic-1", boss, json={"addon_enabled": False})
    assert status == 200
    told = (await patient.wait_count("payments_available", 2))[-1]
    assert told == {
        "payments_available": False,
        "reason": "The clinic can't take card payments right now. Your clinician will tell you how to pay.",
    }
    staff = (await doctor.wait_count("clinic_status", 2))[-1]
    assert staff["reason_code"] == "addon_disabled" and "organisation admin" in staff["reason"]
    assert patient.of("clinic_status") == []

    await stack.api("PATCH", "/api/v1/org/clinics/clinic-1", boss, json={"addon_enabled": True})
    assert (await patient.wait_count("payments_available", 3))[-1] == {"payments_available": True, "reason": None}
