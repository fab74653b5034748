"""Pay later: links for the patient who left the call before paying.

A link is made from an unpaid request (by hand, or by the call's end as the clinic's setting says) or new from the
payment centre or the panel: a fixed amount, or one the patient chooses within the clinic's range. Its token (192
random bits) is the only authority its page needs. The link's payment is a :class:`PaymentRequest` (the one it was
made from, or one made at its first checkout on a call of its own), so receipts, refunds, the payment centre and
the lifecycle's once-only work treat it as any other payment; that request's PaymentIntent is made with an
idempotency key from the link, and attached by a conditional UPDATE, so however many tabs check out there is one
intent and one payment.

Time comes from one injectable :class:`~addon.clock.Clock`: expiry (a link is over at ``expires_at`` exactly),
the reminder gap and the sweeper all read it, so tests move time instead of sleeping. :func:`sweep` is the one
entry point of the background work (expiring links, automatic reminders); it is safe on several workers because
every change is a conditional UPDATE and only the worker that made it sends the notice or cancels the intent.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from addon import audit, dates, money
from addon.auth.platform import PlatformClaims
from addon.auth.platform import consume as consume_platform_token
from addon.auth.roles import STAFF, Role
from addon.auth.sessions import Principal
from addon.clock import Clock
from addon.dbutil import insert_ignoring_conflict, rows_changed
from addon.email_address import parse_email
from addon.errors import CallpayError, Conflict, Forbidden, InvalidFields, InvalidInput, NotFound, RateLimited
from addon.gateway import PaymentIntentInfo, StripeFailure, StripeGateway
from addon.lifecycle import MONEY_TAKEN, UNPAID, Status, Trigger
from addon.models import (
    Call,
    Clinic,
    Organisation,
    OutboxEmail,
    PaymentLink,
    PaymentRequest,
    Session,
    User,
    iso_utc,
    utcnow,
)
from addon.outbound import Outbound
from addon.services import amounts, pay_all, payments, receipts
from addon.services.checkout import (
    CheckoutSession,
    _change_email,
    _discard,
    refuse_unless_payable,
    stripe_description,
)
from addon.services.clinics import require_payments_available
from addon.services.link_state import (
    L,
    LinkStatus,
    amount_words,
    changed,
    effective_status,
    link_json,
    load,
    move,
    range_words,
)
from addon.services.payment_requests import (
    changed_event,
    list_for_call,
    parse_client_ref,
    parse_description,
)
from addon.services.payment_requests import (
    new_id as new_request_id,
)
from addon.services.transitions import transition
from addon.settings import Settings
from addon.wire import links as wire
from addon.wire.payments import PaymentRequest as PaymentRequestJson

log = logging.getLogger("callpay.links")

DEFAULT_LIFETIME = timedelta(days=7)
SHORTEST = timedelta(seconds=60)
LONGEST = timedelta(days=30)
REMIND_GAP = timedelta(hours=1)
MAX_NAME = 200
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
CALL_ENDED_ACTIONS = ("send_link", "keep_unpaid", "cancel")
# One message for unknown, expired and canceled tokens: the answer says nothing about which.
UNAVAILABLE = "This payment link isn't available. Contact the clinic that sent it."
PAID = "This payment has been made. There's nothing more to pay."
LINK_NOT_FOUND = "That payment link doesn't exist in this clinic."


class LinkUnavailable(CallpayError):
    status = 410
    code = "link_unavailable"


class LinkPaid(Conflict):
    code = "link_paid"


def new_id() -> str:
    return "pl_" + secrets.token_hex(12)


def new_token() -> str:
    # 192 random bits (more than the 128 asked for), URL-safe.
    return secrets.token_urlsafe(24)


def _link_of(event: Outbound) -> wire.PaymentLink:
    assert isinstance(event.data, wire.PaymentLink)
    return event.data


def pay_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/pay/{token}"


# --- Making a link -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Made:
    body: wire.PaymentLink
    events: list[Outbound]
    created: bool


def _text(value: object, field_name: str, limit: int) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value.strip()) > limit:
        raise InvalidInput(f"Keep the {field_name} to {limit} characters or fewer.", field=field_name)
    return " ".join(value.split()) or None


def parse_expiry(value: object, clinic: Clinic, now: datetime) -> datetime:
    """``expires_at``: an ISO time, or a date (the link lasts to the end of that day, clinic time); between one
    minute and 30 days from now; absent → 7 days."""
    if value is None or value == "":
        return now + DEFAULT_LIFETIME
    if isinstance(value, datetime):
        moment = value.astimezone(UTC)
    elif isinstance(value, date):
        moment = dates.parse_bound(value.isoformat(), clinic.timezone, field="expires_at", end=True)
    elif isinstance(value, str):
        moment = dates.parse_bound(value, clinic.timezone, field="expires_at", end=True)
    else:
        raise InvalidInput("Give the expiry as a date (YYYY-MM-DD) or an ISO time.", field="expires_at")
    if moment < now + SHORTEST:
        raise InvalidInput("Let the link last at least a minute from now.", field="expires_at")
    if moment > now + LONGEST:
        raise InvalidInput("A link can last at most 30 days.", field="expires_at")
    return moment


def clinic_range(clinic: Clinic, currency: str) -> tuple[int, int]:
    """The amounts a patient may choose: the clinic's range, within Stripe's minimum and maximum."""
    low = money.MINIMUM.get(currency, 1)
    low = max(low, clinic.link_min_amount or 0) if currency == clinic.default_currency else low
    high = clinic.link_max_amount if currency == clinic.default_currency and clinic.link_max_amount else money.MAX_MINOR
    return int(low), int(high)


def _amounts(clinic: Clinic, body: Mapping[str, Any], problems: list[InvalidInput]) -> tuple[Any, Any, Any, str]:
    """(amount, min, max, currency): a fixed amount, or a patient-chosen one within the clinic's range."""
    try:
        currency = (
            clinic.default_currency
            if body.get("currency") in (None, "")
            else money.normalise_currency(body["currency"])
        )
    except InvalidInput as exc:
        problems.append(exc)
        return None, None, None, clinic.default_currency
    if body.get("amount") not in (None, ""):
        try:
            return amounts.read_amount(clinic, body["amount"], currency=currency).minor, None, None, currency
        except InvalidInput as exc:
            problems.append(exc)
            return None, None, None, currency
    low, high = clinic_range(clinic, currency)
    chosen: dict[str, int] = {}
    for key, default in (("min_amount", low), ("max_amount", high)):
        if body.get(key) in (None, ""):
            chosen[key] = default
            continue
        try:
            chosen[key] = amounts.read_amount(clinic, body[key], currency=currency, field=key).minor
        except InvalidInput as exc:
            problems.append(exc)
    if len(chosen) == 2:
        shown = (money.format_amount(low, currency, clinic.locale), money.format_amount(high, currency, clinic.locale))
        if chosen["min_amount"] < low or chosen["max_amount"] > high:
            problems.append(
                InvalidInput(
                    f"The clinic lets patients choose between {shown[0]} and {shown[1]}.",
                    field="min_amount" if chosen["min_amount"] < low else "max_amount",
                )
            )
        elif chosen["min_amount"] > chosen["max_amount"]:
            problems.append(InvalidInput("The lowest amount is above the highest.", field="min_amount"))
    return None, chosen.get("min_amount"), chosen.get("max_amount"), currency


