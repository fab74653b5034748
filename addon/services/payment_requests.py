"""Payment requests: a clinician asks the patient in the call for an amount.

Creating one is idempotent on the clinician's ``client_ref`` (a unique constraint, not a read-then-write), so a
double click or a resent socket message makes one request. Canceling is :mod:`addon.services.cancellation`'s.

:func:`payment_request_json` is the one place the contract's PaymentRequest JSON is built; what may be done with
the request (its flags) comes from :mod:`addon.lifecycle`, so no page re-derives a rule from the status.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from addon import audit, lifecycle, money
from addon.auth.access import require_role
from addon.auth.roles import CLINICIANS
from addon.auth.sessions import Principal
from addon.cards import card_display
from addon.dbutil import PreparedInsert
from addon.errors import Conflict, InvalidFields, InvalidInput, NotFound
from addon.lifecycle import Status
from addon.models import Call, Clinic, PaymentRequest, User, iso_utc, utcnow
from addon.outbound import Outbound, call_room
from addon.services import amounts, participants
from addon.services.clinics import clinic_status, require_available
from addon.services.paying_state import paying_json
from addon.wire import payments as wire
from addon.wire.common import Person

MAX_DESCRIPTION = 500
MAX_CLIENT_REF = 100
NOT_FOUND = "That payment request doesn't exist in this call."
# A clinician's client_ref makes one request however often it is sent (see create).
_INSERT = PreparedInsert(PaymentRequest, ["clinician_id", "client_ref"])
# The session's clinic, by a statement built once: session.get built its SELECT, and that SELECT's cache key, on
# every call (a third of what reading the clinic cost). The same one statement, and the same object as get's.
_CLINIC = select(Clinic).where(Clinic.id == bindparam("clinic_id"))


def new_id() -> str:
    # 96 random bits: unguessable, so an id seen in one call is no help in another (access is checked anyway).
    return "pr_" + secrets.token_hex(12)


# --- The JSON ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestView:
    """A request with the external ids and names its JSON shows."""

    request: PaymentRequest
    call_external_id: str
    clinic_external_id: str
    clinician_external_id: str
    clinician_name: str


def payment_request_json(view: RequestView) -> wire.PaymentRequest:
    """The contract's PaymentRequest. The patient's email is never included: everyone in the call receives this."""
    pr = view.request
    return wire.PaymentRequest(
        id=pr.id,
        call=view.call_external_id,
        clinic=view.clinic_external_id,
        clinician=Person(id=view.clinician_external_id, name=view.clinician_name),
        amount=pr.amount,
        currency=pr.currency,
        description=pr.description,
        status=Status(pr.status),
        amount_refunded=pr.amount_refunded,
        receipt_number=pr.receipt_number,
        created_at=iso_utc(pr.created_at),
        paid_at=iso_utc(pr.paid_at),
        failure_message=pr.failure_message,
        # What may be done now, from the lifecycle; refunds asked for and not failed hold their amount back.
        **lifecycle.flags(pr.status, pr.amount, pr.amount_refunded, pr.refund_reserved or 0),
        item_code=pr.item_code,
        capture="hold" if pr.capture == "hold" else "now",
        amount_authorized=pr.amount_authorized,
        capturable=lifecycle.Trigger.CAPTURED.may_start(pr.status),
        amount_authorized_display=(
            money.format_amount(pr.amount_authorized, pr.currency) if pr.amount_authorized is not None else None
        ),
        capture_before=iso_utc(pr.capture_before),
        payer=Person(id=pr.payer_sub, name=pr.payer_name or "Someone in the call") if pr.payer_sub else None,
        paying=paying_json(pr),
        pay_all=pr.pay_all_id,
        replaced_by_plan=pr.replaced_by_plan_id,
        # What screens show, so no page formats money or guesses card details itself.
        amount_display=money.format_amount(pr.amount, pr.currency),
        card_brand=pr.card_brand,
        card_last4=pr.card_last4,
        card_display=card_display(pr.card_brand, pr.card_last4),
        canceled_at=iso_utc(pr.canceled_at),
        updated_at=iso_utc(pr.updated_at),
    )


def _views_query() -> Any:
    return (
        select(PaymentRequest, Call.external_id, Clinic.external_id, User.external_id, User.name)
        .join(Call, Call.id == PaymentRequest.call_id)
        .join(Clinic, Clinic.id == PaymentRequest.clinic_id)
        .join(User, User.id == PaymentRequest.clinician_id)
        .execution_options(populate_existing=True)
    )


_FOR_CALL = (
    _views_query()
    .where(PaymentRequest.call_id == bindparam("call_id"))
    .order_by(PaymentRequest.created_at, PaymentRequest.id)
)


def _view(row: Sequence[Any]) -> RequestView:
    pr, call, clinic, clinician, name = row
    return RequestView(pr, call, clinic, clinician, name)


async def load_view(db: AsyncSession, request_id: str) -> RequestView | None:
    row = (await db.execute(_views_query().where(PaymentRequest.id == request_id))).one_or_none()
    return _view(row) if row is not None else None


async def list_for_call(db: AsyncSession, call_id: int) -> list[wire.PaymentRequest]:
    """The call's requests, oldest first: the ``payment_requests`` snapshot (read on every socket's connect, so its
    statement is built once)."""
    return [payment_request_json(_view(row)) for row in (await db.execute(_FOR_CALL, {"call_id": call_id})).all()]


async def changed_event(db: AsyncSession, request_id: str) -> tuple[wire.PaymentRequest, Outbound]:
    """The request's JSON as it now stands, and the ``payment_request`` event telling the whole call."""
    _, body, event = await changed_view(db, request_id)
    return body, event


