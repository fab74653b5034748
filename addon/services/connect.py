"""Linking a clinic's own Stripe account through Connect OAuth, removing it, and hearing about it from Stripe.

The OAuth ``state`` is 256 random bits; only its SHA-256 is stored, bound to the session that asked for it and
to that session's clinic, usable once and for ten minutes. The round trip through Stripe is a top-level
navigation, so the page's in-memory token is left behind: on return, a valid ``state`` proves that the person
coming back is the one whose session started the dance, and :func:`complete_oauth` opens a fresh session with
exactly that scope (never longer-lived) for the page to carry on with. No bearer token ever travels in a URL.

What that binding can't prove (there is no cookie to check, by design: third-party cookies are not relied on) is
that the browser coming back is the browser that left; an admin who forwards their Stripe link to someone else
hands them the connection. Stripe's consent page names Callpay and the clinic's own Stripe sign-in is still needed,
which is the same line Stripe's own docs draw.

Stripe calls happen outside database transactions, so a slow Stripe never holds a connection or a lock.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from addon import audit
from addon.auth import sessions
from addon.auth.access import clinic_for_admin
from addon.auth.sessions import IssuedSession, Principal
from addon.dbutil import rows_changed
from addon.errors import CallpayError, Conflict, Unauthenticated
from addon.gateway import AccessRevoked, ConnectedAccount, StripeFailure, StripeGateway, WebhookEvent
from addon.models import AuditEvent, Clinic, ClinicNotice, ClinicStripeAccount, OAuthState
from addon.outbound import Outbound
from addon.services import account_health, clinics
from addon.services.clinics import AccountOptions, Changed
from addon.services.event_context import EventContext
from addon.services.stripe_errors import for_people, worded
from addon.settings import ONBOARDING_WAYS

log = logging.getLogger("callpay.connect")

STATE_LIFETIME = timedelta(minutes=10)
START_AGAIN = "Go back to the video-call platform and open Configure > Client Payments again."
# Written, and committed, before Stripe is asked to deauthorize; see disconnect().
REMOVAL_REQUESTED = "clinic.stripe_removal_requested"
DEAUTHORIZED_NOTICE = (
    "Callpay's access to the Stripe account {name} was removed from Stripe's side on {when}. "
    "Payments are off until a clinic admin links a Stripe account again."
)


class OAuthStateRejected(CallpayError):
    """The ``state`` Stripe sent back is unknown, used or expired: nothing is stored, the person starts again."""

    status = 400
    code = "oauth_state_invalid"


# --- Go to Stripe ------------------------------------------------------------------------------------------


async def begin_oauth(
    db: AsyncSession,
    principal: Principal,
    gateway: StripeGateway,
    *,
    redirect_uri: str,
    now: datetime | None = None,
    ways: tuple[str, ...] = ONBOARDING_WAYS,
) -> str:
    """Record a fresh ``state`` for this session and clinic, and return Stripe's authorize address."""
    now = now or datetime.now(UTC)
    clinic = await clinic_for_admin(db, principal)
    if "oauth" not in ways:
        raise Conflict(
            "Linking an existing Stripe account isn't offered here. Use Create one for this clinic instead.",
            code="onboarding_way_unavailable",
        )
    if clinic.stripe_account_id:
        raise Conflict(
            "This clinic already has a Stripe account linked. Remove it first if you want to link another.",
            code="already_connected",
        )
    state = new_state(db, principal, clinic.id, now=now, purpose="oauth", lifetime=STATE_LIFETIME)
    await db.flush()
    return gateway.authorize_url(state=state, redirect_uri=redirect_uri)


