"""Realtime's one entry point, as services see it.

A service returns the events its change causes; the handler publishes them after the transaction commits, so a
client is never told about something that then rolls back. Each event is a fixed record whose payload is the wire
model its name calls for (:data:`addon.wire.realtime.SERVER_EVENTS`); the realtime package delivers it to the
named room, and never to anyone outside it. Nothing here knows aiohttp or Socket.IO.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from addon.wire.realtime import SERVER_EVENTS, EventName, EventPayload


def call_room(call_id: int) -> str:
    """Everyone in a call: its clinicians and its patients."""
    return f"call:{call_id}"


def call_staff_room(call_id: int) -> str:
    """A call's clinicians only (staff-only events such as ``payment_received``)."""
    return f"call:{call_id}:staff"


def clinic_staff_room(clinic_id: int) -> str:
    """Every staff member of a clinic with a surface open (e.g. whether payments are possible)."""
    return f"clinic:{clinic_id}:staff"


def clinic_patients_room(clinic_id: int) -> str:
    """Every patient in one of a clinic's calls (only what a patient may know: can they pay by card now?)."""
    return f"clinic:{clinic_id}:patients"


SESSION_ROOM_PREFIX = "session:"


def session_room(token_hash: str) -> str:
    """The sockets of one signed-in session, on whichever workers hold them. No event is ever addressed to it
    (realtime/events.py knows no such room kind): it exists so that ending the session can close it, which
    disconnects its sockets everywhere. Named by the token's hash, which stands in for the token nowhere."""
    return SESSION_ROOM_PREFIX + token_hash


@dataclass(frozen=True, slots=True)
class Outbound:
    event: EventName
    room: str
    data: EventPayload
    # False for news that changes no status (who is paying right now): the payments-by-outcome figure counts
    # changes of status, and would count a request twice for each step of its patient's checkout.
    status_changed: bool = True

    def __post_init__(self) -> None:
        model = SERVER_EVENTS.get(self.event)
        if model is None:
            raise TypeError(f"{self.event!r} is not a realtime event of the contract")
        if type(self.data) is not model:
            raise TypeError(f"{self.event!r} carries {model.__name__}, not {type(self.data).__name__}")


class Publisher(Protocol):
    async def publish(self, events: Sequence[Outbound]) -> None: ...


class SessionSockets(Protocol):
    """What ends a session's open sockets once the session has ended (revoked, signed out, expired)."""

    async def end_sessions(self, token_hashes: Sequence[str]) -> None: ...


class NoSockets:
    """Used until the realtime package installs its own: no sockets to end."""

    async def end_sessions(self, token_hashes: Sequence[str]) -> None:
        return None


class DroppingPublisher:
    """Used until the realtime package installs its own: nothing is listening yet."""

    async def publish(self, events: Sequence[Outbound]) -> None:
        return None
