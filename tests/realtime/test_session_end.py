"""A session that ends lets go of its sockets: signed out (``DELETE /api/v1/sessions/current``), revoked or expired,
its sockets are disconnected on whichever worker holds them, and hear nothing more of their call."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
import socketio
from sqlalchemy import insert, update

from addon.app import create_app
from addon.appkeys import DB, DB_READ
from addon.auth import sessions
from addon.models import Session as SessionRow
from realtime.server import redis_channel
from sandbox.stripe import RunningSandbox
from tests.conftest import bearer
from tests.realtime.test_sockets import refused
from tests.support.payflow import PayStack, SocketUser, build_stack, open_socket

# What python-socketio's client calls a Socket.IO disconnect sent by the server (the browser's: "io server
# disconnect", which the pages show as a session that has ended).
SERVER_DISCONNECT = socketio.AsyncClient.reason.SERVER_DISCONNECT


def watch_disconnects(user: SocketUser) -> list[Any]:
    """Why the server let this socket go, as the client heard it (python-socketio passes the reason)."""
    reasons: list[Any] = []

    def record(reason: Any = None) -> None:
        reasons.append(reason)
        user.changed.set()

    user.client.on("disconnect", record)
    return reasons


async def dropped(*watched: tuple[SocketUser, list[Any]], wait: float = 5.0) -> None:
    """Wait until each of these sockets has heard the server let it go."""
    for user, reasons in watched:
        await user.wait_for(lambda _user, reasons=reasons: bool(reasons), wait)  # type: ignore[misc]
        assert not user.client.connected


async def sign_out(stack: PayStack, session: dict[str, Any]) -> int:
    response = await stack.client.delete("/api/v1/sessions/current", headers=bearer(session))
    return response.status


async def test_signing_out_disconnects_every_socket_of_that_session_and_no_other(connected: PayStack) -> None:
    stack = connected
    leaving = await stack.clinician()
    first = await stack.socket(leaving)
    second = await stack.socket(leaving)  # the same session in a second window
    staying = await stack.socket(await stack.clinician(sub="dr-cat", name="Dr Cat"))
    patient = await stack.socket(await stack.patient())
    gone = [watch_disconnects(first), watch_disconnects(second)]
    kept = [watch_disconnects(staying), watch_disconnects(patient)]
    for user in (first, second, staying, patient):
        await user.wait_count("payment_requests", 1)

    assert await sign_out(stack, leaving) == 204
    await dropped((first, gone[0]), (second, gone[1]))
    assert gone == [[SERVER_DISCONNECT], [SERVER_DISCONNECT]]

    # The call goes on for everyone else, and nothing more reaches the signed-out windows.
    heard = [len(first.received), len(second.received)]
    pr = await stack.request_payment(staying)
    await patient.wait_for(lambda u: any(p["id"] == pr["id"] for p in u.of("payment_request")))
    await asyncio.sleep(0.2)
    assert [len(first.received), len(second.received)] == heard
    assert staying.client.connected and patient.client.connected and kept == [[], []]

    # The session is over: the API and a new socket refuse it.
    status, body = await stack.api("GET", "/api/v1/profile", leaving)
    assert status == 401 and body["error"]["code"] == "session_invalid"
    assert await sign_out(stack, leaving) == 401
    assert (await refused(stack, leaving["token"]))["data"] == {"code": "session_invalid"}


async def test_signing_out_needs_a_session(stack: PayStack) -> None:
    response = await stack.client.delete("/api/v1/sessions/current")
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "session_missing"
    response = await stack.client.delete("/api/v1/sessions/current", headers={"Authorization": "Bearer nope"})
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "session_invalid"


@pytest.fixture
async def sweeping(
    sandbox: RunningSandbox, database_url: str, aiohttp_client: Callable[..., Any], http: aiohttp.ClientSession
) -> Any:
    """A stack whose worker checks its sockets' sessions five times a second (the default is every 30 s)."""
    built = await build_stack(sandbox, database_url, aiohttp_client, http, session_sweep_seconds="0.2")
    yield built
    for user in built.sockets:
        await user.close()


@pytest.mark.parametrize("how", ["expired", "idle", "revoked"])
async def test_a_socket_whose_session_ended_by_itself_is_swept(sweeping: PayStack, how: str) -> None:
    stack = sweeping
    ending = await stack.patient()
    other = await stack.patient(sub="patient-2")
    ended_socket, other_socket = await stack.socket(ending), await stack.socket(other)
    reasons = watch_disconnects(ended_socket)
    await ended_socket.wait_count("payment_requests", 1)
    await asyncio.sleep(0.5)  # a few sweeps with both sessions live: nobody is dropped
    assert ended_socket.client.connected and other_socket.client.connected

    now = datetime.now(UTC)
    token_hash = sessions.hash_token(ending["token"])
    change = {
        "expired": {"expires_at": now - timedelta(seconds=1)},
        "idle": {"last_seen_at": now - sessions.IDLE_TIMEOUT - timedelta(seconds=1)},
        "revoked": {"revoked_at": now},
    }[how]
    async with stack.app[DB].begin() as db:
        await db.execute(update(SessionRow).where(SessionRow.token_hash == token_hash).values(**change))
    await dropped((ended_socket, reasons))
    assert reasons == [SERVER_DISCONNECT]
    await asyncio.sleep(0.5)
    assert other_socket.client.connected


