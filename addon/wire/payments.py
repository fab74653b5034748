"""Payment requests, their refunds, checkout, and the payments list."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, RootModel

from addon.lifecycle import Status
from addon.wire.base import Currency, Incoming, MinorUnits, Outgoing, Timestamp
from addon.wire.common import Person

# The lifecycle's own enum, so the schema's status list is the one the CHECK constraint and the transitions use.
PaymentStatus = Status
RefundStatus = Literal["pending", "succeeded", "failed", "canceled"]
Capture = Literal["now", "hold"]
Email = Annotated[str, Field(max_length=254)]


class Refund(Outgoing):
    id: str
    amount: MinorUnits
    currency: Currency
    reason: str | None
    status: RefundStatus
    created_at: Timestamp
    # What screens show.
    amount_display: str
    created_at_display: str
    settled_at: Timestamp | None
    status_words: str
    failure_reason: str | None
    failure_message: str | None
    source: Literal["callpay", "stripe"] = Field(description="stripe: made in the clinic's Stripe dashboard")


PayingStep = Literal["checkout", "confirming", "authenticating"]


class Paying(Outgoing):
    """Someone in the call is paying the request right now, so its clinician doesn't cancel it under their hands.

    It lapses by itself at ``expires_at`` unless the payer's page says they are still at it, and any change of the
    request's status ends it."""

    step: PayingStep = Field(
        description="checkout: the checkout is open; confirming: the card is being confirmed; "
        "authenticating: the bank is checking it (3-D Secure)"
    )
    by: Person = Field(description="Who is paying: their launch sub and name")
    since: Timestamp
    expires_at: Timestamp = Field(description="When it lapses unless the payer's page renews it")
    words: str = Field(description='What the clinician reads, such as "Sam Lee is paying now: checkout is open."')


class PaymentRequest(Outgoing):
    """The contract's PaymentRequest, wherever it is sent: API answers and Socket.IO payloads alike.

    The patient's email is never in it: everyone in the call receives it.
    """

    id: str
    call: str
    clinic: str
    clinician: Person
    amount: MinorUnits = Field(description="Minor units; after a smaller capture of a hold, what was charged")
    currency: Currency
    description: str
    status: PaymentStatus
    amount_refunded: MinorUnits
    receipt_number: str | None
    created_at: Timestamp
    paid_at: Timestamp | None
    failure_message: str | None
    # What the pages decide with, the same for every viewer, so no page re-derives a rule.
    payable: bool = Field(description="A patient may pay it now")
    cancelable: bool = Field(description="Its clinician may cancel it now")
    refundable: bool = Field(description="Staff may refund it now")
    receipt_available: bool
    item_code: str | None = None
    capture: Capture = "now"
    amount_authorized: MinorUnits | None = Field(default=None, description="A hold's authorised amount")
    payer: Person | None = Field(default=None, description="null: anyone in the call may pay")
    paying: Paying | None = Field(default=None, description="Someone is paying it right now; null otherwise")
    capturable: bool = Field(default=False, description="A hold its clinician may charge or release now")
    amount_authorized_display: str | None = None
    capture_before: Timestamp | None = Field(default=None, description="When Stripe would let the hold lapse")
    refunds: list[Refund] = []
    pay_all: str | None = Field(
        default=None, description="Paid together with other requests of the call (Pay all): the payment they share"
    )
    replaced_by_plan: str | None = Field(
        default=None,
        description="Split into an instalment plan (its id): cancelled because the plan's instalments replace it",
    )
    # What screens show, so no page formats money or guesses card details itself.
    amount_display: str = Field(description='The amount as people read it, with its currency ("A$80.00")')
    card_brand: str | None
    card_last4: str | None
    card_display: str | None = Field(description='The card as people read it ("Visa ending in 4242")')
    canceled_at: Timestamp | None
    updated_at: Timestamp


class PaymentRequestList(RootModel[list[PaymentRequest]]):
    """A call's payment requests, oldest first (the ``payment_requests`` snapshot)."""

    def to_json(self) -> object:
        return self.model_dump(mode="json")


class TimelineEntry(Outgoing):
    at: Timestamp
    at_display: str = Field(description="In the clinic's time zone")
    what: str


class PaymentRequestDetail(PaymentRequest):
    """``GET /api/v1/payment-requests/{id}`` as the call's patient sees it: refunds and what happened when."""

    timeline: list[TimelineEntry]
    clinic_name: str
    patient_name: str | None
    created_at_display: str
    paid_at_display: str | None
    amount_refunded_display: str
    timezone: str


class StaffPaymentRequestDetail(PaymentRequestDetail):
    """The same for the clinic's staff, with what only they see and may do."""

    patient_email: str | None
    amount_refundable: MinorUnits
    amount_refundable_display: str
    amount_refundable_text: str = Field(description="What is left to refund, as people type it")
    stripe_fee: MinorUnits | None
    stripe_fee_display: str | None
    next_step: str | None = Field(description="What can still be done about an unpaid request, for staff")
    actions: list[Literal["refund", "resend_receipt"]] = Field(description="What this viewer may do now")


class PaymentRequestView(RootModel[StaffPaymentRequestDetail | PaymentRequestDetail]):
    """One PaymentRequest with its refunds and timeline: the staff view, or the patient's."""

    def to_json(self) -> object:
        return self.model_dump(mode="json")


# --- Checkout ----------------------------------------------------------------------------------------------


class CheckoutBody(Incoming):
    messages = {
        "email": "Enter your email address for the receipt.",
        "name": "Enter your name as text, or leave it empty.",
    }

    email: str
    # Optional: the patient's name on the receipt; left out, the receipt uses the name the platform gave.
    name: Annotated[str, Field(max_length=200)] | None = None


