"""The database, as SQLAlchemy 2 declarative models.

Organisations, clinics, users and calls mirror what the host platform names in launches; everything else is
Callpay's own. Money is stored as integers in the currency's minor unit, times as timezone-aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, overload

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from addon.lifecycle import INITIAL, status_check


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def iso_utc(value: datetime) -> str: ...


@overload
def iso_utc(value: datetime | None) -> str | None: ...


def iso_utc(value: datetime | None) -> str | None:
    """A stored time as the API writes it: ISO 8601 in UTC with a "Z"."""
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend; SQLite would otherwise hand back naive datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[int]: JSON()}


class Organisation(Base):
    __tablename__ = "organisations"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(200))
    external_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Clinic(Base):
    __tablename__ = "clinics"
    __table_args__ = (UniqueConstraint("organisation_id", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(200))
    # The platform only launches installed add-ons, so a clinic is on until an org admin turns it off.
    addon_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    # The linked Stripe account (Connect OAuth, standard account, direct charges).
    stripe_account_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    stripe_account_name: Mapped[str | None] = mapped_column(String(200))
    stripe_country: Mapped[str | None] = mapped_column(String(2))
    stripe_default_currency: Mapped[str | None] = mapped_column(String(3))
    stripe_charges_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    stripe_livemode: Mapped[bool] = mapped_column(Boolean, default=False)
    stripe_connected_at: Mapped[datetime | None]
    stripe_publishable_key: Mapped[str | None] = mapped_column(String(200))
    # How the account came to be linked: "oauth" (the clinic's own account) or "hosted" (made by the platform and
    # set up on Stripe's hosted onboarding). Its health, as Stripe last said: see addon.services.account_health.
    stripe_account_kind: Mapped[str | None] = mapped_column(String(20))
    stripe_payouts_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    stripe_details_submitted: Mapped[bool] = mapped_column(Boolean, default=False)
    stripe_requirements: Mapped[dict[str, Any]] = mapped_column(default=dict)

    # Payment settings.
    default_currency: Mapped[str] = mapped_column(String(3), default="aud")
    preset_amounts: Mapped[list[int]] = mapped_column(default=list)
    # How the clinic writes numbers (BCP 47): amounts typed by its staff are read, and shown, this way.
    locale: Mapped[str] = mapped_column(String(35), default="en-AU", server_default="en-AU")
    # A request for more than this (minor units of default_currency) asks the clinician to confirm it first;
    # None: the default, 500 of the currency's major unit (A$500.00).
    confirm_above: Mapped[int | None] = mapped_column(Integer)
    application_fee_amount: Mapped[int | None] = mapped_column(Integer)

    # What a receipt must carry for a patient to claim with it.
    receipt_business_name: Mapped[str | None] = mapped_column(String(200))
    receipt_abn: Mapped[str | None] = mapped_column(String(50))
    receipt_provider_name: Mapped[str | None] = mapped_column(String(200))
    receipt_provider_number: Mapped[str | None] = mapped_column(String(50))
    receipt_address: Mapped[str | None] = mapped_column(String(500))
    receipt_phone: Mapped[str | None] = mapped_column(String(50))
    receipt_footer: Mapped[str | None] = mapped_column(String(1000))

    # Receipt numbers are per clinic and gap-free; bumped with a conditional UPDATE … RETURNING.
    receipt_counter: Mapped[int] = mapped_column(Integer, default=0)

    # The payment centre: every date on screen, in email and in PDF is in this zone (an IANA name).
    timezone: Mapped[str] = mapped_column(String(64), default="Australia/Sydney")
    # The GST line on receipts; None says what Australian health services usually do ("GST-free health service").
    receipt_gst_line: Mapped[str | None] = mapped_column(String(200))
    # Whether a clinician may refund their own payments, and for how long after the payment.
    clinician_refunds: Mapped[bool] = mapped_column(Boolean, default=False)
    clinician_refund_window_hours: Mapped[int] = mapped_column(Integer, default=24)
    # Privacy by default: Stripe hears only "Telehealth consultation", the clinic and the receipt number, unless
    # the clinic chooses to send the clinician's own words too (they may be health information).
    share_description_with_stripe: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    # Pay later (addon/services/payment_links.py): what becomes of a request still unpaid when its call ends
    # ("send_link", "keep_unpaid" or "cancel"), the range a patient may choose an amount in (None: Stripe's
    # minimum / maximum), automatic reminders (hours before expiry; None: off) and where to email link notices.
    call_ended_action: Mapped[str] = mapped_column(String(20), default="send_link", server_default="send_link")
    link_min_amount: Mapped[int | None] = mapped_column(BigInteger)
    link_max_amount: Mapped[int | None] = mapped_column(BigInteger)
    link_reminder_hours: Mapped[int | None] = mapped_column(Integer)
    # What happens to a card hold nobody charged or released before Stripe would let it lapse: "capture" or "release".
    hold_expiry_action: Mapped[str] = mapped_column(String(10), default="capture", server_default="capture")
    link_notice_email: Mapped[str | None] = mapped_column(String(320))
    # A card on file (addon/services/saved_cards.py): whether patients are asked to save one at join, the policy
    # they agree to (required when on), the fees the clinic may charge to it, and whether clinicians may.
    saved_cards_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    saved_card_policy: Mapped[str | None] = mapped_column(String(2000))
    no_show_fee: Mapped[int | None] = mapped_column(BigInteger)
    late_cancellation_fee: Mapped[int | None] = mapped_column(BigInteger)
    clinician_fees: Mapped[bool] = mapped_column(Boolean, default=False)
    # Instalment plans (addon/services/plans.py): a request for more than this (minor units of default_currency) may
    # be split into instalments; None: plans are off.
    plan_min_amount: Mapped[int | None] = mapped_column(BigInteger)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(200))
    external_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A clinician's own provider number, for the receipts of the payments they take (launch claim or profile).
    provider_number: Mapped[str | None] = mapped_column(String(50))
    # A patient's email from the launch's optional ``email`` claim: where a pay-later link for them goes.
    email: Mapped[str | None] = mapped_column(String(320))


class Call(Base):
    __tablename__ = "calls"
    __table_args__ = (UniqueConstraint("clinic_id", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the host platform said the call is over (the first time; a repeat changes nothing more).
    ended_at: Mapped[datetime | None]


class UsedLaunch(Base):
    """A consumed launch ``jti``: the primary key makes a replay fail on every worker."""

    __tablename__ = "used_launches"

    jti: Mapped[str] = mapped_column(String(401), primary_key=True)
    platform: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime] = mapped_column(default=utcnow)


class Session(Base):
    """A server-side session. Only the token's SHA-256 is stored, so a database leak yields no live token."""

    __tablename__ = "sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    clinic_id: Mapped[int | None] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class SocketPresence(Base):
    """A patient's open Socket.IO connection in a call: who is in the call now, for the clinician's "who pays" picker.

    One row per socket, made on connect and removed on disconnect. Each worker renews its own rows' ``seen_at`` while
    they stay open, so the rows of a worker that died lapse by themselves (see :mod:`addon.services.presence`).
    """

    __tablename__ = "socket_presence"

    worker: Mapped[str] = mapped_column(String(40), primary_key=True)
    sid: Mapped[str] = mapped_column(String(100), primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    connected_at: Mapped[datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class OAuthState(Base):
    """A Connect OAuth ``state``: single use, bound to one session and one clinic, short-lived. The same binding
    carries a person back from Stripe's hosted onboarding (``purpose`` "onboarding"), where a link's return and
    refresh addresses hold it."""

    __tablename__ = "oauth_states"

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(20), default="oauth", server_default="oauth")
    session_token_hash: Mapped[str] = mapped_column(String(64))
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class PaymentRequest(Base):
    __tablename__ = "payment_requests"
    __table_args__ = (
        UniqueConstraint("clinician_id", "client_ref"),
        UniqueConstraint("clinic_id", "receipt_number"),
        Index("ix_payment_requests_clinic_created", "clinic_id", "created_at"),
        # The lifecycle's statuses and nothing else; the transitions keep to them, this says so to the database.
        CheckConstraint(status_check("status"), name="status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    clinician_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    client_ref: Mapped[str | None] = mapped_column(String(100))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(30), default=INITIAL.value)
    amount_refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    receipt_number: Mapped[str | None] = mapped_column(String(40))
    stripe_account_id: Mapped[str | None] = mapped_column(String(100))
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    stripe_client_secret: Mapped[str | None] = mapped_column(String(200))
    patient_email: Mapped[str | None] = mapped_column(String(320))
    card_brand: Mapped[str | None] = mapped_column(String(30))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    failure_message: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    paid_at: Mapped[datetime | None]
    canceled_at: Mapped[datetime | None]
    # Set by the one conditional UPDATE that announces the payment, so the pop-up goes out exactly once.
    received_announced_at: Mapped[datetime | None]
    # What a receipt names: the patient (launch name or typed at checkout) and the item number, if any.
    patient_name: Mapped[str | None] = mapped_column(String(200))
    item_code: Mapped[str | None] = mapped_column(String(50))
    # Refunds asked for and not failed: reserved by one conditional UPDATE, so together they never pass the amount.
    refund_reserved: Mapped[int] = mapped_column(BigInteger, default=0)
    # From the charge's balance transaction, once Stripe reports it: its fee and what the clinic keeps.
    stripe_fee: Mapped[int | None] = mapped_column(BigInteger)
    stripe_net: Mapped[int | None] = mapped_column(BigInteger)
    # Card holds: "now" charges at once; "hold" authorises the card and is charged (captured) later.
    capture: Mapped[str] = mapped_column(String(10), default="now", server_default="now")
    amount_authorized: Mapped[int | None] = mapped_column(BigInteger)
    # Stripe's deadline for capturing the hold, and the smaller final amount its clinician set (if any).
    capture_before: Mapped[datetime | None]
    final_amount: Mapped[int | None] = mapped_column(BigInteger)
    # The sweeper's lease on a hold it is charging or releasing, so two workers never both act on it.
    hold_claimed_until: Mapped[datetime | None]
    # Who pays: one participant of the call (their launch sub and name then), or anyone in the call when null.
    payer_sub: Mapped[str | None] = mapped_column(String(200))
    payer_name: Mapped[str | None] = mapped_column(String(200))
    # Someone in the call is paying it right now (checkout open, confirming, 3-D Secure): the step, who (launch sub
    # and name), since when, and until when unless their page renews it, so a patient who walks away blocks no one.
    # Cleared by every change of status (see addon.services.transitions).
    paying_step: Mapped[str | None] = mapped_column(String(20))
    paying_sub: Mapped[str | None] = mapped_column(String(200))
    paying_name: Mapped[str | None] = mapped_column(String(200))
    paying_since: Mapped[datetime | None]
    paying_until: Mapped[datetime | None]
    # The patient whose checkout made the PaymentIntent: they keep it, so another participant can neither take
    # over its client_secret nor re-address its receipt (they get a 409 instead).
    checkout_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Who ran the checkout that paid it (their launch sub and name), so the receipt can name the payer.
    paid_by_sub: Mapped[str | None] = mapped_column(String(200))
    paid_by_name: Mapped[str | None] = mapped_column(String(200))
    # Paid together with other requests of the call (Pay all): the one payment they share (see PayAll).
    pay_all_id: Mapped[str | None] = mapped_column(ForeignKey("pay_alls.id", ondelete="SET NULL"), index=True)
    # Split into an instalment plan: cancelled because that plan's instalments replace it (its id), so screens can
    # say "Split into instalments" rather than "Cancelled".
    replaced_by_plan_id: Mapped[str | None] = mapped_column(String(40))


PAY_ALL_STATUSES = ("open", "paid", "superseded", "canceled")


class PayAll(Base):
    """Several open requests of a call paid with one PaymentIntent (the patient's Pay all).

    Its items are the requests it covers; the intent's metadata names the same ids, so what Stripe charged and what
    is marked paid can't disagree. A request is in at most one open set (``PayAllItem.claim`` is unique), and a
    different set for the same requests replaces this one (``superseded``, its intent canceled first).
    """

    __tablename__ = "pay_alls"
    __table_args__ = (CheckConstraint("status IN ('open', 'paid', 'superseded', 'canceled')", name="status"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    # Who asked to pay them all: the launch of the participant paying.
    payer_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    payer_sub: Mapped[str] = mapped_column(String(200))
    payer_name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="open")
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    patient_email: Mapped[str | None] = mapped_column(String(320))
    stripe_account_id: Mapped[str | None] = mapped_column(String(100))
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    stripe_client_secret: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    paid_at: Mapped[datetime | None]


class PayAllItem(Base):
    """One request of a :class:`PayAll`, in the order the patient saw them."""

    __tablename__ = "pay_all_items"

    pay_all_id: Mapped[str] = mapped_column(ForeignKey("pay_alls.id", ondelete="CASCADE"), primary_key=True)
    payment_request_id: Mapped[str] = mapped_column(
        ForeignKey("payment_requests.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)
    # The request's id while this set holds it (open or paid), else null: unique, so a request is in one set at once.
    claim: Mapped[str | None] = mapped_column(String(40), unique=True)
    # Taken out of the set (cancelled by the clinician while the patient was paying them all).
    removed_at: Mapped[datetime | None]


REFUND_STATUSES = ("pending", "succeeded", "failed", "canceled")


class Refund(Base):
    """A refund of a paid request, asked for in Callpay or made in the clinic's Stripe dashboard."""

    __tablename__ = "refunds"
    __table_args__ = (
        UniqueConstraint("payment_request_id", "client_ref"),
        CheckConstraint("status IN ('pending', 'succeeded', 'failed', 'canceled')", name="status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    payment_request_id: Mapped[str] = mapped_column(ForeignKey("payment_requests.id", ondelete="CASCADE"), index=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    # The idempotency of "refund this": the same reference twice is one refund, and one Stripe refund.
    client_ref: Mapped[str] = mapped_column(String(100))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    # Stripe's failure_reason code when a refund fails, and what it means in words.
    failure_reason: Mapped[str | None] = mapped_column(String(100))
    failure_message: Mapped[str | None] = mapped_column(String(300))
    stripe_refund_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    # "callpay" when asked for here, "stripe" when found at Stripe (the clinic refunded in its dashboard).
    source: Mapped[str] = mapped_column(String(20), default="callpay")
    requested_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    settled_at: Mapped[datetime | None]


class AuditEvent(Base):
    """Append-only trail of who did what; never updated or deleted by the application."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_clinic_time", "clinic_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(100))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_role: Mapped[str | None] = mapped_column(String(20))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    clinic_id: Mapped[int | None] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    subject_type: Mapped[str | None] = mapped_column(String(50))
    subject_id: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ProcessedStripeEvent(Base):
    """Stripe event ids already handled; the primary key turns a second delivery into a no-op."""

    __tablename__ = "processed_stripe_events"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    account: Mapped[str | None] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxEmail(Base):
    """An email to send. Written in the same transaction as the change that causes it, sent by a worker."""

    __tablename__ = "outbox_emails"
    __table_args__ = (Index("ix_outbox_emails_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # e.g. "receipt:pr_…": the unique key is what makes "no receipt sent twice" hold.
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(50))
    to_address: Mapped[str] = mapped_column(String(320))
    payment_request_id: Mapped[str | None] = mapped_column(ForeignKey("payment_requests.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class ClinicNotice(Base):
    """Something a clinic's admins must be told, e.g. Stripe access revoked from Stripe's side."""

    __tablename__ = "clinic_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(50))
    message: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    dismissed_at: Mapped[datetime | None]


class StripeEventInbox(Base):
    """Every verified Stripe event as it arrived, kept so its work can happen after the 2xx and be replayed.

    The webhook stores the raw body and answers; a processor claims due rows with a lease (a conditional UPDATE,
    so several workers never run one at once), runs the dispatch, and marks the row processed in the dispatch's
    own transaction. A failure keeps the error and retries with backoff; ``callpay events replay`` runs it again.
    """

    __tablename__ = "stripe_event_inbox"
    __table_args__ = (Index("ix_stripe_event_inbox_due", "processed_at", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    account: Mapped[str | None] = mapped_column(String(100))
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


LINK_STATUSES = ("active", "paid", "expired", "canceled")


class PaymentLink(Base):
    """A pay-later link: a page a patient opens with its token (no launch) and pays once.

    Its payment is a :class:`PaymentRequest` (the one it was made from, or one made at its first checkout), so
    receipts, refunds and the payment centre treat it as any other payment. The status moves only by conditional
    UPDATEs in :mod:`addon.services.link_state`, so an expiry, a payment and a cancel racing each other settle once.
    """

    __tablename__ = "payment_links"
    __table_args__ = (
        UniqueConstraint("clinician_id", "client_ref"),
        Index("ix_payment_links_clinic_created", "clinic_id", "created_at"),
        Index("ix_payment_links_due", "status", "expires_at"),
        CheckConstraint("status IN ('active', 'paid', 'expired', 'canceled')", name="status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # 128 random bits, URL-safe; the link's only authority. Unique, so a lookup is one index probe.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    # The page's full address (the public URL when it was made, and the token): what is shared.
    url: Mapped[str] = mapped_column(String(400))
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    clinician_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    client_ref: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="active")
    # None: the patient chooses, between min_amount and max_amount.
    amount: Mapped[int | None] = mapped_column(BigInteger)
    min_amount: Mapped[int | None] = mapped_column(BigInteger)
    max_amount: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(String(500))
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    # A request may get a new link after its last one expired, so this is not unique; one is active at a time.
    payment_request_id: Mapped[str | None] = mapped_column(
        ForeignKey("payment_requests.id", ondelete="SET NULL"), index=True
    )
    # "call_ended", "request" (Send link on a request) or "new".
    origin: Mapped[str] = mapped_column(String(20), default="new")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    canceled_at: Mapped[datetime | None]
    expired_at: Mapped[datetime | None]
    last_reminded_at: Mapped[datetime | None]
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    auto_reminded_at: Mapped[datetime | None]


class ClinicStripeAccount(Base):
    """Every Stripe account a clinic has had linked, so removing and linking again can offer the same account."""

    __tablename__ = "clinic_stripe_accounts"
    __table_args__ = (UniqueConstraint("clinic_id", "account_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    first_linked_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_linked_at: Mapped[datetime] = mapped_column(default=utcnow)
    unlinked_at: Mapped[datetime | None]


SAVED_CARD_STATUSES = ("declined", "pending", "active", "removed")


class SavedCard(Base):
    """A patient's card saved for one clinic with their consent, or their "Not now" in one call.

    One row per offer: a "Not now" (``declined``), a SetupIntent being confirmed (``pending``), a card the clinic may
    charge off-session (``active``), or one the patient removed (``removed``, detached at Stripe). ``offer_key``
    ("call id:patient id") is unique while the row is the call's answer, so a double click makes one offer; a removed
    card lets it go. The consent (the policy text exactly as shown, when, in which call) stays on the row for good.
    """

    __tablename__ = "saved_cards"
    __table_args__ = (
        Index("ix_saved_cards_clinic_patient", "clinic_id", "patient_id"),
        CheckConstraint("status IN ('declined', 'pending', 'active', 'removed')", name="status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    offer_key: Mapped[str | None] = mapped_column(String(40), unique=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(320))
    stripe_account_id: Mapped[str | None] = mapped_column(String(100))
    stripe_customer_id: Mapped[str | None] = mapped_column(String(100))
    stripe_setup_intent_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    stripe_client_secret: Mapped[str | None] = mapped_column(String(200))
    stripe_payment_method_id: Mapped[str | None] = mapped_column(String(100))
    card_brand: Mapped[str | None] = mapped_column(String(30))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    card_exp_month: Mapped[int | None] = mapped_column(Integer)
    card_exp_year: Mapped[int | None] = mapped_column(Integer)
    consent_text: Mapped[str | None] = mapped_column(Text)
    consent_at: Mapped[datetime | None]
    failure_message: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    saved_at: Mapped[datetime | None]
    removed_at: Mapped[datetime | None]


class OffSessionCharge(Base):
    """One charge of a saved card without the patient present: its request, the card, what it was for, and how it
    went. The unique ``(clinic_id, idempotency_key)`` makes a double click or a retry one charge."""

    __tablename__ = "off_session_charges"
    __table_args__ = (
        UniqueConstraint("clinic_id", "idempotency_key"),
        CheckConstraint("status IN ('pending', 'paid', 'needs_patient')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    payment_request_id: Mapped[str] = mapped_column(ForeignKey("payment_requests.id", ondelete="CASCADE"), unique=True)
    saved_card_id: Mapped[str] = mapped_column(ForeignKey("saved_cards.id", ondelete="CASCADE"), index=True)
    # What the charge is for: "no_show_fee", "late_cancellation_fee", "instalment", ...
    purpose: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    # Stripe's code when the bank wanted the patient or declined ("authentication_required", "card_declined").
    failure_code: Mapped[str | None] = mapped_column(String(100))
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(100))
    payment_link_id: Mapped[str | None] = mapped_column(ForeignKey("payment_links.id", ondelete="SET NULL"))
    requested_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class InstalmentPlan(Base):
    """A request split into instalments (addon/services/plans.py): N of them, a week, a fortnight or a month apart,
    the first paid now by the patient, the rest charged on their dates to the saved card or sent as pay-later links.

    ``payment_request_id`` is the request the plan replaced (cancelled when the plan was made); each instalment
    becomes a request of its own, so it lists, exports, refunds and has its receipt like any other payment."""

    __tablename__ = "instalment_plans"
    __table_args__ = (
        Index("ix_instalment_plans_clinic_created", "clinic_id", "created_at"),
        CheckConstraint("status IN ('active', 'completed', 'canceled')", name="status"),
        CheckConstraint("interval IN ('weekly', 'fortnightly', 'monthly')", name="interval"),
        CheckConstraint("count >= 2 AND count <= 12", name="count"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    payment_request_id: Mapped[str] = mapped_column(ForeignKey("payment_requests.id", ondelete="CASCADE"), unique=True)
    # The clinician whose request it was: each instalment's request is theirs too.
    clinician_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    count: Mapped[int] = mapped_column(Integer)
    interval: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default="active")
    patient_email: Mapped[str | None] = mapped_column(String(320))
    patient_name: Mapped[str | None] = mapped_column(String(200))
    payer_sub: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    canceled_at: Mapped[datetime | None]
    canceled_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Instalment(Base):
    """One instalment of a plan: its number, amount and date, and the request it became once due.

    The sweeper claims a due one with one conditional UPDATE (``scheduled``, or ``charging`` with a lapsed lease →
    ``charging`` with its own token and lease), so of several workers exactly one acts on it, and one that died
    mid-charge is picked up again; the charge itself is idempotent on the instalment, so the retry charges once.
    ``late`` says it was charged well after its date (the sweeper wasn't running then)."""

    __tablename__ = "instalments"
    __table_args__ = (
        UniqueConstraint("plan_id", "number"),
        Index("ix_instalments_due", "status", "due_at"),
        CheckConstraint("status IN ('scheduled', 'charging', 'sent', 'canceled')", name="status"),
        CheckConstraint("amount > 0", name="amount"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("instalment_plans.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), default="scheduled")
    payment_request_id: Mapped[str | None] = mapped_column(
        ForeignKey("payment_requests.id", ondelete="SET NULL"), unique=True
    )
    payment_link_id: Mapped[str | None] = mapped_column(ForeignKey("payment_links.id", ondelete="SET NULL"))
    # How it went: "paid" (the saved card), "link" (a pay-later link: no card, or the charge was refused), or None.
    outcome: Mapped[str | None] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    claim_token: Mapped[str | None] = mapped_column(String(40))
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    reminded_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
