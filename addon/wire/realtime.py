"""Socket.IO messages: what clients send (with their acks) and what the server emits, by event name.

``SERVER_EVENTS`` and ``CLIENT_EVENTS`` are the whole Socket.IO contract; the OpenAPI document publishes them under
``x-socketio`` and the realtime package refuses to emit an event whose payload isn't its model.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, RootModel

from addon.wire.base import Incoming, Outgoing
from addon.wire.clinic import ClinicStatus, PaymentsAvailable
from addon.wire.common import ErrorDetail, Person
from addon.wire.links import PaymentLink
from addon.wire.payments import Capture, PaymentRequest, PaymentRequestList

# --- Client → server -----------------------------------------------------------------------------------------

Amount = Annotated[int, Field(gt=0)] | str
ID_MESSAGE = "Say which payment request: send its id."


class PayerRef(Incoming):
    messages = {"id": "Name the payer by their user id in the call."}

    id: Annotated[str, Field(min_length=1, max_length=200)]


class RequestPayment(Incoming):
    """``request_payment`` (clinician): ask the call for a payment."""

    not_an_object = "Send the request as {amount, description}."
    messages = {
        "amount": "Enter an amount, such as 80.00.",
        "currency": "Choose a currency such as aud.",
        "description": "Say what the payment is for, such as 'Consultation'.",
        "client_ref": "client_ref must be text of at most 100 characters.",
        "capture": 'Choose "now" to charge at once or "hold" to authorise now and charge later.',
        "payer": "Name the payer by their user id in the call, or leave it out for anyone in the call.",
        "item_code": "Give the item code as text.",
        "confirm": "Send confirm as true once the clinician has confirmed a large amount.",
    }

    amount: Amount = Field(description='Minor units, or the text typed ("80.00", "A$80", "1,234.50")')
    currency: str | None = None
    description: str
    client_ref: str | None = Field(default=None, description="The same client_ref twice creates one request")
    capture: Capture | None = Field(default=None, description="Default now")
    payer: PayerRef | None = Field(default=None, description="Absent: anyone in the call")
    item_code: Annotated[str, Field(max_length=100)] | None = None
    confirm: bool | None = Field(default=None, description="The clinician confirmed an amount above the clinic's limit")


class PaymentRequestRef(Incoming):
    not_an_object = "Send {id} of the payment request."
    messages = {"id": ID_MESSAGE}

    id: str


class CancelPaymentRequest(PaymentRequestRef):
    """``cancel_payment_request`` (clinician)."""


class CapturePaymentRequest(PaymentRequestRef):
    """``capture_payment_request`` (clinician): charge a hold, in full or less."""

    messages = {"id": ID_MESSAGE, "amount": "Enter an amount no larger than the hold, such as 80.00."}

    amount: Amount | None = Field(default=None, description="Absent: the whole hold")


class ReleasePaymentRequest(PaymentRequestRef):
    """``release_payment_request`` (clinician): cancel a hold, nothing charged."""


class AckOk(Outgoing):
    ok: Literal[True]
    payment_request: PaymentRequest


class AckError(Outgoing):
    ok: Literal[False]
    error: ErrorDetail

    def to_json(self) -> dict[str, object]:
        return {"ok": False, "error": self.error.to_json()}


class Ack(RootModel[AckOk | AckError]):
    """Every client → server event is acked with ``{"ok": true, "payment_request"}`` or ``{"ok": false, "error"}``."""

class Participants(RootModel[list[Person]]):
    """Who is in the call now and can pay (each by their launch sub and name, with a socket open), in the order they
    joined."""

    def to_json(self) -> object:
        return self.model_dump(mode="json")


# --- The table -----------------------------------------------------------------------------------------------

EventName = Literal[
    "payment_requests",
    "payment_request",
    "payment_received",
    "clinic_status",
    "payments_available",
    "payment_link",
    "participants",
]
EventPayload = PaymentRequest | PaymentRequestList | ClinicStatus | PaymentsAvailable | PaymentLink | Participants

SERVER_EVENTS: dict[EventName, type[BaseModel]] = {
    "payment_requests": PaymentRequestList,
    "payment_request": PaymentRequest,
    "payment_received": PaymentRequest,
    "clinic_status": ClinicStatus,
    "payments_available": PaymentsAvailable,
    "payment_link": PaymentLink,
    "participants": Participants,
}
SERVER_EVENT_SUMMARIES: dict[EventName, str] = {
    "payment_requests": "The call's PaymentRequests, on every (re)connect",
    "payment_request": "One PaymentRequest, on every change, to everyone in the call",
    "payment_received": "One PaymentRequest, to the call's clinicians only, once per payment",
    "clinic_status": "Whether the clinic can take payments, to its staff, on connect and on every change",
    "payments_available": "Whether a patient can pay by card now, to patients, on every (re)connect and change",
    "payment_link": "One PaymentLink, on every change, to the clinic's staff",
    "participants": "Who is in the call now and can pay, to the call's clinicians, on connect and whenever someone "
    "joins or leaves",
}
CLIENT_EVENTS: dict[str, type[Incoming]] = {
    "request_payment": RequestPayment,
    "cancel_payment_request": CancelPaymentRequest,
    "capture_payment_request": CapturePaymentRequest,
    "release_payment_request": ReleasePaymentRequest,
}