async def patient_email_for_call(db: AsyncSession, call_id: int) -> str | None:
    """The email the call's patient launched with (the optional ``email`` claim), newest first."""
    found: str | None = await db.scalar(
        select(User.email)
        .join(Session, Session.user_id == User.id)
        .where(Session.call_id == call_id, Session.role == Role.PATIENT.value, User.email.is_not(None))
        .order_by(Session.created_at.desc())
        .limit(1)
    )
    return found


async def _active_link_for(db: AsyncSession, request_id: str, now: datetime) -> PaymentLink | None:
    found: PaymentLink | None = await db.scalar(
        select(PaymentLink).where(
            PaymentLink.payment_request_id == request_id,
            PaymentLink.status == L.ACTIVE.value,
            PaymentLink.expires_at > now,
        )
    )
    return found


async def _insert(
    db: AsyncSession,
    *,
    clinic: Clinic,
    clinician_id: int,
    values: dict[str, Any],
    client_ref: str | None,
    base_url: str,
    now: datetime,
) -> tuple[str, bool]:
    """Insert the link (idempotent on the clinician's ``client_ref``); (its id, whether this call made it)."""
    link_id, token = new_id(), new_token()
    row = {
        "id": link_id,
        "token": token,
        "url": pay_url(base_url, token),
        "clinic_id": clinic.id,
        "clinician_id": clinician_id,
        "client_ref": client_ref,
        "status": L.ACTIVE.value,
        "created_at": now,
        "updated_at": now,
        "reminders_sent": 0,
        **values,
    }
    if client_ref is None:
        db.add(PaymentLink(**row))
        await db.flush()
        return link_id, True
    if await insert_ignoring_conflict(db, PaymentLink, row, ["clinician_id", "client_ref"]):
        return link_id, True
    existing = await db.scalar(
        select(PaymentLink.id).where(PaymentLink.clinician_id == clinician_id, PaymentLink.client_ref == client_ref)
    )
    assert existing is not None
    return existing, False


def queue_link_email(db: AsyncSession, link_id: str, email: str, *, reason: str, now: datetime) -> None:
    """The link by email (the first send, a reminder), through the outbox; the key names the send."""
    db.add(
        OutboxEmail(
            dedupe_key=f"link:{link_id}:{reason}",
            kind="payment_link",
            to_address=email,
            created_at=now,
            next_attempt_at=utcnow(),
        )
    )


async def link_from_request(
    db: AsyncSession,
    pr: PaymentRequest,
    clinic: Clinic,
    *,
    base_url: str,
    now: datetime,
    email: str | None,
    name: str | None = None,
    expires_at: datetime | None = None,
    origin: str,
    client_ref: str | None = None,
    actor: Principal | None = None,
    email_reason: str = "sent",
) -> Made:
    """A link that pays ``pr`` (which must be unpaid); a request with an active link keeps that one.

    ``email_reason`` names the first email's occasion (``sent``; ``saved-card-…`` says the saved card couldn't be
    charged, and the email says why)."""
    if not Trigger.CHECKOUT_STARTED.may_start(pr.status):
        raise Conflict("Only an unpaid request can be sent as a link.", code="not_payable", field="from_request")
    existing = await _active_link_for(db, pr.id, now)
    if existing is not None:
        event = await changed(db, existing.id, now=now)
        return Made(_link_of(event), [], False)
    email = email or pr.patient_email or await patient_email_for_call(db, pr.call_id)
    link_id, created = await _insert(
        db,
        clinic=clinic,
        clinician_id=pr.clinician_id,
        values={
            "amount": pr.amount,
            "currency": pr.currency,
            "description": pr.description,
            "email": email,
            "name": name or pr.patient_name,
            "payment_request_id": pr.id,
            "origin": origin,
            "expires_at": expires_at or now + DEFAULT_LIFETIME,
        },
        client_ref=client_ref,
        base_url=base_url,
        now=now,
    )
    return await _made(db, link_id, created, email, now=now, actor=actor, reason=email_reason)


