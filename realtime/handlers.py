"""Socket.IO events in: connect (auth, rooms, snapshot) and the clinician's two actions.

Each action handler parses, calls one service in one transaction, acks, then publishes the service's events after
the commit. The session token is resolved again on every action, so a revoked or expired session stops acting at
once even on a socket that stays open; and it stops hearing too: each socket joins its session's room, which ending
the session closes (disconnecting it on whichever worker holds it), and each worker sweeps its own sockets for
sessions that expired while they were open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web
from socketio.exceptions import ConnectionRefusedError as Refused
from sqlalchemy.ext.asyncio import AsyncSession

from addon.appkeys import DB, DB_READ, GATEWAY, RATE_LIMITS, SETTINGS
from addon.auth import sessions
from addon.auth.roles import CLINICIANS, Role
from addon.auth.sessions import Principal
from addon.errors import CallpayError, RateLimited, Unauthenticated
from addon.gateway import StripeFailure
from addon.http.limits import client_address, limit
from addon.outbound import (
    Outbound,
    call_room,
    call_staff_room,
    clinic_patients_room,
    clinic_staff_room,
    session_room,
)
from addon.publish import publish_after_commit
from addon.services import cancellation, clinics, holds, payment_requests, presence
from addon.services.payment_requests import Outcome
from addon.services.stripe_errors import for_people
from addon.wire.base import parse
from addon.wire.clinic import ClinicStatus, PaymentsAvailable
from addon.wire.common import ErrorDetail
from addon.wire.payments import PaymentRequestList
from addon.wire.realtime import (
    AckError,
    AckOk,
    CancelPaymentRequest,
    CapturePaymentRequest,
    Participants,
    ReleasePaymentRequest,
    RequestPayment,
)
from realtime.server import disconnect_here

log = logging.getLogger("callpay.realtime")
MISSING_SIGN_IN = 'Sign-in is missing: connect with auth {"token": <session token>}.'
NO_CALL = "This session isn't in a call. Open Callpay again from the call."
INTERNAL = ErrorDetail(code="internal_error", message="Something went wrong on our side. Please try again.")

Action = Callable[[AsyncSession, Principal], Awaitable[Outcome]]
# A service that opens its own short transactions, because it calls Stripe between them.
OwnAction = Callable[[Principal], Awaitable[Outcome]]


def rooms_for(principal: Principal) -> list[str]:
    """Patients join their call's room only; staff rooms are what keep staff-only events away from them. Everyone
    joins their session's room, which no event is addressed to: closing it is how an ended session is let go."""
    rooms: list[str] = [session_room(principal.token_hash)]
    if principal.call_id is not None:
        rooms.append(call_room(principal.call_id))
        if principal.role in CLINICIANS:
            rooms.append(call_staff_room(principal.call_id))
    if principal.is_staff and principal.clinic_id is not None:
        rooms.append(clinic_staff_room(principal.clinic_id))
    if principal.role is Role.PATIENT and principal.clinic_id is not None:
        rooms.append(clinic_patients_room(principal.clinic_id))
    return rooms