async def changed_view(db: AsyncSession, request_id: str) -> tuple[PaymentRequest, wire.PaymentRequest, Outbound]:
    """:func:`changed_event` with the request itself as it now stands (read fresh, in the same one SELECT)."""
    view = await load_view(db, request_id)
    assert view is not None
    body = payment_request_json(view)
    return view.request, body, Outbound(event="payment_request", room=call_room(view.request.call_id), data=body)


async def find_in_call(db: AsyncSession, principal: Principal, request_id: object) -> PaymentRequest:
    """A request of the principal's own call; any other id is "not found", so other calls can't be probed."""
    if not isinstance(request_id, str) or not request_id or principal.call_id is None:
        raise NotFound(NOT_FOUND)
    pr = await db.get(PaymentRequest, request_id, populate_existing=True)
    if pr is None or pr.call_id != principal.call_id:
        raise NotFound(NOT_FOUND)
    return pr


# --- Create ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What a change returns: the request's JSON for the caller, and the events to publish after commit."""

    payment_request: wire.PaymentRequest
    events: list[Outbound]


def parse_description(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("Say what the payment is for, such as 'Consultation'.", field="description")
    # Counted as typed (the panel's counter counts the same), then runs of spaces and line breaks made one space.
    typed = value.strip()
    if len(typed) > MAX_DESCRIPTION:
        raise InvalidInput(f"Keep the description to {MAX_DESCRIPTION} characters or fewer.", field="description")
    return " ".join(typed.split())


MAX_ITEM_CODE = 50


def parse_item_code(value: object) -> str | None:
    """An optional item number for the receipt (a Medicare or health fund item, such as 10960)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or len(value.strip()) > MAX_ITEM_CODE or any(c in value for c in "\r\n"):
        raise InvalidInput(f"Keep the item number to one line of {MAX_ITEM_CODE} characters or fewer.",
                           field="item_code")  # fmt: skip
    return value.strip()


def parse_client_ref(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_CLIENT_REF:
        raise InvalidInput(f"client_ref must be text of at most {MAX_CLIENT_REF} characters.", field="client_ref")
    return value.strip()


def _read_amount_and_description(clinic: Clinic, body: Mapping[str, Any]) -> tuple[amounts.Amount, str]:
    """Both fields read, and both problems reported together (the panel marks each field at once)."""
    problems: list[InvalidInput] = []
    typed: amounts.Amount | None = None
    description: str | None = None
    try:
        typed = amounts.read_amount(clinic, body.get("amount"), currency=body.get("currency"))
    except InvalidInput as exc:
        problems.append(exc)
    try:
        description = parse_description(body.get("description"))
    except InvalidInput as exc:
        problems.append(exc)
    if problems:
        raise InvalidFields.of(problems)
    assert typed is not None and description is not None
    return typed, description


async def create(db: AsyncSession, principal: Principal, body: Mapping[str, Any]) -> Outcome:
    """Ask the call's patient for a payment. The same ``client_ref`` again returns the first request, unchanged."""
    require_role(principal, CLINICIANS, what="request payments")
    if principal.call_id is None or principal.clinic_id is None:
        raise InvalidInput("Open Request payment from inside a call.", code="no_call")
    clinic = require_available(
        (await db.execute(_CLINIC, {"clinic_id": principal.clinic_id})).scalar_one_or_none(), audience="staff"
    )
    typed, description = _read_amount_and_description(clinic, body)
    amount, currency = typed.minor, typed.currency
    client_ref = parse_client_ref(body.get("client_ref"))
    capture = "hold" if body.get("capture") == "hold" else "now"
    item_code = parse_item_code(body.get("item_code"))
    payer = await participants.read_payer(db, principal.call_id, body.get("payer"))
    # Last, so the clinician is asked to confirm only a request that is otherwise ready to send.
    amounts.require_confirmed(clinic, typed, body.get("confirm"))

    request_id = new_id()
    now = utcnow()
    values = {
        "id": request_id,
        "call_id": principal.call_id,
        "clinic_id": clinic.id,
        "clinician_id": principal.user_id,
        "client_ref": client_ref,
        "item_code": item_code,
        "amount": amount,
        "currency": currency,
        "description": description,
        "status": lifecycle.INITIAL.value,
        "amount_refunded": 0,
        "capture": capture,
        **participants.payer_values(payer),
        "created_at": now,
        "updated_at": now,
    }
    # One INSERT built once (no ORM unit of work). Without a client_ref it never conflicts: NULLs are distinct.
    if not await _INSERT(db, values):
        assert client_ref is not None
        # A resend: the first request stands. Only an identical resend is one; anything else is a client bug.
        existing = await db.scalar(
            select(PaymentRequest).where(
                PaymentRequest.clinician_id == principal.user_id, PaymentRequest.client_ref == client_ref
            )
        )
        assert existing is not None
        same = (existing.call_id, existing.amount, existing.currency, existing.description, existing.capture) == (
            principal.call_id,
            amount,
            currency,
            description,
            capture,
        )
        if not same:
            raise Conflict("This request was already sent with different details.", field="client_ref")
        view = await load_view(db, existing.id)
        assert view is not None
        return Outcome(payment_request_json(view), [])
    await audit.write(
        db,
        "payment_request.created",
        actor=principal,
        clinic_id=clinic.id,
        subject_type="payment_request",
        subject_id=request_id,
        data={"amount": amount, "currency": currency, "capture": capture},
    )
    # Not read back: the row is what was just written, and the session and the clinic say the rest. (A request
    # object outside the session, so nothing is flushed for it.)
    assert principal.call_external_id is not None
    view = RequestView(PaymentRequest(**values), principal.call_external_id, clinic.external_id,
                       principal.user_external_id, principal.user_name)  # fmt: skip
    body_json = payment_request_json(view)
    return Outcome(body_json, [Outbound(event="payment_request", room=call_room(principal.call_id), data=body_json)])


# --- The clinician's panel ---------------------------------------------------------------------------------


async def panel_context(db: AsyncSession, principal: Principal, clinic: Clinic | None = None) -> dict[str, Any]:
    """What the Request payment panel renders with: currency, preset amounts, and whether payments are possible.
    ``clinic``: the session's clinic, when the caller has read it already."""
    require_role(principal, CLINICIANS, what="request payments")
    if principal.call_id is None or principal.clinic_id is None:
        raise InvalidInput("Open Request payment from inside a call.", code="no_call")
    if clinic is None or clinic.id != principal.clinic_id:
        clinic = await db.get_one(Clinic, principal.clinic_id)
    currency, locale = clinic.default_currency, clinic.locale
    return {
        "clinic_name": clinic.name or clinic.stripe_account_name or "your clinic",
        "currency": currency,
        "currency_label": money.currency_label(currency),
        "decimals": money.exponent(currency),
        "example": money.example(currency, locale),
        "presets": [
            {
                "value": money.format_typed(amount, currency, locale),
                "display": money.format_amount(amount, currency, locale),
            }
            for amount in clinic.preset_amounts
        ],
        "status": clinic_status(clinic).to_json(),
        "description_max": MAX_DESCRIPTION,
        # Instalment plans: requests over this may be split (None: plans off).
        "plans": {"min_amount": clinic.plan_min_amount, "currency": currency},
    }