async def _made(
    db: AsyncSession,
    link_id: str,
    created: bool,
    email: str | None,
    *,
    now: datetime,
    actor: Principal | None,
    reason: str = "sent",
) -> Made:
    if created and email:
        queue_link_email(db, link_id, email, reason=reason, now=now)
    if created:
        link = await db.get_one(PaymentLink, link_id)
        audit.record(
            db,
            "payment_link.created",
            actor=actor,
            clinic_id=link.clinic_id,
            subject_type="payment_link",
            subject_id=link_id,
            data={"origin": link.origin, "emailed": bool(email)},
        )
    event = await changed(db, link_id, now=now)
    return Made(_link_of(event), [event] if created else [], created)


def _staff_clinic(principal: Principal) -> int:
    if principal.role not in STAFF or principal.role is Role.ORG_ADMIN or principal.clinic_id is None:
        raise Forbidden("Open Callpay from your clinic to work with its payment links.", code="role_not_allowed")
    return principal.clinic_id


async def create(
    db: AsyncSession, principal: Principal, body: Mapping[str, Any], *, clock: Clock, base_url: str
) -> Made:
    """``POST /api/v1/payment-links``: from an unpaid request, or new. Every problem is reported at once."""
    clinic_id = _staff_clinic(principal)
    clinic = await require_payments_available(db, clinic_id, audience="staff")
    now = clock.now()
    known = {
        "amount", "min_amount", "max_amount", "currency", "description", "email", "name", "expires_at",
        "from_request", "client_ref",
    }  # fmt: skip
    problems: list[InvalidInput] = [
        InvalidInput(f"'{key}' is not part of a payment link.", field=key) for key in sorted(set(body) - known)
    ]

    def attempt(parse: Any) -> Any:
        try:
            return parse()
        except InvalidFields as exc:
            problems.extend(exc.problems)
        except InvalidInput as exc:
            problems.append(exc)
        return None

    email = attempt(lambda: parse_email(body["email"]) if body.get("email") not in (None, "") else None)
    name = attempt(lambda: _text(body.get("name"), "name", MAX_NAME))
    expires_at = attempt(lambda: parse_expiry(body.get("expires_at"), clinic, now))
    client_ref = attempt(lambda: parse_client_ref(body.get("client_ref")))
    source = body.get("from_request")
    if source is not None:
        pr = await db.get(PaymentRequest, source) if isinstance(source, str) else None
        if pr is None or pr.clinic_id != clinic.id:
            problems.append(InvalidInput("That payment request doesn't exist in this clinic.", field="from_request"))
        elif principal.role is Role.TEAM_MEMBER and pr.clinician_id != principal.user_id:
            problems.append(InvalidInput("You can send links only for your own requests.", field="from_request"))
        if problems:
            raise InvalidFields.of(problems)
        assert pr is not None
        return await link_from_request(
            db, pr, clinic, base_url=base_url, now=now, email=email, name=name, expires_at=expires_at,
            origin="request", client_ref=client_ref, actor=principal,
        )  # fmt: skip
    amount, low, high, currency = _amounts(clinic, body, problems)
    description = attempt(lambda: parse_description(body.get("description")))
    if problems:
        raise InvalidFields.of(problems)
    if amount is not None:
        amounts.require_confirmed(clinic, amounts.Amount(amount, currency), True)
    link_id, created = await _insert(
        db,
        clinic=clinic,
        clinician_id=principal.user_id,
        values={
            "amount": amount,
            "min_amount": low,
            "max_amount": high,
            "currency": currency,
            "description": description,
            "email": email,
            "name": name,
            "origin": "new",
            "expires_at": expires_at,
        },
        client_ref=client_ref,
        base_url=base_url,
        now=now,
    )
    return await _made(db, link_id, created, email, now=now, actor=principal)


# --- The call ends -----------------------------------------------------------------------------------------


@dataclass
class CallEnded:
    body: wire.CallEnded
    events: list[Outbound] = field(default_factory=list)
    # (account, intent) of requests canceled here whose intent must be canceled at Stripe too.
    intents_to_cancel: list[tuple[str, str]] = field(default_factory=list)