def register(server: Any, app: web.Application) -> None:
    # This worker's name for its sockets in the presence table (see addon/services/presence.py).
    worker = presence.new_worker_id()
    app.cleanup_ctx.append(_keep_presence(app, worker))
    # This worker's open sockets, by sid: the hash of the session each one signed in with (for the sweep).
    open_sockets: dict[str, str] = {}
    app.cleanup_ctx.append(_sweep_ended_sessions(app, server, open_sockets))

    async def resolve(token: str) -> Principal:
        return await sessions.authenticate(app[DB_READ], app[DB], token)

    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        request = environ.get("aiohttp.request")
        if isinstance(request, web.Request):
            try:
                await limit(request, ("socket-connect-ip", client_address(request)))
            except RateLimited as exc:
                raise Refused(exc.message, {"code": exc.code, "retry_after": exc.retry_after}) from exc
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token:
            raise Refused(MISSING_SIGN_IN, {"code": "session_missing"})
        try:
            principal = await resolve(token)
        except Unauthenticated as exc:
            raise Refused(exc.message, {"code": exc.code}) from exc
        if principal.role is Role.PATIENT and principal.call_id is None:
            raise Refused(NO_CALL, {"code": "no_call"})
        await server.save_session(sid, {"token": token})
        open_sockets[sid] = principal.token_hash
        if presence.counts(principal):
            async with app[DB].begin() as db:
                await presence.joined(db, worker, sid, principal)
        # Join before reading the snapshot, so nothing that changes in between is missed; pages keep the newer copy.
        for room in rooms_for(principal):
            await server.enter_room(sid, room)
        async with app[DB_READ]() as db:
            snapshot = (
                PaymentRequestList(await payment_requests.list_for_call(db, principal.call_id))
                if principal.call_id
                else None
            )
            status = await clinics.status_for(db, principal) if principal.is_staff and principal.clinic_id else None
            available = await clinics.patient_status_for(db, principal) if principal.role is Role.PATIENT else None
            present = Participants(await presence.present(db, principal.call_id)) if principal.call_id else None
        if present is not None and principal.role is Role.PATIENT and principal.call_id is not None:
            # Someone joined: the clinician's "who pays" picker hears it at once.
            await publish_after_commit(
                app, [Outbound(event="participants", room=call_staff_room(principal.call_id), data=present)]
            )
        clinicians_list = present if principal.role in CLINICIANS else None
        # Sent once the connection is accepted (the handler returning is what accepts it), and only to this
        # socket on this worker, so it never goes round through Redis.
        server.start_background_task(send_snapshot, sid, snapshot, status, available, clinicians_list)

    async def disconnect(sid: str, reason: object = None) -> None:
        open_sockets.pop(sid, None)
        # Someone left: the clinician's "who pays" picker hears it at once.
        async with app[DB].begin() as db:
            call_id = await presence.left(db, worker, sid)
            if call_id is None:
                return
            people = Participants(await presence.present(db, call_id))
        await publish_after_commit(app, [Outbound(event="participants", room=call_staff_room(call_id), data=people)])

    async def send_snapshot(
        sid: str,
        snapshot: PaymentRequestList | None,
        status: ClinicStatus | None,
        available: PaymentsAvailable | None,
        present: Participants | None = None,
    ) -> None:
        # A patient hears whether paying is possible before the list, so no Pay now shows that can't work.
        if available is not None:
            await server.emit("payments_available", available.to_json(), to=sid, ignore_queue=True)
        if snapshot is not None:
            await server.emit("payment_requests", snapshot.to_json(), to=sid, ignore_queue=True)
        if status is not None:
            await server.emit("clinic_status", status.to_json(), to=sid, ignore_queue=True)
        if present is not None:
            await server.emit("participants", present.to_json(), to=sid, ignore_queue=True)

    async def act(sid: str, action: Action) -> Any:
        async def in_one_transaction(principal: Principal) -> Outcome:
            async with app[DB].begin() as db:
                return await action(db, principal)

        return await act_alone(sid, in_one_transaction)

    async def act_alone(sid: str, action: OwnAction) -> Any:
        """Run one clinician action; the ack is the contract's Ack, success or not."""
        try:
            token = (await server.get_session(sid)).get("token", "")
            principal = await resolve(token)
            await app[RATE_LIMITS].check(("socket-action", principal.token_hash))
            outcome = await action(principal)
        except CallpayError as exc:
            return AckError(ok=False, error=ErrorDetail(**exc.to_dict())).to_json()
        except StripeFailure as exc:
            return AckError(ok=False, error=ErrorDetail(**for_people(exc).to_dict())).to_json()
        except Exception:
            log.exception("socket action failed", extra={"sid": sid})
            return AckError(ok=False, error=INTERNAL).to_json()
        await publish_after_commit(app, outcome.events)
        return AckOk(ok=True, payment_request=outcome.payment_request).to_json()

    async def request_payment(sid: str, data: Any = None) -> Any:
        async def create(db: AsyncSession, principal: Principal) -> Outcome:
            body = parse(RequestPayment, data)
            return await payment_requests.create(db, principal, body.model_dump(exclude_none=True))

        return await act(sid, create)

    async def cancel_payment_request(sid: str, data: Any = None) -> Any:
        database, gateway = app[DB], app[GATEWAY]

        async def cancel(principal: Principal) -> Outcome:
            body = parse(CancelPaymentRequest, data)
            return await cancellation.cancel(database, gateway, principal, body.id)

        return await act_alone(sid, cancel)

    async def capture_payment_request(sid: str, data: Any = None) -> Any:
        database, gateway = app[DB], app[GATEWAY]

        async def charge(principal: Principal) -> Outcome:
            body = parse(CapturePaymentRequest, data)
            return await holds.capture(database, gateway, principal, body.id, body.amount)

        return await act_alone(sid, charge)

    async def release_payment_request(sid: str, data: Any = None) -> Any:
        database, gateway = app[DB], app[GATEWAY]

        async def let_go(principal: Principal) -> Outcome:
            body = parse(ReleasePaymentRequest, data)
            return await holds.release(database, gateway, principal, body.id)

        return await act_alone(sid, let_go)

    server.on("connect", connect)
    server.on("disconnect", disconnect)
    server.on("request_payment", request_payment)
    server.on("cancel_payment_request", cancel_payment_request)
    server.on("capture_payment_request", capture_payment_request)
    server.on("release_payment_request", release_payment_request)