async def test_an_open_socket_keeps_its_session_from_going_idle_mid_call(sweeping: PayStack) -> None:
    """A clinician in a long call who presses nothing for two hours is still signed in: the open socket is activity.
    (A session already idle, revoked or expired is swept as above.)"""
    stack = sweeping
    clinician = await stack.clinician()
    socket = await stack.socket(clinician)
    reasons = watch_disconnects(socket)
    token_hash = sessions.hash_token(clinician["token"])
    # The last request was almost two hours ago: a second more and the idle timeout would end the session.
    almost_idle = datetime.now(UTC) - sessions.IDLE_TIMEOUT + timedelta(seconds=1)
    async with stack.app[DB].begin() as db:
        await db.execute(update(SessionRow).where(SessionRow.token_hash == token_hash).values(last_seen_at=almost_idle))
    await asyncio.sleep(2.0)  # ten sweeps, past the moment it would have gone idle
    assert socket.client.connected and not reasons
    async with stack.app[DB_READ]() as db:
        row = await db.get_one(SessionRow, token_hash)
    assert row.last_seen_at > datetime.now(UTC) - timedelta(minutes=1)
    # And the session still works for a request, not only for the socket.
    status, _ = await stack.api("GET", "/api/v1/clinic/settings", clinician)
    assert status != 401


async def test_which_sessions_are_live_is_asked_in_chunks(stack: PayStack) -> None:
    """A worker holding more sockets than one query may bind parameters for still learns about each of them."""
    now = datetime.now(UTC)
    count = sessions.LIVE_AMONG_CHUNK * 2 + 7
    live_session = await stack.patient()  # records the user, organisation, clinic and call
    base = sessions.hash_token(live_session["token"])
    async with stack.app[DB].begin() as db:
        row = await db.get_one(SessionRow, base)
        rows = [
            {
                "token_hash": f"{n:064x}",
                "user_id": row.user_id,
                "role": row.role,
                "organisation_id": row.organisation_id,
                "clinic_id": row.clinic_id,
                "call_id": row.call_id,
                "created_at": now,
                "last_seen_at": now,
                "expires_at": now + timedelta(hours=1) if n % 3 else now - timedelta(seconds=1),
            }
            for n in range(count)
        ]
        await db.execute(insert(SessionRow), rows)
    asked = [f"{n:064x}" for n in range(count)] + [base, "f" * 64]
    async with stack.app[DB_READ]() as db:
        live = await sessions.live_among(db, asked, now=now)
    assert live == {f"{n:064x}" for n in range(count) if n % 3} | {base}


async def test_signing_out_on_one_worker_disconnects_its_sockets_on_another(
    sandbox: RunningSandbox,
    database_url: str,
    aiohttp_client: Callable[..., Any],
    http: aiohttp.ClientSession,
    redis_server: str,
) -> None:
    # Sweeps far apart: a disconnect within the test's few seconds comes through Redis, not from a sweep.
    first = await build_stack(
        sandbox, database_url, aiohttp_client, http, redis_url=redis_server, session_sweep_seconds="3600"
    )
    second = await aiohttp_client(create_app(first.settings))
    second_url = str(second.make_url("")).rstrip("/")
    listener = aioredis.Redis.from_url(redis_server)
    channel = redis_channel(first.settings)
    users: list[SocketUser] = []
    try:
        for _ in range(100):
            if int(dict(await listener.pubsub_numsub(channel)).get(channel.encode(), 0)) >= 2:
                break
            await asyncio.sleep(0.05)

        leaving = await first.clinician()
        staying = await first.patient()
        on_second = await open_socket(second_url, leaving["token"])
        on_first = await open_socket(first.url, leaving["token"])
        stays = await open_socket(second_url, staying["token"])
        users += [on_second, on_first, stays]
        reasons = [watch_disconnects(on_second), watch_disconnects(on_first), watch_disconnects(stays)]
        for user in users:
            await user.wait_count("payment_requests", 1)

        # Signed out through the first worker: the socket the second worker holds goes too.
        assert await sign_out(first, leaving) == 204
        await dropped((on_second, reasons[0]), (on_first, reasons[1]))
        assert reasons[:2] == [[SERVER_DISCONNECT], [SERVER_DISCONNECT]]
        await asyncio.sleep(0.3)
        assert stays.client.connected and reasons[2] == []
    finally:
        for user in users:
            await user.close()
        await listener.aclose()