async def call_ended(db: AsyncSession, claims: PlatformClaims, *, clock: Clock, base_url: str) -> CallEnded:
    """What becomes of each request still unpaid when the call ends, as the clinic's setting says: a pay-later link
    (emailed when the patient's email is known), kept unpaid, or canceled. Repeating it changes nothing more."""
    await consume_platform_token(db, claims)
    now = clock.now()
    org = await db.scalar(
        select(Organisation).where(Organisation.platform == claims.platform, Organisation.external_id == claims.org)
    )
    clinic = (
        await db.scalar(select(Clinic).where(Clinic.organisation_id == org.id, Clinic.external_id == claims.clinic))
        if org is not None
        else None
    )
    call = (
        await db.scalar(select(Call).where(Call.clinic_id == clinic.id, Call.external_id == claims.call))
        if clinic is not None
        else None
    )
    if call is None or clinic is None:
        elsewhere = await db.scalar(
            select(Call.id)
            .join(Clinic, Clinic.id == Call.clinic_id)
            .join(Organisation, Organisation.id == Clinic.organisation_id)
            .where(Organisation.platform == claims.platform, Call.external_id == claims.call)
            .limit(1)
        )
        if elsewhere is not None:
            raise Forbidden("That call belongs to another clinic or organisation.", code="wrong_clinic")
        # A call Callpay never saw (nobody opened it there): nothing was asked for, so nothing to do.
        return CallEnded(wire.CallEnded(payment_requests=[], payment_links=[]))
    result = CallEnded(wire.CallEnded(payment_requests=[], payment_links=[]))
    await db.execute(update(Call).where(Call.id == call.id, Call.ended_at.is_(None)).values(ended_at=now))
    requests = (
        await db.scalars(
            select(PaymentRequest)
            .where(PaymentRequest.call_id == call.id)
            .order_by(PaymentRequest.created_at, PaymentRequest.id)
        )
    ).all()
    action = clinic.call_ended_action if clinic.call_ended_action in CALL_ENDED_ACTIONS else "send_link"
    # A Pay all left open in the call ends with it: what is unpaid goes on as each request's own (link or cancel).
    result.intents_to_cancel.extend(await pay_all.call_ended(db, call.id))
    for pr in requests:
        if pr.status not in UNPAID:
            # Paid, canceled or processing; an authorised hold is charged by the holds work, not here.
            continue
        if action == "send_link":
            made = await link_from_request(
                db, pr, clinic, base_url=base_url, now=now, email=None, origin="call_ended",
                client_ref=f"call-ended:{pr.id}",
            )  # fmt: skip
            result.events.extend(made.events)
        elif action == "cancel":
            moved = await transition(db, pr.id, Trigger.CALL_ENDED_CANCELED)
            result.events.extend(moved.events)
            if moved.moved and pr.stripe_payment_intent_id and pr.stripe_account_id:
                result.intents_to_cancel.append((pr.stripe_account_id, pr.stripe_payment_intent_id))
    if requests:
        audit.record(
            db, "call.ended", clinic_id=clinic.id, organisation_id=clinic.organisation_id, subject_type="call",
            subject_id=call.external_id, data={"action": action},
        )  # fmt: skip
    links = (
        await db.scalars(
            select(PaymentLink.id)
            .where(PaymentLink.payment_request_id.in_([pr.id for pr in requests]))
            .order_by(PaymentLink.created_at, PaymentLink.id)
        )
    ).all()
    result.body = wire.CallEnded(
        payment_requests=await list_for_call(db, call.id),
        payment_links=[_link_of(await changed(db, link_id, now=now)) for link_id in links],
    )
    return result


async def cancel_intents(gateway: StripeGateway, intents: Sequence[tuple[str, str]]) -> None:
    """Cancel, at Stripe, intents whose request was canceled here, so a stale tab can't pay them."""
    for account_id, intent_id in intents:
        try:
            await gateway.cancel_payment_intent(
                account_id=account_id, intent_id=intent_id, idempotency_key=f"callpay-link-close:{intent_id}"
            )
        except (CallpayError, StripeFailure):
            log.warning("could not cancel a payment intent at Stripe", extra={"payment_intent": intent_id})


# --- The list, Cancel and Remind ---------------------------------------------------------------------------


def _encode_cursor(created_at: datetime, link_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([created_at.isoformat(), link_id]).encode()).decode()


def _decode_cursor(value: str) -> tuple[datetime, str]:
    try:
        at, link_id = json.loads(base64.urlsafe_b64decode(value.encode()))
        return datetime.fromisoformat(at), str(link_id)
    except (ValueError, TypeError) as exc:
        raise InvalidInput("That cursor is not one this list gave out.", field="cursor") from exc


def _status_clause(status: LinkStatus, now: datetime) -> Any:
    """A status as people see it: an active link whose time is up counts as expired before the sweeper runs."""
    if status is L.ACTIVE:
        return and_(PaymentLink.status == "active", PaymentLink.expires_at > now)
    if status is L.EXPIRED:
        return or_(PaymentLink.status == "expired", and_(PaymentLink.status == "active", PaymentLink.expires_at <= now))
    return PaymentLink.status == status.value


