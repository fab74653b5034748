"""Someone paying a request right now, as the request's JSON tells the call: built here from the row alone.

Kept apart from :mod:`addon.services.paying` (which changes it) so the JSON and the transitions, which clear it on
every change of status, can use it without importing the services that use them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from addon.lifecycle import Trigger
from addon.models import PaymentRequest, iso_utc, utcnow
from addon.wire import payments as wire
from addon.wire.common import Person

TTL = timedelta(seconds=90)
STEP_WORDS = {
    "checkout": "checkout is open",
    "confirming": "confirming the card",
    "authenticating": "their bank is checking the card (3-D Secure)",
}
CLEARED: dict[str, Any] = {
    "paying_step": None,
    "paying_sub": None,
    "paying_name": None,
    "paying_since": None,
    "paying_until": None,
}
# Someone may be paying only what may still be paid.
PAYABLE = Trigger.CHECKOUT_STARTED.sources


def paying_json(pr: PaymentRequest, now: datetime | None = None) -> wire.Paying | None:
    """What the call is told about someone paying the request, or None when no one is (or it lapsed)."""
    if pr.paying_step not in STEP_WORDS or pr.paying_until is None or pr.paying_since is None:
        return None
    if pr.paying_until <= (now or utcnow()) or pr.status not in PAYABLE:
        return None
    name = pr.paying_name or "The patient"
    return wire.Paying(
        step=cast(wire.PayingStep, pr.paying_step),  # one of STEP_WORDS, checked above
        by=Person(id=pr.paying_sub or "", name=name),
        since=iso_utc(pr.paying_since),
        expires_at=iso_utc(pr.paying_until),
        words=f"{name} is paying now: {STEP_WORDS[pr.paying_step]}.",
    )