def new_state(
    db: AsyncSession, principal: Principal, clinic_id: int, *, now: datetime, purpose: str, lifetime: timedelta
) -> str:
    """A fresh single-use token binding a trip to Stripe to this session and clinic; only its hash is kept."""
    state = secrets.token_urlsafe(32)
    db.add(
        OAuthState(
            state_hash=sessions.hash_token(state),
            purpose=purpose,
            session_token_hash=principal.token_hash,
            clinic_id=clinic_id,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return state


# --- Back from Stripe --------------------------------------------------------------------------------------

Outcome = Literal["connected", "denied", "failed"]


@dataclass(frozen=True)
class OAuthResult:
    """What to show on return: the page's new session, what happened, and events to publish after commit."""

    issued: IssuedSession
    outcome: Outcome
    message: str
    events: list[Outbound]


async def complete_oauth(
    database: async_sessionmaker[AsyncSession],
    gateway: StripeGateway,
    *,
    state: str | None,
    code: str | None,
    error: str | None,
    now: datetime | None = None,
) -> OAuthResult:
    """Check the ``state``, exchange the code, read the account and store the link, or say why not."""
    now = now or datetime.now(UTC)
    async with database.begin() as db:
        # Used up before Stripe is asked anything, and committed, so it can't be replayed even if the exchange fails.
        clinic_id, issued = await _claim_state(db, state, now)
    if error is not None:
        if error == "access_denied":
            message = "You cancelled on Stripe, so no account was linked. Click Go to Stripe whenever you're ready."
            return OAuthResult(issued, "denied", message, [])
        log.warning("oauth returned an error", extra={"oauth_error": error[:100]})
        return OAuthResult(issued, "failed", "Stripe couldn't link the account. Please click Go to Stripe again.", [])
    if not code:
        return OAuthResult(issued, "failed", "Stripe sent no authorisation back. Please click Go to Stripe again.", [])

    try:
        connection = await gateway.exchange_oauth_code(code)
        account = await gateway.retrieve_account(connection.account_id)
    except StripeFailure as exc:
        return OAuthResult(issued, "failed", for_people(exc).message, [])

    async with database.begin() as db:
        try:
            async with db.begin_nested():
                stored = await store_connection(
                    db, clinic_id, account, publishable_key=connection.publishable_key, kind="oauth", now=now
                )
        except IntegrityError:
            stored = False
            message = (
                "That Stripe account is already linked to another clinic. Choose or create another account on Stripe."
            )
        else:
            message = "This clinic already has a Stripe account linked. Remove it first if you want to link another."
        if not stored:
            return OAuthResult(issued, "failed", message, [])
        # populate_existing: the link was written by an UPDATE, not through this object.
        clinic = await db.get_one(Clinic, clinic_id, populate_existing=True)
        audit.record(
            db,
            "clinic.stripe_connected",
            actor=issued.principal,
            organisation_id=clinic.organisation_id,
            clinic_id=clinic.id,
            subject_type="stripe_account",
            subject_id=account.id,
            data={"charges_enabled": account.charges_enabled, "livemode": connection.livemode},
        )
        events = clinics.status_events(clinic)
    name = account.name or account.id
    return OAuthResult(issued, "connected", f"Your Stripe account {name} is linked to this clinic.", events)


async def _claim_state(db: AsyncSession, state: str | None, now: datetime) -> tuple[int, IssuedSession]:
    return await claim_state(db, state, now, purpose="oauth")


async def claim_state(
    db: AsyncSession, state: str | None, now: datetime, *, purpose: str, lifetime_words: str = "10 minutes"
) -> tuple[int, IssuedSession]:
    """Use up a trip's ``state`` (of this ``purpose`` only) and reopen the session that started the trip."""
    click = "a Go to Stripe click" if purpose == "oauth" else "a Create or Finish on Stripe click"
    if not state or len(state) > 200:
        raise OAuthStateRejected(f"This return from Stripe can't be matched to {click}. {START_AGAIN}")
    state_hash = sessions.hash_token(state)
    claimed = await db.execute(
        update(OAuthState)
        .where(
            OAuthState.state_hash == state_hash,
            OAuthState.purpose == purpose,
            OAuthState.used_at.is_(None),
            OAuthState.expires_at > now,
        )
        .values(used_at=now)
        .returning(OAuthState.clinic_id, OAuthState.session_token_hash)
    )
    row = claimed.one_or_none()
    if row is None:
        found = await db.get(OAuthState, state_hash)
        if found is None or found.purpose != purpose:
            why = f"This return from Stripe can't be matched to {click}."
        elif found.used_at is not None:
            why = "This return from Stripe has already been used."
        else:
            why = f"This return from Stripe came too late: the link to Stripe lasts {lifetime_words}."
        raise OAuthStateRejected(f"{why} Nothing was changed. {START_AGAIN}")
    clinic_id, session_hash = row
    issued = await sessions.reopen(db, session_hash, now=now)
    if issued is None:
        raise Unauthenticated(
            f"Your Callpay session ended while you were on Stripe, so nothing was changed. {START_AGAIN}",
            code="session_invalid",
        )
    return clinic_id, issued


async def store_connection(
    db: AsyncSession,
    clinic_id: int,
    account: ConnectedAccount,
    *,
    publishable_key: str | None,
    kind: str,
    now: datetime,
) -> bool:
    """Link ``account`` to the clinic if it has none; False when it already has one. Raises IntegrityError when
    another clinic has this account."""
    # Conditional: two returns racing for one clinic can't both link (and a linked clinic isn't silently replaced).
    result = await db.execute(
        update(Clinic)
        .where(Clinic.id == clinic_id, Clinic.stripe_account_id.is_(None))
        .values(
            stripe_account_id=account.id,
            stripe_account_name=account.name,
            stripe_country=account.country,
            stripe_default_currency=account.default_currency,
            stripe_livemode=account.livemode,
            stripe_connected_at=now,
            stripe_publishable_key=publishable_key,
            stripe_account_kind=kind,
            **account_health.health_values(account),
        )
        .execution_options(synchronize_session=False)
    )
    if not rows_changed(result):
        return False
    await _remember(db, clinic_id, account, kind, now)
    # The "access was removed from Stripe" notice is answered by linking again.
    await db.execute(
        update(ClinicNotice)
        .where(ClinicNotice.clinic_id == clinic_id, ClinicNotice.dismissed_at.is_(None))
        .values(dismissed_at=now)
    )
    return True


# --- Remove Stripe account ---------------------------------------------------------------------------------


async def _remember(db: AsyncSession, clinic_id: int, account: ConnectedAccount, kind: str, now: datetime) -> None:
    """Keep the account in the clinic's list of accounts it has had (relinking offers it; history stays)."""
    known = await db.scalar(
        select(ClinicStripeAccount).where(
            ClinicStripeAccount.clinic_id == clinic_id, ClinicStripeAccount.account_id == account.id
        )
    )
    if known is None:
        db.add(
            ClinicStripeAccount(
                clinic_id=clinic_id,
                account_id=account.id,
                name=account.name,
                kind=kind,
                first_linked_at=now,
                last_linked_at=now,
            )
        )
    else:
        known.name = account.name or known.name
        known.kind = kind
        known.last_linked_at = now
        known.unlinked_at = None
    await db.flush()


async def disconnect(
    database: async_sessionmaker[AsyncSession],
    gateway: StripeGateway,
    principal: Principal,
    options: AccountOptions | None = None,
) -> Changed:
    """Revoke Callpay's access on Stripe, then forget the account here. Stripe first: if it can't be reached,
    nothing changes and the admin can try again, rather than Callpay forgetting an account that still trusts it.

    An account the platform created for the clinic (hosted onboarding) has no OAuth grant to revoke, and the
    platform keeps it so the clinic can link it again; here it is only forgotten."""
    async with database.begin() as db:
        clinic = await clinic_for_admin(db, principal)
        account_id = clinic.stripe_account_id
        kind = clinic.stripe_account_kind
        if account_id is None:
            raise Conflict("No Stripe account is linked to this clinic.", code="not_connected")
        # Committed before Stripe is called: Stripe's echo (account.application.deauthorized) can arrive before
        # the local removal below commits, and this is how its handler knows the admin asked for it.
        audit.record(
            db,
            REMOVAL_REQUESTED,
            actor=principal,
            organisation_id=clinic.organisation_id,
            clinic_id=clinic.id,
            subject_type="stripe_account",
            subject_id=account_id,
        )
    if kind != "hosted":
        with worded():
            await gateway.deauthorize(account_id)
    async with database.begin() as db:
        clinic = await clinic_for_admin(db, principal)
        events: list[Outbound] = []
        if await _forget_account(db, clinic, account_id):
            audit.record(
                db,
                "clinic.stripe_disconnected",
                actor=principal,
                organisation_id=clinic.organisation_id,
                clinic_id=clinic.id,
                subject_type="stripe_account",
                subject_id=account_id,
            )
            events.extend(clinics.status_events(clinic))
        return Changed(body=await clinics.config_json(db, clinic, options), events=events)


async def _removed_here_before_relink(
    db: AsyncSession, clinic: Clinic, event: WebhookEvent, connected_at: datetime
) -> bool:
    """Whether an admin removed ``event.account`` here in the event's second, before the current link was made."""
    if event.created != int(connected_at.timestamp()):
        return False
    query = select(AuditEvent.id).where(
        AuditEvent.clinic_id == clinic.id,
        AuditEvent.action == REMOVAL_REQUESTED,
        AuditEvent.subject_id == event.account,
        AuditEvent.occurred_at >= datetime.fromtimestamp(event.created, UTC).replace(tzinfo=connected_at.tzinfo),
        AuditEvent.occurred_at < connected_at,
    )
    return await db.scalar(query.limit(1)) is not None


async def _removal_requested_here(db: AsyncSession, clinic: Clinic, account_id: str) -> bool:
    """Whether an admin asked Callpay to remove this account since it was last linked."""
    query = select(AuditEvent.id).where(
        AuditEvent.clinic_id == clinic.id,
        AuditEvent.action == REMOVAL_REQUESTED,
        AuditEvent.subject_id == account_id,
    )
    if clinic.stripe_connected_at is not None:
        query = query.where(AuditEvent.occurred_at >= clinic.stripe_connected_at)
    return await db.scalar(query.limit(1)) is not None


async def _forget_account(db: AsyncSession, clinic: Clinic, account_id: str) -> bool:
    """Clear the link if it is still to ``account_id``; False when something else changed it first."""
    result = await db.execute(
        update(Clinic)
        .where(Clinic.id == clinic.id, Clinic.stripe_account_id == account_id)
        .values(
            stripe_account_id=None,
            stripe_account_name=None,
            stripe_country=None,
            stripe_default_currency=None,
            stripe_charges_enabled=False,
            stripe_livemode=False,
            stripe_connected_at=None,
            stripe_publishable_key=None,
            stripe_account_kind=None,
            stripe_payouts_enabled=False,
            stripe_details_submitted=False,
            stripe_requirements={},
        )
        .execution_options(synchronize_session=False)
    )
    await db.refresh(clinic)
    if not rows_changed(result):
        return False
    await db.execute(
        update(ClinicStripeAccount)
        .where(ClinicStripeAccount.clinic_id == clinic.id, ClinicStripeAccount.account_id == account_id)
        .values(unlinked_at=datetime.now(UTC))
    )
    return True


# --- From Stripe's side ------------------------------------------------------------------------------------


async def prefetch_deauthorization(
    database: async_sessionmaker[AsyncSession], event: WebhookEvent, context: EventContext
) -> None:
    """account.application.deauthorized: ask Stripe, before the webhook's transaction opens, whether Callpay's key
    still reaches the account. Stripe unreachable raises, so the event is retried later rather than believed."""
    if not event.account:
        return
    async with database() as db:
        if await db.scalar(select(Clinic.id).where(Clinic.stripe_account_id == event.account)) is None:
            return
    await _check_access(event.account, context)


async def _check_access(account_id: str, context: EventContext) -> bool:
    """Whether Stripe still lets Callpay read the account with its own key (the answer kept in ``context``)."""
    if account_id in context.revoked_accounts:
        return False
    if account_id in context.accounts:
        return True
    try:
        context.accounts[account_id] = await context.gateway.retrieve_account(account_id)
    except AccessRevoked:
        context.revoked_accounts.add(account_id)
        return False
    return True


async def on_account_deauthorized(db: AsyncSession, event: WebhookEvent, context: EventContext) -> list[Outbound]:
    """The account owner removed Callpay in their Stripe dashboard: stop offering payments and tell the admins.

    The event is only news: the clinic is unlinked only when Stripe itself, asked with Callpay's key, no longer
    lets Callpay read the account. A signed event about an account that still trusts Callpay (a forged or
    misdirected one, or an old one about an earlier link) changes nothing."""
    if not event.account:
        return []
    clinic = await db.scalar(select(Clinic).where(Clinic.stripe_account_id == event.account))
    if clinic is None:
        return []  # already removed here (e.g. the echo of our own Remove), or never linked
    if await _check_access(event.account, context):
        log.warning(
            "account.application.deauthorized for an account Callpay can still read; ignored",
            extra={"stripe_event": event.id, "account": event.account},
        )
        return []
    connected_at = clinic.stripe_connected_at
    if connected_at is not None and event.created < int(connected_at.timestamp()):
        return []  # an old event about an earlier link of the same account; the current link stands
    # Stripe's `created` is whole seconds: an echo of a Remove made in the same second as the relink that followed
    # it is told from a real revocation by the Remove asked here, just before this link.
    if connected_at is not None and await _removed_here_before_relink(db, clinic, event, connected_at):
        return []  # an old event about an earlier link of the same account; the current link stands
    # The echo of an admin's own Remove can overtake its local commit: then this finishes the removal, no notice.
    requested_here = await _removal_requested_here(db, clinic, event.account)
    name = clinic.stripe_account_name or event.account
    if not await _forget_account(db, clinic, event.account):
        return []
    if requested_here:
        action, data = "clinic.stripe_disconnected", {"confirmed_by": event.id}
    else:
        action, data = "clinic.stripe_deauthorized_by_stripe", {"stripe_event": event.id}
        when = datetime.fromtimestamp(event.created or datetime.now(UTC).timestamp(), UTC)
        db.add(
            ClinicNotice(
                clinic_id=clinic.id,
                kind="stripe_deauthorized",
                message=DEAUTHORIZED_NOTICE.format(name=name, when=when.strftime("%d %b %Y at %H:%M UTC")),
            )
        )
    audit.record(
        db,
        action,
        organisation_id=clinic.organisation_id,
        clinic_id=clinic.id,
        subject_type="stripe_account",
        subject_id=event.account,
        data=data,
    )
    return clinics.status_events(clinic)


def _updated_account_id(event: WebhookEvent) -> str | None:
    account_id = event.account or event.object.get("id")
    return account_id if isinstance(account_id, str) and account_id else None


async def prefetch_account(
    database: async_sessionmaker[AsyncSession], event: WebhookEvent, context: EventContext
) -> None:
    """account.updated: read the account from Stripe before the webhook's transaction opens."""
    account_id = _updated_account_id(event)
    if account_id is None:
        return
    async with database() as db:
        if await db.scalar(select(Clinic.id).where(Clinic.stripe_account_id == account_id)) is None:
            return
    try:
        context.accounts[account_id] = await context.gateway.retrieve_account(account_id)
    except StripeFailure:
        return  # the handler asks again and decides


async def on_account_updated(db: AsyncSession, event: WebhookEvent, context: EventContext) -> list[Outbound]:
    """Keep what the config page shows, and whether payments are possible, in step with the account.

    The event is only news that the account changed: what is applied is the account as Stripe has it now, read
    with Callpay's own key, so a payload that says more than Stripe does (charges enabled on an account that isn't)
    changes nothing. An account Callpay can no longer read is left to account.application.deauthorized."""
    account_id = _updated_account_id(event)
    if account_id is None:
        return []
    clinic = await db.scalar(select(Clinic).where(Clinic.stripe_account_id == account_id))
    if clinic is None:
        return []
    account = context.accounts.get(account_id)
    if account is None:
        try:
            account = await context.gateway.retrieve_account(account_id)
        except AccessRevoked:
            log.warning("account.updated for an account Callpay can't read", extra={"stripe_event": event.id})
            return []
    if account.id != account_id:
        log.warning("account.updated: Stripe answered for another account", extra={"stripe_event": event.id})
        return []
    return apply_account(db, clinic, account, data={"stripe_event": event.id})


def apply_account(
    db: AsyncSession, clinic: Clinic, account: ConnectedAccount, *, data: dict[str, str]
) -> list[Outbound]:
    """Bring the clinic's copy of its linked account up to what Stripe says, and return who to tell: everyone
    when payments start or stop being possible, staff only when just what Client Payments shows has changed."""
    was_available = clinics.unavailable_reason(clinic) is None
    health = account_health.health_values(account)
    health_before = {key: getattr(clinic, key) for key in health}
    for key, value in health.items():
        setattr(clinic, key, value)
    clinic.stripe_account_name = account.name or clinic.stripe_account_name
    clinic.stripe_country = account.country or clinic.stripe_country
    clinic.stripe_default_currency = account.default_currency or clinic.stripe_default_currency
    if (clinics.unavailable_reason(clinic) is None) == was_available:
        return [clinics.status_event(clinic)] if health_before != health else []
    audit.record(
        db,
        "clinic.stripe_charges_enabled" if account.charges_enabled else "clinic.stripe_charges_disabled",
        organisation_id=clinic.organisation_id,
        clinic_id=clinic.id,
        subject_type="stripe_account",
        subject_id=account.id,
        data=data,
    )
    return clinics.status_events(clinic)


ACCOUNT_EVENT_HANDLERS = {
    "account.application.deauthorized": on_account_deauthorized,
    "account.updated": on_account_updated,
}
ACCOUNT_EVENT_PREPARERS = {
    "account.application.deauthorized": prefetch_deauthorization,
    "account.updated": prefetch_account,
}
