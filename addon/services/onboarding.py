"""A Stripe account made for a clinic that has none, set up on Stripe's hosted onboarding (Account Links), and
linking a clinic's earlier account again.

"Create one for this clinic" makes the account through the API (the clinic's own, as a standard account is: its
own fees, its own full Stripe dashboard) and links it at once, so Client Payments can say what Stripe still needs
even if the person never comes back. The trip to Stripe's onboarding carries a single-use ``state`` in its return
and refresh addresses, bound to the session and clinic as the OAuth round trip is (see ``connect``): the
addresses are bearer links, so each works once, and only for the session that asked. Stripe's link itself lasts
minutes; the ``state`` lasts an hour, as long as anyone spends on the onboarding form.

Stripe calls happen outside database transactions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from addon import audit
from addon.auth.access import clinic_for_admin
from addon.auth.sessions import IssuedSession, Principal
from addon.errors import CallpayError, Conflict, InvalidInput, NotFound
from addon.gateway import ConnectedAccount, StripeFailure, StripeGateway
from addon.models import Clinic, ClinicStripeAccount, Organisation
from addon.outbound import Outbound
from addon.services import account_health, clinics, connect
from addon.services.clinics import AccountOptions, Changed
from addon.services.stripe_errors import for_people, worded

STATE_LIFETIME = timedelta(hours=1)
RETURN_PATH = "/clinic-config/stripe/onboarding/return"
REFRESH_PATH = "/clinic-config/stripe/onboarding/refresh"
ALREADY_LINKED = "This clinic already has a Stripe account linked. Remove it first if you want to use another."


@dataclass(frozen=True)
class Trip:
    """Where to send the person (a fresh Account Link), and the events the change before it causes."""

    url: str
    events: list[Outbound] = field(default_factory=list)


@dataclass(frozen=True)
class Return:
    """Back from Stripe: the page's new session, what to say, and events to publish after commit."""

    issued: IssuedSession
    outcome: Literal["ready", "unfinished", "failed"]
    message: str
    events: list[Outbound]


@dataclass(frozen=True)
class Refresh:
    """A link that had expired or been used: the page's new session and either a fresh link or why not."""

    issued: IssuedSession
    url: str | None
    message: str | None


# --- Create one for this clinic ----------------------------------------------------------------------------


async def create_account(
    database: async_sessionmaker[AsyncSession],
    gateway: StripeGateway,
    principal: Principal,
    *,
    country: object,
    public_url: str,
    options: AccountOptions,
    now: datetime | None = None,
) -> Trip:
    """Make the clinic a Stripe account, link it, and return the hosted onboarding's address."""
    now = now or datetime.now(UTC)
    async with database.begin() as db:
        clinic = await clinic_for_admin(db, principal)
        if "hosted" not in options.ways:
            raise Conflict(
                "Creating a Stripe account here isn't offered. Use I have a Stripe account instead.",
                code="onboarding_way_unavailable",
            )
        if clinic.stripe_account_id:
            raise Conflict(ALREADY_LINKED, code="already_connected")
        code = _country(country)
        made_before = await db.scalar(
            select(func.count())
            .select_from(ClinicStripeAccount)
            .where(ClinicStripeAccount.clinic_id == clinic.id, ClinicStripeAccount.kind == "hosted")
        )
        org = await db.get_one(Organisation, clinic.organisation_id)
        clinic_id = clinic.id
        business_name = clinic.receipt_business_name or clinic.name
        # One account per click, however often the click is retried or doubled: the key names the clinic and how
        # many accounts it has had made, so only a deliberate "create another" after removing makes a new one.
        key = f"clinic-account:{clinic.id}:{made_before or 0}"
        metadata = {"callpay_org": org.external_id, "callpay_clinic": clinic.external_id}
    with worded():
        account = await gateway.create_account(
            country=code, business_name=business_name, metadata=metadata, idempotency_key=key
        )
    async with database.begin() as db:
        events: list[Outbound] = []
        try:
            async with db.begin_nested():
                stored = await connect.store_connection(
                    db, clinic_id, account, publishable_key=None, kind="hosted", now=now
                )
        except IntegrityError as exc:
            raise Conflict("That Stripe account is already linked to another clinic.", code="account_taken") from exc
        clinic = await db.get_one(Clinic, clinic_id, populate_existing=True)
        if not stored and clinic.stripe_account_id != account.id:
            raise Conflict(ALREADY_LINKED, code="already_connected")
        if stored:  # else a doubled click, answered with the same account: just send this one to Stripe too
            audit.record(
                db,
                "clinic.stripe_account_created",
                actor=principal,
                organisation_id=clinic.organisation_id,
                clinic_id=clinic.id,
                subject_type="stripe_account",
                subject_id=account.id,
                data={"country": code},
            )
            events = clinics.status_events(clinic)
        state = connect.new_state(db, principal, clinic_id, now=now, purpose="onboarding", lifetime=STATE_LIFETIME)
    link = await _link(gateway, account.id, state, public_url)
    return Trip(url=link, events=events)