async def list_links(
    db: AsyncSession, principal: Principal, query: Mapping[str, str], *, clock: Clock
) -> wire.PaymentLinksPage:
    """``GET /api/v1/payment-links``: newest first, filtered by status and text, with a count per status."""
    clinic_id = _staff_clinic(principal)
    now = clock.now()
    scope = [PaymentLink.clinic_id == clinic_id]
    if principal.role is Role.TEAM_MEMBER:
        scope.append(PaymentLink.clinician_id == principal.user_id)
    filters = list(scope)
    wanted: list[LinkStatus] = []
    given = query.getall("status", []) if hasattr(query, "getall") else [query.get("status") or ""]
    for part in ",".join(given).split(","):
        if not part.strip():
            continue
        try:
            wanted.append(LinkStatus(part.strip()))
        except ValueError as exc:
            raise InvalidInput(f"'{part}' is not a link status.", field="status") from exc
    if wanted:
        filters.append(or_(*[_status_clause(s, now) for s in wanted]))
    text = (query.get("q") or "").strip()
    if text:
        like = f"%{text.lower()}%"
        filters.append(
            or_(
                func.lower(PaymentLink.description).like(like),
                func.lower(func.coalesce(PaymentLink.email, "")).like(like),
                func.lower(func.coalesce(PaymentLink.name, "")).like(like),
            )
        )
    try:
        limit = min(max(int(query.get("limit") or DEFAULT_LIMIT), 1), MAX_LIMIT)
    except ValueError as exc:
        raise InvalidInput("limit is a number from 1 to 200.", field="limit") from exc
    if query.get("cursor"):
        at, last = _decode_cursor(query["cursor"])
        filters.append(or_(PaymentLink.created_at < at, and_(PaymentLink.created_at == at, PaymentLink.id < last)))
    rows = (
        await db.execute(
            select(PaymentLink, Clinic, User)
            .join(Clinic, Clinic.id == PaymentLink.clinic_id)
            .join(User, User.id == PaymentLink.clinician_id)
            .where(*filters)
            .order_by(PaymentLink.created_at.desc(), PaymentLink.id.desc())
            .limit(limit + 1)
        )
    ).all()
    page = rows[:limit]
    counts: dict[wire.LinkStatus, int] = {}
    for status in LinkStatus:
        counts[status.value] = int(
            await db.scalar(select(func.count()).select_from(PaymentLink).where(*scope, _status_clause(status, now)))
            or 0
        )
    last_row = page[-1][0] if page and len(rows) > limit else None
    return wire.PaymentLinksPage(
        data=[link_json(link, clinic, user, now=now) for link, clinic, user in page],
        next_cursor=_encode_cursor(last_row.created_at, last_row.id) if last_row is not None else None,
        counts=counts,
    )


async def _link_for_staff(db: AsyncSession, principal: Principal, link_id: object) -> PaymentLink:
    clinic_id = _staff_clinic(principal)
    link = await db.get(PaymentLink, link_id, populate_existing=True) if isinstance(link_id, str) else None
    if link is None or link.clinic_id != clinic_id:
        raise NotFound(LINK_NOT_FOUND)
    if principal.role is Role.TEAM_MEMBER and link.clinician_id != principal.user_id:
        raise NotFound(LINK_NOT_FOUND)
    return link


@dataclass
class Closed:
    body: wire.PaymentLink
    events: list[Outbound]


async def _close_request(
    database: async_sessionmaker[AsyncSession],
    gateway: StripeGateway,
    request_id: str | None,
    trigger: Trigger,
) -> list[Outbound]:
    """The link closed unpaid: cancel its intent at Stripe (so a stale tab can't pay), then its request."""
    if request_id is None:
        return []
    async with database() as db:
        pr = await db.get(PaymentRequest, request_id)
        if pr is None or pr.status not in UNPAID:
            return []
        account_id, intent_id = pr.stripe_account_id, pr.stripe_payment_intent_id
    if account_id and intent_id:
        try:
            await gateway.cancel_payment_intent(
                account_id=account_id, intent_id=intent_id, idempotency_key=f"callpay-link-close:{intent_id}"
            )
        except (CallpayError, StripeFailure):
            # Paid a moment ago, or Stripe unreachable: the payment (if any) still arrives and is recorded.
            log.warning("pay-later intent not canceled", extra={"payment_intent": intent_id})
            return []
    async with database.begin() as db:
        where = [PaymentRequest.stripe_payment_intent_id == intent_id] if intent_id else []
        return (await transition(db, request_id, trigger, where=where)).events


async def cancel(
    database: async_sessionmaker[AsyncSession],
    gateway: StripeGateway,
    principal: Principal,
    link_id: object,
    *,
    clock: Clock,
) -> Closed:
    now = clock.now()
    async with database.begin() as db:
        link = await _link_for_staff(db, principal, link_id)
        if not await move(db, link.id, L.CANCELED, now=now, where=[PaymentLink.expires_at > now]):
            status = effective_status(link, now)
            raise Conflict(f"This link is {status.value} and can't be cancelled.", code="link_not_active")
        audit.record(db, "payment_link.canceled", actor=principal, clinic_id=link.clinic_id,
                     subject_type="payment_link", subject_id=link.id)  # fmt: skip
        request_id = link.payment_request_id
        event = await changed(db, link.id, now=now)
    events = [event, *await _close_request(database, gateway, request_id, Trigger.LINK_CANCELED)]
    return Closed(_link_of(event), events)


