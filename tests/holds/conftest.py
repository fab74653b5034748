"""Card-hold fixtures: the payment flow's stack (tests.support.payflow) and an authorised hold in a call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.links.conftest import clock, end_call, platform_token  # noqa: F401
from tests.support.payflow import PayStack, SocketUser, connected, stack  # noqa: F401


@dataclass
class Hold:
    doctor: SocketUser
    patient: SocketUser
    patient_session: dict[str, Any]
    request: dict[str, Any]
    intent: dict[str, Any]


async def authorised_hold(stack: PayStack, amount: str = "80.00", **body: Any) -> Hold:  # noqa: F811
    """A request sent as a hold, its card authorised by the patient and reported by the browser."""
    doctor = await stack.socket(await stack.clinician())
    patient_session = await stack.patient()
    patient = await stack.socket(patient_session)
    pr = await stack.request_payment(doctor, amount=amount, capture="hold", **body)
    assert pr["capture"] == "hold" and pr["status"] == "requested"
    intent, _ = await stack.pay(pr["id"], patient_session)
    assert intent["status"] == "requires_capture", intent
    status, reported = await stack.report(pr["id"], patient_session)
    assert status == 200, reported
    assert reported["status"] == "authorized", reported
    return Hold(doctor, patient, patient_session, reported, intent)