def _keep_presence(app: web.Application, worker: str) -> Callable[[web.Application], AsyncIterator[None]]:
    """Renew this worker's presence rows while it runs, and remove them when it stops (its sockets close with it).

    The loop stops on an event, not on cancellation alone (see addon/background.py for why)."""

    async def context(_app: web.Application) -> AsyncIterator[None]:
        stopping = asyncio.Event()

        async def loop() -> None:
            while not stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), presence.RENEW_EVERY.total_seconds())
                if stopping.is_set():
                    return
                try:
                    async with app[DB].begin() as db:
                        await presence.renew(db, worker)
                except Exception:
                    log.exception("presence renewal failed")

        task = asyncio.create_task(loop(), name="callpay-presence")
        try:
            yield
        finally:
            stopping.set()
            await asyncio.wait([task], timeout=5)
            try:
                async with app[DB].begin() as db:
                    await presence.forget_worker(db, worker)
            except Exception:
                log.warning("could not remove this worker's presence rows; they lapse by themselves")

    return context


def _sweep_ended_sessions(
    app: web.Application, server: Any, open_sockets: dict[str, str]
) -> Callable[[web.Application], AsyncIterator[None]]:
    """Every ``session_sweep_seconds``, disconnect this worker's sockets whose session is no longer live, and keep
    the others' sessions from going idle while their sockets are open.

    Ending a session through Callpay disconnects its sockets at once; this catches what no request announces: the
    absolute and idle expiries, a revoke made in the database, and a socket that signed in just as its session was
    being ended (its room closed a moment before it joined). Each worker sweeps only the sockets it holds."""

    async def sweep() -> int:
        hashes = set(open_sockets.values())
        if not hashes:
            return 0
        async with app[DB_READ]() as db:
            live = await sessions.live_among(db, hashes)
        if live:
            async with app[DB].begin() as db:
                await sessions.keep_alive(db, live)
        ended = 0
        for token_hash in hashes - live:
            ended += await disconnect_here(server, session_room(token_hash))
        if ended:
            log.info("sockets of ended sessions disconnected", extra={"sockets": ended})
        return ended

    async def context(_app: web.Application) -> AsyncIterator[None]:
        stopping = asyncio.Event()
        every = app[SETTINGS].session_sweep_seconds

        async def loop() -> None:
            while not stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), every)
                if stopping.is_set():
                    return
                try:
                    await sweep()
                except Exception:
                    log.exception("sweep for ended sessions failed")

        task = asyncio.create_task(loop(), name="callpay-session-sweep")
        try:
            yield
        finally:
            stopping.set()
            await asyncio.wait([task], timeout=5)

    return context