async def remind(
    db: AsyncSession, principal: Principal, link_id: object, body: Mapping[str, Any], *, clock: Clock
) -> Made:
    """Send the link again: at most once an hour per link (429 ``rate_limited`` with ``Retry-After``)."""
    link = await _link_for_staff(db, principal, link_id)
    now = clock.now()
    if effective_status(link, now) is not L.ACTIVE:
        raise Conflict(f"This link is {effective_status(link, now).value}: there is nothing to remind about.",
                       code="link_not_active")  # fmt: skip
    unknown = sorted(set(body) - {"email"})
    if unknown:
        raise InvalidInput(f"'{unknown[0]}' is not part of a reminder.", field=unknown[0])
    email = parse_email(body["email"]) if body.get("email") not in (None, "") else link.email
    if not email:
        raise InvalidInput("Add the patient's email address to send them the link.", field="email")
    result = await db.execute(
        update(PaymentLink)
        .where(
            PaymentLink.id == link.id,
            or_(PaymentLink.last_reminded_at.is_(None), PaymentLink.last_reminded_at <= now - REMIND_GAP),
        )
        .values(last_reminded_at=now, reminders_sent=PaymentLink.reminders_sent + 1, email=email, updated_at=now)
    )
    if rows_changed(result) != 1:
        assert link.last_reminded_at is not None
        clinic_tz = (await db.get_one(Clinic, link.clinic_id)).timezone
        wait = int((link.last_reminded_at + REMIND_GAP - now).total_seconds()) + 1
        minutes = max(1, (wait + 59) // 60)
        raise RateLimited(
            f"A reminder went at {dates.format_time(link.last_reminded_at, clinic_tz)}. "
            f"You can send another in {minutes} minute{'s' if minutes != 1 else ''}.",
            retry_after=wait,
        )
    queue_link_email(db, link.id, email, reason=f"remind-{link.reminders_sent + 1}", now=now)
    audit.record(db, "payment_link.reminded", actor=principal, clinic_id=link.clinic_id,
                 subject_type="payment_link", subject_id=link.id)  # fmt: skip
    event = await changed(db, link.id, now=now)
    return Made(_link_of(event), [event], False)


# --- The patient's page ------------------------------------------------------------------------------------


async def by_token(db: AsyncSession, token: object) -> PaymentLink | None:
    if not isinstance(token, str) or not 16 <= len(token) <= 64:
        return None
    found: PaymentLink | None = await db.scalar(
        select(PaymentLink).where(PaymentLink.token == token).execution_options(populate_existing=True)
    )
    return found


@dataclass(frozen=True)
class PublicLink:
    """What the link's page shows; ``status`` says which page (pay, paid, or unavailable)."""

    status: LinkStatus | None  # None: no such link
    clinic_name: str | None = None
    body: wire.PublicPaymentLink | None = None
    # The clinic's time zone: the page shows its dates as the receipt and the link's email do, not in the device's.
    timezone: str | None = None


async def public(db: AsyncSession, token: object, *, clock: Clock) -> PublicLink:
    link = await by_token(db, token)
    if link is None:
        return PublicLink(None)
    now = clock.now()
    clinic = await db.get_one(Clinic, link.clinic_id)
    status = effective_status(link, now)
    name = receipts.name_on_receipt(clinic)
    if status not in (L.ACTIVE, L.PAID):
        return PublicLink(status, name, timezone=clinic.timezone)
    body = wire.PublicPaymentLink.model_validate(
        {
            "status": status.value,
            "clinic_name": name,
            "paid_at": iso_utc(link.paid_at),
            "amount": link.amount,
            "min_amount": link.min_amount,
            "max_amount": link.max_amount,
            "currency": link.currency,
            "description": link.description,
            "amount_display": amount_words(link, clinic.locale) or range_words(link, clinic.locale),
            "min_amount_display": money.format_amount(link.min_amount, link.currency, clinic.locale)
            if link.min_amount is not None
            else None,
            "max_amount_display": money.format_amount(link.max_amount, link.currency, clinic.locale)
            if link.max_amount is not None
            else None,
            "amount_example": money.example(link.currency, clinic.locale),
            "email": link.email,
            "name": link.name,
            "expires_at": iso_utc(link.expires_at),
            "expires_display": dates.format_datetime(link.expires_at, clinic.timezone) or "",
            "payment_request": link.payment_request_id,
        }
    )
    return PublicLink(status, name, body, clinic.timezone)


def refuse_unless_active(found: PublicLink) -> None:
    if found.status is L.PAID:
        raise LinkPaid(PAID)
    if found.status is not L.ACTIVE:
        raise LinkUnavailable(UNAVAILABLE)


def _chosen_amount(link: PaymentLink, clinic: Clinic, value: object) -> int:
    if link.amount is not None:
        if value not in (None, "") and value != link.amount:
            try:
                typed = amounts.read_amount(clinic, value, currency=link.currency).minor
            except InvalidInput:
                typed = None
            if typed != link.amount:
                raise InvalidInput("This link is for a set amount.", field="amount")
        return link.amount
    if value in (None, ""):
        raise InvalidInput("Enter the amount you want to pay.", field="amount")
    chosen = amounts.read_amount(clinic, value, currency=link.currency).minor
    low, high = link.min_amount or 0, link.max_amount or money.MAX_MINOR
    if not low <= chosen <= high:
        shown = [money.format_amount(x, link.currency, clinic.locale) for x in (low, high)]
        raise InvalidInput(f"Choose an amount from {shown[0]} to {shown[1]}.", field="amount")
    return chosen


def idempotency_scope(link: PaymentLink) -> str:
    # The gateway adds a digest of everything sent, so a retried checkout replays Stripe's first answer and another
    # chosen amount is a new intent; the conditional attach keeps one intent per link's request either way.
    return f"callpay-link:{link.id}"


async def _backing_request(db: AsyncSession, link: PaymentLink, clinic: Clinic, amount: int, now: datetime) -> str:
    """The request the link's payment is recorded on; a new link gets one (on a call of its own) at its first
    checkout. Two tabs racing: the conditional UPDATE on the link's empty column picks one, the other is removed."""
    if link.payment_request_id is not None:
        return link.payment_request_id
    call_external = f"pay-later:{link.id}"
    await insert_ignoring_conflict(
        db,
        Call,
        {"clinic_id": clinic.id, "external_id": call_external, "created_at": now},
        ["clinic_id", "external_id"],
    )
    call_id = await db.scalar(select(Call.id).where(Call.clinic_id == clinic.id, Call.external_id == call_external))
    request_id = new_request_id()
    db.add(
        PaymentRequest(
            id=request_id, call_id=call_id, clinic_id=clinic.id, clinician_id=link.clinician_id, amount=amount,
            currency=link.currency, description=link.description, status=Status.REQUESTED.value, amount_refunded=0,
            patient_name=link.name, created_at=now, updated_at=now,
        )
    )  # fmt: skip
    await db.flush()
    claimed = await db.execute(
        update(PaymentLink)
        .where(PaymentLink.id == link.id, PaymentLink.payment_request_id.is_(None))
        .values(payment_request_id=request_id)
    )
    if rows_changed(claimed) == 1:
        return request_id
    await db.delete(await db.get_one(PaymentRequest, request_id))
    fresh = await db.get_one(PaymentLink, link.id, populate_existing=True)
    assert fresh.payment_request_id is not None
    return fresh.payment_request_id


async def checkout(
    database: async_sessionmaker[AsyncSession],
    gateway: StripeGateway,
    settings: Settings,
    token: object,
    body: Mapping[str, Any],
    *,
    clock: Clock,
) -> CheckoutSession:
    """``POST /api/v1/pay/{token}/checkout``: what the page needs to pay the link with Stripe.js."""
    unknown = sorted(set(body) - {"email", "amount", "name"})
    if unknown:
        raise InvalidInput(f"'{unknown[0]}' is not part of a checkout.", field=unknown[0])
    stale_intent: tuple[str, str] | None = None
    to_create: dict[str, Any] | None = None
    async with database.begin() as db:
        found = await public(db, token, clock=clock)
        refuse_unless_active(found)
        link = await by_token(db, token)
        assert link is not None
        clinic = await require_payments_available(db, link.clinic_id)
        problems: list[InvalidInput] = []
        email = amount = name = None
        try:
            email = parse_email(body.get("email"))
        except InvalidInput as exc:
            problems.append(exc)
        try:
            amount = _chosen_amount(link, clinic, body.get("amount"))
        except InvalidInput as exc:
            problems.append(exc)
        try:
            name = _text(body.get("name"), "name", MAX_NAME)
        except InvalidInput as exc:
            problems.append(exc)
        if problems:
            raise InvalidFields.of(problems)
        assert email is not None and amount is not None
        now = clock.now()
        request_id = await _backing_request(db, link, clinic, amount, now)
        pr = await db.get_one(PaymentRequest, request_id, populate_existing=True)
        if pr.status in MONEY_TAKEN:
            raise LinkPaid(PAID)
        refuse_unless_payable(pr)
        if pr.amount != amount:
            # Another amount chosen: the unconfirmed intent for the old one is dropped (and canceled below).
            if pr.stripe_payment_intent_id and pr.stripe_account_id:
                stale_intent = (pr.stripe_account_id, pr.stripe_payment_intent_id)
            await transition(
                db, pr.id, Trigger.LINK_AMOUNT_CHOSEN,
                values={"amount": amount, "stripe_payment_intent_id": None, "stripe_client_secret": None},
            )  # fmt: skip
            pr = await db.get_one(PaymentRequest, request_id, populate_existing=True)
        if name and pr.patient_name != name:
            pr.patient_name = name
        if link.email != email:
            await db.execute(update(PaymentLink).where(PaymentLink.id == link.id).values(email=email))
        if pr.stripe_payment_intent_id is None:
            assert clinic.stripe_account_id is not None
            fee = clinic.application_fee_amount
            to_create = dict(
                account_id=clinic.stripe_account_id,
                amount=pr.amount,
                currency=pr.currency,
                # Neutral, as in the call (see checkout.stripe_description); the patient's address stays here.
                description=stripe_description(pr, clinic),
                receipt_email=None,
                metadata={"payment_request": pr.id, "payment_link": link.id, "clinic": clinic.external_id},
                idempotency_scope=idempotency_scope(link),
                application_fee_amount=fee if fee and fee < pr.amount else None,
            )
    if stale_intent is not None:
        await cancel_intents(gateway, [stale_intent])
    if to_create is not None:
        intent = await gateway.create_payment_intent(**to_create)
        async with database.begin() as db:
            attached = await _attach(db, request_id, intent, to_create["account_id"], email)
        if not attached:
            await _discard(gateway, to_create["account_id"], intent)
    async with database.begin() as db:
        pr = await db.get_one(PaymentRequest, request_id, populate_existing=True)
        if pr.status in MONEY_TAKEN:
            raise LinkPaid(PAID)
        refuse_unless_payable(pr)
    if pr.patient_email != email:
        await _change_email(database, gateway, pr, email)
    assert pr.stripe_client_secret is not None and pr.stripe_account_id is not None
    return CheckoutSession(
        client_secret=pr.stripe_client_secret,
        publishable_key=settings.stripe_publishable_key,
        stripe_account=pr.stripe_account_id,
        stripe_js_url=settings.stripe_js_url,
        amount=pr.amount,
        currency=pr.currency,
    )


async def _attach(db: AsyncSession, request_id: str, intent: PaymentIntentInfo, account_id: str, email: str) -> bool:
    moved = await transition(
        db,
        request_id,
        Trigger.CHECKOUT_STARTED,
        where=[PaymentRequest.stripe_payment_intent_id.is_(None)],
        values={
            "stripe_payment_intent_id": intent.id,
            "stripe_client_secret": intent.client_secret,
            "stripe_account_id": account_id,
            "patient_email": email,
        },
    )
    pr = await db.get_one(PaymentRequest, request_id, populate_existing=True)
    return moved.moved or pr.stripe_payment_intent_id == intent.id


async def confirmation(
    database: async_sessionmaker[AsyncSession], gateway: StripeGateway, token: object, *, clock: Clock
) -> tuple[PaymentRequestJson, list[Outbound]]:
    """The page says Stripe.js confirmed: ask Stripe what happened and apply it (the webhook may also)."""
    async with database() as db:
        link = await by_token(db, token)
        if link is None or link.payment_request_id is None:
            raise LinkUnavailable(UNAVAILABLE)
        pr = await db.get_one(PaymentRequest, link.payment_request_id)
        if pr.stripe_payment_intent_id is None or pr.stripe_account_id is None:
            raise Conflict("There is no payment for this link yet.", code="no_payment")
        request_id, account_id, intent_id = pr.id, pr.stripe_account_id, pr.stripe_payment_intent_id
    intent = await gateway.retrieve_payment_intent(account_id=account_id, intent_id=intent_id)
    async with database.begin() as db:
        pr = await db.get_one(PaymentRequest, request_id, populate_existing=True)
        events = await payments.apply_current(db, gateway, pr, {intent_id: intent})
        body, _ = await changed_event(db, request_id)
    return body, events


async def receipt(db: AsyncSession, token: object) -> receipts.Receipt:
    """The receipt of a paid link, for whoever holds the link."""
    link = await by_token(db, token)
    found = await receipts.load_receipt(db, link.payment_request_id) if link and link.payment_request_id else None
    if found is None:
        raise NotFound(receipts.NO_RECEIPT)
    return found


# --- Background work: expiry and automatic reminders --------------------------------------------------------


@dataclass
class Swept:
    expired: list[str] = field(default_factory=list)
    reminded: list[str] = field(default_factory=list)
    events: list[Outbound] = field(default_factory=list)


SWEEP_BATCH = 100


async def sweep(
    database: async_sessionmaker[AsyncSession], gateway: StripeGateway, *, clock: Clock, batch: int = SWEEP_BATCH
) -> Swept:
    """One round of the links' background work; safe to run on several workers at once.

    Each due link is expired by its own conditional UPDATE: of several workers exactly one moves it, and only that
    one sends the notice and cancels its intent at Stripe. Reminders are claimed the same way.
    """
    now = clock.now()
    done = Swept()
    async with database() as db:
        due = (
            await db.scalars(
                select(PaymentLink.id)
                .where(PaymentLink.status == "active", PaymentLink.expires_at <= now)
                .order_by(PaymentLink.expires_at)
                .limit(batch)
            )
        ).all()
    for link_id in due:
        async with database.begin() as db:
            if not await move(db, link_id, L.EXPIRED, now=now, where=[PaymentLink.expires_at <= now]):
                continue
            link = await db.get_one(PaymentLink, link_id)
            request_id = link.payment_request_id
            done.events.append(await changed(db, link_id, now=now, notify=L.EXPIRED))
        done.expired.append(link_id)
        done.events.extend(await _close_request(database, gateway, request_id, Trigger.LINK_EXPIRED))
    done.reminded = await _auto_remind(database, now=now, batch=batch, events=done.events)
    return done


async def _auto_remind(
    database: async_sessionmaker[AsyncSession], *, now: datetime, batch: int, events: list[Outbound]
) -> list[str]:
    """Clinics that ask for it: one automatic reminder, the set number of hours before expiry."""
    reminded: list[str] = []
    async with database() as db:
        rows = (
            await db.execute(
                select(PaymentLink.id, PaymentLink.expires_at, Clinic.link_reminder_hours)
                .join(Clinic, Clinic.id == PaymentLink.clinic_id)
                .where(
                    PaymentLink.status == "active",
                    PaymentLink.expires_at > now,
                    PaymentLink.auto_reminded_at.is_(None),
                    PaymentLink.email.is_not(None),
                    Clinic.link_reminder_hours.is_not(None),
                )
                .order_by(PaymentLink.expires_at)
                .limit(batch)
            )
        ).all()
    for link_id, expires_at, hours in rows:
        if hours is None or expires_at - timedelta(hours=hours) > now:
            continue
        async with database.begin() as db:
            claimed = await db.execute(
                update(PaymentLink)
                .where(
                    PaymentLink.id == link_id, PaymentLink.auto_reminded_at.is_(None), PaymentLink.status == "active"
                )
                .values(
                    auto_reminded_at=now, last_reminded_at=now, reminders_sent=PaymentLink.reminders_sent + 1,
                    updated_at=now,
                )
            )  # fmt: skip
            if rows_changed(claimed) != 1:
                continue
            link = await db.get_one(PaymentLink, link_id)
            assert link.email is not None
            queue_link_email(db, link_id, link.email, reason="auto-remind", now=now)
            events.append(await changed(db, link_id, now=now))
        reminded.append(link_id)
    return reminded


__all__ = [
    "CALL_ENDED_ACTIONS",
    "LinkPaid",
    "LinkUnavailable",
    "Made",
    "call_ended",
    "cancel",
    "checkout",
    "confirmation",
    "create",
    "list_links",
    "load",
    "public",
    "remind",
    "sweep",
]