class PayingBody(Incoming):
    """What the payer's page says it is doing: checkout open, card being confirmed, or closed without paying."""

    messages = {"step": 'Say "checkout", "confirming" or "closed".'}

    step: Literal["checkout", "confirming", "closed"]


class CallCheckoutBody(Incoming):
    """Pay several open requests of the call at once: one PaymentIntent for their sum."""

    messages = {
        "email": "Enter your email address for the receipt.",
        "payment_requests": "Choose the payment requests to pay.",
    }

    email: str
    payment_requests: Annotated[list[str], Field(min_length=1, max_length=50)]
    # Optional, as for one request: the patient's name on the receipt.
    name: Annotated[str, Field(max_length=200)] | None = None


class Checkout(Outgoing):
    """What Stripe.js needs to take the payment on the clinic's account."""

    client_secret: str
    publishable_key: str
    stripe_account: str
    stripe_js_url: str = Field(json_schema_extra={"format": "uri"})
    amount: MinorUnits
    currency: Currency


class PayAllOffer(Outgoing):
    """What this patient may pay at once in the call now: the widget shows Pay all when ``count`` is 2 or more."""

    payment_requests: list[str] = Field(
        description="The requests this participant may pay together now, oldest first: open, in one currency, not "
        "addressed to someone else, not a card hold, not being paid by another participant"
    )
    count: int = Field(ge=0)
    amount: MinorUnits = Field(description="Their sum (0 when there are none)")
    currency: Currency | None
    amount_display: str | None = Field(description='The sum as screens show it, such as "A$145.50"')


# --- Refunds -----------------------------------------------------------------------------------------------


class RefundBody(Incoming):
    messages = {
        "amount": "Enter the amount to refund in the currency's minor unit, such as 8000 for A$80.00.",
        "reason": "Say why in text of at most 500 characters.",
        "client_ref": "client_ref must be text of at most 100 characters.",
    }

    amount: Annotated[int, Field(gt=0)] | str | None = Field(
        default=None, description="Minor units, or text such as 40.00 in the payment's currency; absent: what is left"
    )
    reason: Annotated[str, Field(max_length=500)] | None = None
    client_ref: Annotated[str, Field(min_length=1, max_length=100)] | None = None


class RefundCreated(Outgoing):
    refund: Refund
    payment_request: StaffPaymentRequestDetail | PaymentRequestDetail


class ResendReceiptBody(Incoming):
    messages = {"email": "Enter an email address like name@example.com."}

    email: str | None = Field(default=None, description="A corrected address, which becomes the receipt address")


class ReceiptResent(Outgoing):
    email: str = Field(description="Where the receipt is going")
    payment_request: StaffPaymentRequestDetail | PaymentRequestDetail


# --- The payments list -------------------------------------------------------------------------------------


class PaymentsQuery(Incoming):
    """``GET /api/v1/payments`` query parameters, all text as sent in the address."""

    status: str | None = Field(
        default=None, description="May repeat or be comma-separated; 'unpaid' is requested or failed"
    )
    from_: str | None = Field(default=None, alias="from", description="YYYY-MM-DD (clinic time) or an ISO time")
    to: str | None = Field(default=None, description="YYYY-MM-DD (clinic time, the whole day) or an ISO time")
    clinician: str | None = Field(default=None, description="The clinician's platform user id")
    clinic: str | None = Field(default=None, description="The clinic's platform id (org admins)")
    currency: str | None = Field(default=None, description="ISO 4217, e.g. aud")
    amount_min: str | None = Field(default=None, description="As people write it (80.00), in each payment's currency")
    amount_max: str | None = Field(default=None, description="As people write it (80.00), in each payment's currency")
    q: str | None = Field(default=None, description="Text in the description, receipt number, patient email or name")
    sort: str | None = Field(
        default=None, description="created_at or amount; a leading '-' for newest or largest first"
    )
    limit: str | None = Field(default=None, description="1 to 200 (default 50)")
    cursor: str | None = Field(default=None, description="next_cursor of the previous page")
    format: Literal["json", "csv"] | None = None


class PaymentRow(PaymentRequest):
    """A PaymentRequest as the payment centre lists it to staff: the contract's object plus what staff see of it.

    Only staff of the request's clinic receive it (the patient's email and name are in it), never a call's room.
    """

    clinic_name: str
    patient_name: str | None
    patient_email: str | None
    amount_refundable: MinorUnits = Field(description="What is left to refund")
    amount_refundable_display: str
    amount_refunded_display: str
    stripe_fee: MinorUnits | None
    created_at_display: str = Field(description="In the clinic's time zone, as people read it")
    paid_at_display: str | None
    timezone: str = Field(description="The clinic's IANA time zone, e.g. Australia/Sydney")


class TotalsDisplay(Outgoing):
    gross: str
    refunded: str
    net: str
    fees: str | None
    net_to_clinic: str | None


class Totals(Outgoing):
    currency: Currency
    count: int
    gross: MinorUnits = Field(description="Money taken: paid, partially refunded and refunded requests")
    refunded: MinorUnits
    net: int = Field(description="gross - refunded")
    fees: int | None = Field(description="Stripe's fees, when reported for every payment taken")
    net_to_clinic: int | None
    display: TotalsDisplay


class PaymentsPage(Outgoing):
    data: list[PaymentRow]
    totals: list[Totals] = Field(description="Over the whole filtered set, not the page")
    next_cursor: str | None = Field(description="null on the last page")
    timezone: str