def _country(value: object) -> str:
    if not isinstance(value, str) or value.upper() not in clinics.ACCOUNT_COUNTRIES:
        names = ", ".join(clinics.ACCOUNT_COUNTRIES.values())
        raise InvalidInput(f"Choose the country the clinic is in: {names}.", field="country")
    return value.upper()


async def _link(gateway: StripeGateway, account_id: str, state: str, public_url: str) -> str:
    with worded():
        link = await gateway.create_account_link(
            account_id=account_id,
            refresh_url=f"{public_url}{REFRESH_PATH}?state={state}",
            return_url=f"{public_url}{RETURN_PATH}?state={state}",
        )
    return link.url


# --- Finish on Stripe --------------------------------------------------------------------------------------


async def finish_on_stripe(
    database: async_sessionmaker[AsyncSession],
    gateway: StripeGateway,
    principal: Principal,
    *,
    public_url: str,
    now: datetime | None = None,
) -> Trip:
    """A fresh Account Link for the clinic's account, to give Stripe what it still needs."""
    now = now or datetime.now(UTC)
    async with database.begin() as db:
        clinic = await clinic_for_admin(db, principal)
        account_id = _hosted_account(clinic)
        state = connect.new_state(db, principal, clinic.id, now=now, purpose="onboarding", lifetime=STATE_LIFETIME)
    return Trip(url=await _link(gateway, account_id, state, public_url))


def _hosted_account(clinic: Clinic) -> str:
    if clinic.stripe_account_id is None:
        raise Conflict("No Stripe account is linked to this clinic.", code="not_connected")
    if clinic.stripe_account_kind != "hosted":
        raise Conflict(
            "This clinic's own Stripe account is set up in its Stripe dashboard: click Open Stripe dashboard.",
            code="finish_in_dashboard",
        )
    return clinic.stripe_account_id


# --- Back from Stripe --------------------------------------------------------------------------------------


async def complete_return(
    database: async_sessionmaker[AsyncSession],
    gateway: StripeGateway,
    *,
    state: str | None,
    now: datetime | None = None,
) -> Return:
    """Read the account as Stripe has it now, keep its health, and say in plain words what, if anything, is left."""
    now = now or datetime.now(UTC)
    async with database.begin() as db:
        clinic_id, issued = await connect.claim_state(db, state, now, purpose="onboarding", lifetime_words="an hour")
        clinic = await db.get_one(Clinic, clinic_id)
        account_id = clinic.stripe_account_id
    if account_id is None:
        message = "This clinic no longer has a Stripe account linked, so nothing was changed."
        return Return(issued, "failed", message, [])
    try:
        account = await gateway.retrieve_account(account_id)
    except StripeFailure as exc:
        return Return(issued, "failed", for_people(exc).message, [])
    async with database.begin() as db:
        clinic = await db.get_one(Clinic, clinic_id)
        if clinic.stripe_account_id != account.id:
            return Return(issued, "failed", "The clinic's Stripe account changed meanwhile; nothing was changed.", [])
        events = connect.apply_account(db, clinic, account, data={"onboarding_return": "1"})
    outcome, message = _what_is_left(account)
    return Return(issued, outcome, message, events)


