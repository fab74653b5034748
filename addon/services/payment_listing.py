"""The payment centre's list: who may see which requests, the filters, sorting, cursor pages, totals and the export.

Team admins see their clinic, clinicians their own requests, org admins every clinic of their organisation. One
filtered query feeds the page, the totals (over the whole filtered set, never only the page) and the CSV export.
Pages are keyset pages (``created_at``/``amount`` and the id, in a cursor), so a page never shifts when new
payments arrive and the export walks a year of payments in fixed-size batches, each read in a short session of its
own, without holding them in memory.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from addon import dates, lifecycle, money
from addon.auth.access import require_role
from addon.auth.roles import STAFF, Role
from addon.auth.sessions import Principal
from addon.errors import InvalidInput, NotFound
from addon.models import Call, Clinic, PaymentRequest, User
from addon.services.payment_requests import RequestView, payment_request_json
from addon.wire import payments as wire

# The lifecycle's own sets (addon/lifecycle.py), never restated here.
STATUSES = tuple(str(status) for status in lifecycle.Status)
# Money that moved: what "gross" counts. Refunded requests stay in it; their refunds are counted in "refunded".
TAKEN = tuple(str(status) for status in lifecycle.MONEY_TAKEN)
UNPAID = tuple(str(status) for status in lifecycle.UNPAID)
SORTS = ("created_at", "amount")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
EXPORT_BATCH = 500
MAX_QUERY = 200
CSV_HEADER = (
    "id",
    "status",
    "amount",
    "currency",
    "amount_refunded",
    "description",
    "clinician",
    "created_at",
    "paid_at",
    "receipt_number",
    "clinic",
    "patient_name",
    "patient_email",
    "item_code",
    "stripe_fee",
    "net",
)
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): such cells get a leading
# apostrophe, which spreadsheets show as plain text. Tab and carriage return are in OWASP's list too.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Filters:
    statuses: tuple[str, ...] = ()
    created_from: datetime | None = None
    created_before: datetime | None = None
    clinician: str | None = None
    clinic: str | None = None
    currency: str | None = None
    amount_min: str | None = None
    amount_max: str | None = None
    q: str | None = None
    sort: str = "created_at"
    descending: bool = True
    limit: int = DEFAULT_LIMIT
    cursor: tuple[Any, str] | None = None


@dataclass(frozen=True)
class Scope:
    """What the viewer may see: always one organisation, and a clinic and clinician when their role narrows it."""

    principal: Principal
    organisation_id: int
    clinic_id: int | None
    clinician_id: int | None
    timezone: str
    # The currencies of the payments in view, so an amount filter can be read in each one.
    currencies: tuple[str, ...] = ()

    @property
    def many_clinics(self) -> bool:
        return self.clinic_id is None


# --- Who sees what -----------------------------------------------------------------------------------------


async def scope_for(db: AsyncSession, principal: Principal) -> Scope:
    require_role(principal, STAFF, what="see the clinic's payments")
    tz = dates.DEFAULT_TIMEZONE
    if principal.clinic_id is not None:
        clinic = await db.get(Clinic, principal.clinic_id)
        if clinic is not None:
            tz = clinic.timezone
    if principal.role is Role.ORG_ADMIN:
        if principal.clinic_id is None:
            zones = (
                await db.scalars(
                    select(Clinic.timezone).where(Clinic.organisation_id == principal.organisation_id).distinct()
                )
            ).all()
            # Dates typed as days are read in the organisation's zone when its clinics share one.
            tz = zones[0] if len(zones) == 1 else tz
        scope = Scope(principal, principal.organisation_id, None, None, tz)
    else:
        if principal.clinic_id is None:
            raise NotFound("Choose a clinic first.")
        clinician = principal.user_id if principal.role is Role.TEAM_MEMBER else None
        scope = Scope(principal, principal.organisation_id, principal.clinic_id, clinician, tz)
    currencies = await db.scalars(
        select(PaymentRequest.currency)
        .join(Clinic, Clinic.id == PaymentRequest.clinic_id)
        .where(*_scope_conditions(scope))
        .distinct()
        .order_by(PaymentRequest.currency)
    )
    return replace(scope, currencies=tuple(currencies))


def _scope_conditions(scope: Scope) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Clinic.organisation_id == scope.organisation_id]
    if scope.clinic_id is not None:
        conditions.append(PaymentRequest.clinic_id == scope.clinic_id)
    if scope.clinician_id is not None:
        conditions.append(PaymentRequest.clinician_id == scope.clinician_id)
    return conditions


# --- Reading the filters -----------------------------------------------------------------------------------


def parse_filters(query: Mapping[str, Sequence[str]], scope: Scope) -> Filters:
    """The filters of ``GET /api/v1/payments`` from its query string (each name with all the values it was given)."""
    known = {
        "status", "from", "to", "clinician", "clinic", "currency", "amount_min", "amount_max", "q", "sort",
        "limit", "cursor", "format",
    }  # fmt: skip
    unknown = sorted(set(query) - known)
    if unknown:
        raise InvalidInput(f"'{unknown[0]}' is not a filter of the payments list.", field=unknown[0])

    def one(name: str) -> str | None:
        values = [v for v in query.get(name, ()) if v.strip()]
        if len(values) > 1:
            raise InvalidInput(f"Give '{name}' once.", field=name)
        return values[0].strip() if values else None

    statuses: list[str] = []
    for value in query.get("status", ()):
        for part in value.split(","):
            status = part.strip().lower()
            if not status:
                continue
            if status == "unpaid":
                statuses.extend(UNPAID)
            elif status in STATUSES:
                statuses.append(status)
            else:
                raise InvalidInput(
                    f"'{part.strip()}' is not a status. Use one of: {', '.join(STATUSES)}.", field="status"
                )
    currency = one("currency")
    if currency is not None:
        currency = money.normalise_currency(currency)
    created_from = created_before = None
    if (text := one("from")) is not None:
        created_from = dates.parse_bound(text, scope.timezone, field="from", end=False)
    if (text := one("to")) is not None:
        created_before = dates.parse_bound(text, scope.timezone, field="to", end=True)
    if created_from and created_before and created_from >= created_before:
        raise InvalidInput("'from' must come before 'to'.", field="from")
    amount_min = _amount(one("amount_min"), "amount_min")
    amount_max = _amount(one("amount_max"), "amount_max")
    if amount_min is not None and amount_max is not None and float(amount_min) > float(amount_max):
        raise InvalidInput("The smallest amount must not be more than the largest.", field="amount_min")
    q = one("q")
    if q is not None and len(q) > MAX_QUERY:
        raise InvalidInput(f"Search for at most {MAX_QUERY} characters.", field="q")
    sort_text = one("sort") or "-created_at"
    sort = sort_text.removeprefix("-")
    if sort not in SORTS:
        raise InvalidInput(
            f"Sort by one of: {', '.join(SORTS)} (a leading '-' for newest or largest first).", field="sort"
        )
    limit = _limit(one("limit"))
    filters = Filters(
        statuses=tuple(dict.fromkeys(statuses)),
        created_from=created_from,
        created_before=created_before,
        clinician=one("clinician"),
        clinic=one("clinic"),
        currency=currency,
        amount_min=amount_min,
        amount_max=amount_max,
        q=q,
        sort=sort,
        descending=sort_text.startswith("-"),
        limit=limit,
    )
    cursor = one("cursor")
    return replace(filters, cursor=decode_cursor(cursor, filters)) if cursor else filters


def _amount(text: str | None, field: str) -> str | None:
    """An amount bound as people write it ("80", "80.00"); it is read in each payment's own currency."""
    if text is None:
        return None
    whole, _, fraction = text.replace(",", "").partition(".")
    if not whole.isdigit() or (fraction and not fraction.isdigit()):
        raise InvalidInput("Enter the amount as a number, such as 80.00.", field=field)
    return text.replace(",", "")


