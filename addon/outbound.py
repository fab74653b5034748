"""Realtime's one entry point, as services see it.

A service returns the events its change causes; the handler publishes them after the transaction commits, so a
client is never told about something that then rolls back. Each event is a fixed, typed record; the realtime
package delivers it to the named room, and never to anyone outside it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from aiohttp import web

EventName = Literal[
    "payment_requests", "payment_request", "payment_received", "clinic_status", "payments_available", "payment_link"
]


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


@dataclass(frozen=True, slots=True)
class Outbound:
    event: EventName
    room: str
    data: Any


class Publisher(Protocol):
    async def publish(self, events: Sequence[Outbound]) -> None: ...


class DroppingPublisher:
    """Used until the realtime package installs its own: nothing is listening yet."""

    async def publish(self, events: Sequence[Outbound]) -> None:
        return None


AfterCommit = Callable[[Sequence[Outbound]], None]

PUBLISHER = web.AppKey("publisher", Publisher)
# Other work a committed change sets off (e.g. waking the receipt outbox), so no handler has to remember it.
AFTER_COMMIT: web.AppKey[list[AfterCommit]] = web.AppKey("after_commit")


async def publish_after_commit(app: web.Application, events: Sequence[Outbound]) -> None:
    """The one step after a commit: tell the rooms, then run the app's after-commit hooks."""
    if events:
        await app[PUBLISHER].publish(events)
        for hook in app[AFTER_COMMIT]:
            hook(events)