def _what_is_left(account: ConnectedAccount) -> tuple[Literal["ready", "unfinished"], str]:
    name = account.name or account.id
    needed = account_health.in_words([*account.requirements.past_due, *account.requirements.currently_due])
    if account.charges_enabled and not needed:
        return "ready", f"Your Stripe account {name} is set up and linked to this clinic. It can take payments."
    if account.charges_enabled:
        return "ready", (
            f"Your Stripe account {name} can take payments. Stripe will also need {_and(needed)}: "
            "click Finish on Stripe when you have them."
        )
    if not needed:
        return "unfinished", (
            f"You're back from Stripe. Stripe is checking the details for {name}; payments can start once it has."
        )
    return "unfinished", (
        f"You're back from Stripe, but {name} can't take payments yet. Stripe still needs {_and(needed)}. "
        "Click Finish on Stripe to carry on."
    )


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


async def refresh(
    database: async_sessionmaker[AsyncSession],
    gateway: StripeGateway,
    *,
    state: str | None,
    public_url: str,
    now: datetime | None = None,
) -> Refresh:
    """Stripe sent the person back because the link expired or was used: make a fresh one for the same trip."""
    now = now or datetime.now(UTC)
    async with database.begin() as db:
        clinic_id, issued = await connect.claim_state(db, state, now, purpose="onboarding", lifetime_words="an hour")
        clinic = await db.get_one(Clinic, clinic_id)
        try:
            account_id = _hosted_account(clinic)
        except Conflict as exc:
            return Refresh(issued, None, exc.message)
        fresh = connect.new_state(
            db, issued.principal, clinic_id, now=now, purpose="onboarding", lifetime=STATE_LIFETIME
        )
    try:
        url = await _link(gateway, account_id, fresh, public_url)
    except CallpayError as exc:  # already in words: _link's call is worded()
        return Refresh(issued, None, f"{exc.message} Click Finish on Stripe to try again.")
    return Refresh(issued, url, None)


# --- Link the earlier account again ------------------------------------------------------------------------


async def relink(
    database: async_sessionmaker[AsyncSession],
    gateway: StripeGateway,
    principal: Principal,
    account_id: object,
    *,
    options: AccountOptions,
    now: datetime | None = None,
) -> Changed:
    """Link an account this clinic had before, that the platform made for it (and so can still reach): the same
    account, so its Stripe records and Callpay's carry on together."""
    now = now or datetime.now(UTC)
    if not isinstance(account_id, str) or not account_id:
        raise InvalidInput("Say which account to link again.", field="account_id")
    async with database.begin() as db:
        clinic = await clinic_for_admin(db, principal)
        if clinic.stripe_account_id:
            raise Conflict(ALREADY_LINKED, code="already_connected")
        known = await db.scalar(
            select(ClinicStripeAccount).where(
                ClinicStripeAccount.clinic_id == clinic.id, ClinicStripeAccount.account_id == account_id
            )
        )
        if known is None:
            raise NotFound("That Stripe account was never linked to this clinic.")
        if known.kind != "hosted":
            raise Conflict(
                "This clinic's own Stripe account is linked on Stripe: click Go to Stripe and choose it there.",
                code="relink_on_stripe",
            )
        clinic_id = clinic.id
    with worded():
        account = await gateway.retrieve_account(account_id)
    async with database.begin() as db:
        try:
            async with db.begin_nested():
                stored = await connect.store_connection(
                    db, clinic_id, account, publishable_key=None, kind="hosted", now=now
                )
        except IntegrityError as exc:
            raise Conflict("That Stripe account is now linked to another clinic.", code="account_taken") from exc
        if not stored:
            raise Conflict(ALREADY_LINKED, code="already_connected")
        clinic = await db.get_one(Clinic, clinic_id, populate_existing=True)
        audit.record(
            db,
            "clinic.stripe_connected",
            actor=principal,
            organisation_id=clinic.organisation_id,
            clinic_id=clinic.id,
            subject_type="stripe_account",
            subject_id=account.id,
            data={"charges_enabled": account.charges_enabled, "relinked": True},
        )
        return Changed(body=await clinics.config_json(db, clinic, options), events=clinics.status_events(clinic))