def minor_units(text: str, currency: str) -> int:
    """``text`` (already checked by :func:`_amount`) in ``currency``'s minor units; extra decimals round down."""
    places = money.exponent(currency)
    whole, _, fraction = text.partition(".")
    minor: int = int(whole) * 10**places + int((fraction[:places]).ljust(places, "0") or "0")
    return minor


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise InvalidInput(f"'limit' is a whole number from 1 to {MAX_LIMIT}.", field="limit")
    return int(text)


# --- Cursors -------------------------------------------------------------------------------------------------


def encode_cursor(filters: Filters, value: Any, request_id: str) -> str:
    shown = value.isoformat() if isinstance(value, datetime) else value
    raw = json.dumps([filters.sort, filters.descending, shown, request_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(text: str, filters: Filters) -> tuple[Any, str]:
    bad = InvalidInput("This page link is out of date. Start again from the first page.", field="cursor")
    try:
        raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise bad from exc
    if not (isinstance(raw, list) and len(raw) == 4 and isinstance(raw[3], str)):
        raise bad
    sort, descending, value, request_id = raw
    if sort != filters.sort or descending != filters.descending:
        raise bad
    try:
        key = datetime.fromisoformat(value) if sort == "created_at" else int(value)
    except (TypeError, ValueError) as exc:
        raise bad from exc
    return key, request_id


# --- The query ------------------------------------------------------------------------------------------------


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filter_conditions(scope: Scope, filters: Filters) -> list[ColumnElement[bool]]:
    conditions = _scope_conditions(scope)
    if filters.statuses:
        conditions.append(PaymentRequest.status.in_(filters.statuses))
    if filters.created_from is not None:
        conditions.append(PaymentRequest.created_at >= filters.created_from)
    if filters.created_before is not None:
        conditions.append(PaymentRequest.created_at < filters.created_before)
    if filters.clinician is not None:
        conditions.append(User.external_id == filters.clinician)
    if filters.clinic is not None:
        conditions.append(Clinic.external_id == filters.clinic)
    if filters.currency is not None:
        conditions.append(PaymentRequest.currency == filters.currency)
    for bound, compare in ((filters.amount_min, "min"), (filters.amount_max, "max")):
        if bound is None:
            continue
        # Each currency reads "80" in its own units: A$80.00 for AUD payments, ¥80 for JPY ones.
        currencies = (filters.currency,) if filters.currency else scope.currencies
        conditions.append(
            or_(
                *(
                    and_(
                        PaymentRequest.currency == currency,
                        PaymentRequest.amount >= minor_units(bound, currency)
                        if compare == "min"
                        else PaymentRequest.amount <= minor_units(bound, currency),
                    )
                    for currency in currencies
                ),
                false(),
            )
        )
    if filters.q:
        pattern = _like(filters.q)
        conditions.append(
            or_(
                func.lower(PaymentRequest.description).like(pattern, escape="\\"),
                func.lower(func.coalesce(PaymentRequest.receipt_number, "")).like(pattern, escape="\\"),
                func.lower(func.coalesce(PaymentRequest.patient_email, "")).like(pattern, escape="\\"),
                func.lower(func.coalesce(PaymentRequest.patient_name, "")).like(pattern, escape="\\"),
                PaymentRequest.id == filters.q,
            )
        )
    return conditions


def _joined(query: Any) -> Any:
    return (
        query.join(Call, Call.id == PaymentRequest.call_id)
        .join(Clinic, Clinic.id == PaymentRequest.clinic_id)
        .join(User, User.id == PaymentRequest.clinician_id)
    )


def _sort_column(filters: Filters) -> Any:
    return PaymentRequest.amount if filters.sort == "amount" else PaymentRequest.created_at


def _rows_query(scope: Scope, filters: Filters, limit: int) -> Any:
    column = _sort_column(filters)
    conditions = _filter_conditions(scope, filters)
    if filters.cursor is not None:
        value, last_id = filters.cursor
        if filters.descending:
            conditions.append(or_(column < value, and_(column == value, PaymentRequest.id < last_id)))
        else:
            conditions.append(or_(column > value, and_(column == value, PaymentRequest.id > last_id)))
    order = (column.desc(), PaymentRequest.id.desc()) if filters.descending else (column.asc(), PaymentRequest.id)
    return (
        _joined(select(PaymentRequest, Call.external_id, Clinic, User.external_id, User.name))
        .where(*conditions)
        .order_by(*order)
        .limit(limit)
        .execution_options(populate_existing=True)
    )


@dataclass(frozen=True)
class Row:
    view: RequestView
    clinic: Clinic


async def _page(db: AsyncSession, scope: Scope, filters: Filters, limit: int) -> list[Row]:
    result = await db.execute(_rows_query(scope, filters, limit))
    rows = []
    for pr, call_id, clinic, clinician_id, clinician_name in result.all():
        rows.append(Row(RequestView(pr, call_id, clinic.external_id, clinician_id, clinician_name), clinic))
    return rows


def _next(filters: Filters, row: Row) -> Filters:
    pr = row.view.request
    value = pr.amount if filters.sort == "amount" else pr.created_at
    return replace(filters, cursor=(value, pr.id))


# --- Totals -------------------------------------------------------------------------------------------------


async def totals(db: AsyncSession, scope: Scope, filters: Filters) -> list[wire.Totals]:
    """Per currency, over the whole filtered set: count, gross, refunded, net; fees and net to the clinic where
    Stripe has reported every fee of what was taken (otherwise they would understate)."""
    taken = PaymentRequest.status.in_(TAKEN)
    query = _joined(
        select(
            PaymentRequest.currency,
            func.count(),
            func.coalesce(func.sum(case((taken, PaymentRequest.amount), else_=0)), 0),
            func.coalesce(func.sum(case((taken, PaymentRequest.amount_refunded), else_=0)), 0),
            func.count(case((taken, 1))),
            func.count(case((and_(taken, PaymentRequest.stripe_fee.is_not(None)), 1))),
            func.coalesce(func.sum(case((taken, PaymentRequest.stripe_fee), else_=0)), 0),
            func.coalesce(func.sum(case((taken, PaymentRequest.stripe_net), else_=0)), 0),
        )
    ).where(*_filter_conditions(scope, replace(filters, cursor=None)))
    result = await db.execute(query.group_by(PaymentRequest.currency).order_by(PaymentRequest.currency))
    out = []
    for currency, count, gross, refunded, taken_count, fee_count, fees, stripe_net in result.all():
        gross, refunded = int(gross), int(refunded)
        complete = taken_count > 0 and fee_count == taken_count
        entry: dict[str, Any] = {
            "currency": currency,
            "count": int(count),
            "gross": gross,
            "refunded": refunded,
            "net": gross - refunded,
            "fees": int(fees) if complete else None,
            "net_to_clinic": int(stripe_net) - refunded if complete else None,
        }
        entry["display"] = {
            key: money.format_amount(entry[key], currency) if entry[key] is not None else None
            for key in ("gross", "refunded", "net", "fees", "net_to_clinic")
        }
        out.append(wire.Totals.model_validate(entry))
    return out


# --- The JSON -----------------------------------------------------------------------------------------------


def clinic_display_name(clinic: Clinic) -> str:
    """The clinic as its staff know it: the platform's name for it, else its Stripe account's, never an id."""
    return clinic.name or clinic.stripe_account_name or "Your clinic"


def refundable_amount(pr: PaymentRequest) -> int:
    """What is left to refund: the amount less every refund asked for that hasn't failed, or Stripe's own total."""
    if pr.status not in TAKEN:
        return 0
    return max(pr.amount - max(pr.refund_reserved, pr.amount_refunded), 0)


def row_json(row: Row) -> wire.PaymentRow:
    """A PaymentRequest as the payment centre lists it: the contract's object plus what staff see of it."""
    pr, clinic = row.view.request, row.clinic
    left = refundable_amount(pr)
    tz = clinic.timezone
    return wire.PaymentRow(
        **dict(payment_request_json(row.view)),
        clinic_name=clinic_display_name(clinic),
        patient_name=pr.patient_name,
        patient_email=pr.patient_email,
        amount_refundable=left,
        amount_refundable_display=money.format_amount(left, pr.currency),
        amount_refunded_display=money.format_amount(pr.amount_refunded, pr.currency),
        stripe_fee=pr.stripe_fee,
        created_at_display=dates.format_datetime(pr.created_at, tz),
        paid_at_display=dates.format_datetime(pr.paid_at, tz),
        timezone=tz,
    )


# --- The list, and the export -------------------------------------------------------------------------------


async def list_payments(
    db: AsyncSession, principal: Principal, query: Mapping[str, Sequence[str]]
) -> wire.PaymentsPage:
    """``GET /api/v1/payments``: one page, the totals over everything filtered, and the next page's cursor."""
    scope = await scope_for(db, principal)
    filters = parse_filters(query, scope)
    rows = await _page(db, scope, filters, filters.limit + 1)
    more = len(rows) > filters.limit
    rows = rows[: filters.limit]
    next_cursor = None
    if more and rows:
        last = _next(filters, rows[-1])
        assert last.cursor is not None
        next_cursor = encode_cursor(filters, *last.cursor)
    return wire.PaymentsPage(
        data=[row_json(row) for row in rows],
        totals=await totals(db, scope, filters),
        next_cursor=next_cursor,
        timezone=scope.timezone,
    )


async def prepare_export(
    db: AsyncSession, principal: Principal, query: Mapping[str, Sequence[str]]
) -> tuple[Scope, Filters]:
    """Check the caller and the filters before the first byte of an export goes out (errors are JSON then)."""
    scope = await scope_for(db, principal)
    filters = parse_filters(query, scope)
    return scope, replace(filters, limit=EXPORT_BATCH, cursor=None)


def neutralise(cell: str) -> str:
    """A text cell a spreadsheet will show and never run (see FORMULA_START)."""
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def csv_row(row: Row) -> list[str]:
    pr, clinic = row.view.request, row.clinic
    tz = clinic.timezone
    taken = pr.status in TAKEN
    net = pr.stripe_net - pr.amount_refunded if taken and pr.stripe_net is not None else None
    text = [
        pr.description,
        row.view.clinician_name,
        clinic_display_name(clinic),
        pr.patient_name or "",
        pr.patient_email or "",
        pr.item_code or "",
    ]
    description, clinician, clinic_name, patient_name, patient_email, item_code = (neutralise(t) for t in text)
    return [
        pr.id,
        pr.status,
        money.format_typed(pr.amount, pr.currency),
        pr.currency,
        money.format_typed(pr.amount_refunded, pr.currency),
        description,
        clinician,
        dates.iso_local(pr.created_at, tz),
        dates.iso_local(pr.paid_at, tz),
        pr.receipt_number or "",
        clinic_name,
        patient_name,
        patient_email,
        item_code,
        money.format_typed(pr.stripe_fee, pr.currency) if taken and pr.stripe_fee is not None else "",
        money.format_typed(net, pr.currency) if net is not None else "",
    ]


def _encode(rows: Iterable[Sequence[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


async def export_csv(
    database: async_sessionmaker[AsyncSession], scope: Scope, filters: Filters
) -> AsyncIterator[bytes]:
    """The filtered payments as CSV chunks: a BOM and the header, then one chunk per batch of rows.

    Each batch is read in its own short session, so a long download holds neither a connection nor the rows.
    """
    yield "\ufeff".encode() + _encode([CSV_HEADER])
    current = filters
    while True:
        async with database() as db:
            rows = await _page(db, scope, current, current.limit)
        if not rows:
            return
        yield _encode(csv_row(row) for row in rows)
        if len(rows) < current.limit:
            return
        current = _next(current, rows[-1])


# --- The page ------------------------------------------------------------------------------------------------

STATUS_WORDS = {
    "requested": "Unpaid",
    "processing": "Processing",
    "authorized": "Held",
    "paid": "Paid",
    "failed": "Unpaid — declined",
    "canceled": "Cancelled",
    "refunded": "Refunded",
    "partially_refunded": "Partly refunded",
}


async def page_context(db: AsyncSession, principal: Principal) -> dict[str, Any]:
    """What the payment centre page renders with: whose payments these are, and the filters' choices."""
    scope = await scope_for(db, principal)
    clinics = (
        await db.scalars(
            select(Clinic)
            .where(Clinic.organisation_id == scope.organisation_id)
            .where(Clinic.id == scope.clinic_id if scope.clinic_id is not None else Clinic.id.is_not(None))
            .order_by(Clinic.name, Clinic.external_id)
        )
    ).all()
    clinician_rows: Sequence[Any] = []
    if scope.clinician_id is None:
        clinician_rows = (
            await db.execute(
                select(User.external_id, User.name)
                .join(PaymentRequest, PaymentRequest.clinician_id == User.id)
                .join(Clinic, Clinic.id == PaymentRequest.clinic_id)
                .where(*_scope_conditions(scope))
                .distinct()
                .order_by(User.name)
            )
        ).all()
    if principal.role is Role.ORG_ADMIN and scope.clinic_id is None:
        title = "every clinic of your organisation"
    elif clinics:
        title = clinic_display_name(clinics[0])
    else:
        title = "Your clinic"
    return {
        "role": principal.role.value,
        "title": title,
        "own_only": scope.clinician_id is not None,
        "many_clinics": scope.many_clinics,
        "clinics": [{"id": c.external_id, "name": clinic_display_name(c)} for c in clinics],
        "clinicians": [{"id": external_id, "name": name} for external_id, name in clinician_rows],
        "currencies": list(scope.currencies),
        "statuses": [{"value": key, "label": words} for key, words in STATUS_WORDS.items()],
        "timezone": scope.timezone,
        # Saved cards (and the fees charged to them) are one clinic's: its admins and clinicians see them.
        "saved_cards": principal.role in (Role.TEAM_ADMIN, Role.TEAM_MEMBER) and principal.clinic_id is not None,
        # Instalment plans, likewise one clinic's; the minimum says which requests may be split (None: plans off).
        "plans": _plans_context(clinics[0]) if len(clinics) == 1 and principal.clinic_id is not None else None,
    }


def _plans_context(clinic: Clinic) -> dict[str, Any]:
    minimum = clinic.plan_min_amount
    return {
        "min_amount": minimum,
        "currency": clinic.default_currency,
        "min_amount_display": money.format_amount(minimum, clinic.default_currency, clinic.locale)
        if minimum is not None
        else None,
    }
