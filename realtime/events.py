"""Which event may go to which kind of room, checked before anything is sent.

The rooms are the privacy boundary: patients only ever join their call's room and their clinic's patients room, so
an event is staff-only exactly when its room is a staff room. This table makes that a rule rather than a habit:
``payment_received`` can only be addressed to a call's staff room, ``clinic_status`` only to a clinic's staff room,
its patient-safe counterpart ``payments_available`` (no reason code, words for patients) only to a clinic's
patients room, and nothing else goes anywhere unexpected.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import get_args

from addon.outbound import Outbound
from addon.wire.realtime import SERVER_EVENTS, EventName

ROOM_KINDS = {
    "call": re.compile(r"call:\d+"),
    "call_staff": re.compile(r"call:\d+:staff"),
    "clinic_staff": re.compile(r"clinic:\d+:staff"),
    "clinic_patients": re.compile(r"clinic:\d+:patients"),
}
ALLOWED_ROOMS: dict[str, frozenset[str]] = {
    "payment_requests": frozenset({"call"}),
    "payment_request": frozenset({"call"}),
    "payment_received": frozenset({"call_staff"}),
    "clinic_status": frozenset({"clinic_staff"}),
    "payments_available": frozenset({"clinic_patients"}),
    # A pay-later link changed (made, paid, expired, canceled, reminded): the clinic's staff only.
    "payment_link": frozenset({"clinic_staff"}),
    # Who is in the call (names and launch ids): the call's clinicians only, for the "who pays" picker.
    "participants": frozenset({"call_staff"}),
}
assert set(ALLOWED_ROOMS) == set(get_args(EventName)), "every event name needs its allowed rooms"


class InvalidEvent(ValueError):
    """An event addressed to a room it must not reach, or not a known event at all: a bug, never sent."""


def room_kind(room: str) -> str | None:
    for kind, pattern in ROOM_KINDS.items():
        if pattern.fullmatch(room):
            return kind
    return None


def check(event: Outbound) -> None:
    allowed = ALLOWED_ROOMS.get(event.event)
    if allowed is None:
        raise InvalidEvent(f"unknown realtime event {event.event!r}")
    kind = room_kind(event.room)
    if kind is None or kind not in allowed:
        raise InvalidEvent(f"event {event.event!r} may not be sent to room {event.room!r}")
    if type(event.data) is not SERVER_EVENTS[event.event]:
        raise InvalidEvent(f"event {event.event!r} must carry {SERVER_EVENTS[event.event].__name__}")


def check_all(events: Sequence[Outbound]) -> None:
    """All or nothing: a batch with one bad event sends none of them."""
    for event in events:
        check(event)
