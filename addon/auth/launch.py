"""Verify the host platform's launch JWT (HS256) and record who and where it names.

A launch is single use: its ``jti`` is stored with a primary key, so a replay fails on every worker that shares
the database. Organisations, clinics, users and calls named in a valid launch are recorded on first sight.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import String, Table, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

from addon.auth.roles import Role
from addon.dbutil import insert_ignoring_conflict, table_of
from addon.email_address import parse_email
from addon.errors import InvalidInput, Unauthenticated
from addon.models import Call, Clinic, Organisation, UsedLaunch, User

AUDIENCE = "callpay"
MAX_LIFETIME = timedelta(seconds=300)
CLOCK_SKEW = timedelta(seconds=30)
REQUIRED_CLAIMS = ["iss", "aud", "sub", "role", "org", "iat", "exp", "jti"]
MAX_CLAIM_LENGTH = 200
MAX_PROVIDER_NUMBER = 50
# What a patient launched without a name is called; such a patient has given no name to put on a receipt.
DEFAULT_PATIENT_NAME = "Patient"
REOPEN = "Close this and open it again from the video-call platform."


class LaunchRejected(Unauthenticated):
    code = "launch_rejected"


class LaunchUsed(LaunchRejected):
    """A launch whose ``jti`` was used before: most often a page reloaded, or its address opened again."""


@dataclass(frozen=True)
class LaunchClaims:
    platform: str
    user_external_id: str
    name: str
    role: Role
    org: str
    clinic: str | None
    call: str | None
    jti: str
    expires_at: datetime
    # Optional claims: kept when given; a later launch without one keeps what an earlier one recorded.
    clinic_name: str | None = None
    provider_number: str | None = None
    # A patient's email (optional claim): where a pay-later link for them goes.
    email: str | None = None


@dataclass(frozen=True)
class Launch:
    """A verified, consumed launch with the database ids of what it names."""

    claims: LaunchClaims
    user_id: int
    organisation_id: int
    clinic_id: int | None
    call_id: int | None


def verify(token: str, secret: str, *, now: datetime | None = None) -> LaunchClaims:
    """Check signature, audience, lifetime and claims. Raises :class:`LaunchRejected` saying what is wrong."""
    now = now or datetime.now(UTC)
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise LaunchRejected(f"This launch link is not valid. {REOPEN}") from exc
    if header.get("alg") != "HS256":
        raise LaunchRejected(f"This launch link is not signed the way Callpay expects. {REOPEN}")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=AUDIENCE,
            options={"require": REQUIRED_CLAIMS, "verify_iat": False},
            leeway=CLOCK_SKEW,
        )
    except jwt.ExpiredSignatureError as exc:
        raise LaunchRejected(f"This launch link has expired. {REOPEN}") from exc
    except jwt.InvalidAudienceError as exc:
        raise LaunchRejected(f"This launch link was made for another app. {REOPEN}") from exc
    except jwt.InvalidSignatureError as exc:
        raise LaunchRejected(f"This launch link's signature doesn't match. {REOPEN}") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise LaunchRejected(f"This launch link is missing '{exc.claim}'. {REOPEN}") from exc
    except (jwt.PyJWTError, OverflowError, ValueError, TypeError) as exc:
        # A signed but absurd claim (an ``exp`` of 1e400 decodes to infinity) is as invalid as a bad signature.
        raise LaunchRejected(f"This launch link is not valid. {REOPEN}") from exc

    issued = _timestamp(claims["iat"], "iat")
    expires = _timestamp(claims["exp"], "exp")
    if issued > now + CLOCK_SKEW:
        raise LaunchRejected(f"This launch link is dated in the future. {REOPEN}")
    if expires - issued > MAX_LIFETIME:
        raise LaunchRejected(f"This launch link lives longer than Callpay allows (5 minutes). {REOPEN}")
    try:
        role = Role(claims["role"])
    except ValueError as exc:
        raise LaunchRejected(f"This launch link names a role Callpay doesn't know. {REOPEN}") from exc
    clinic, call = _optional_str(claims, "clinic"), _optional_str(claims, "call")
    if role is not Role.ORG_ADMIN and clinic is None:
        raise LaunchRejected(f"This launch link is missing 'clinic'. {REOPEN}")
    if role is Role.PATIENT and call is None:
        raise LaunchRejected(f"This launch link is missing 'call'. {REOPEN}")
    name = _optional_str(claims, "name")
    if name is None and role is not Role.PATIENT:
        raise LaunchRejected(f"This launch link is missing 'name'. {REOPEN}")
    for key in ("iss", "sub", "org", "jti"):
        if not isinstance(claims[key], str) or not claims[key].strip():
            raise LaunchRejected(f"This launch link has an empty '{key}'. {REOPEN}")
    for key in ("iss", "sub", "org", "jti", "clinic", "call", "name"):
        # The platform's ids are stored in columns of this width; longer is a broken platform, not a person.
        if isinstance(claims.get(key), str) and len(claims[key]) > MAX_CLAIM_LENGTH:
            raise LaunchRejected(f"This launch link's '{key}' is longer than Callpay accepts. {REOPEN}")
    return LaunchClaims(
        platform=claims["iss"],
        user_external_id=claims["sub"],
        name=name or DEFAULT_PATIENT_NAME,
        role=role,
        org=claims["org"],
        clinic=clinic,
        call=call,
        jti=claims["jti"],
        expires_at=expires,
        clinic_name=_optional_text(claims, "clinic_name", MAX_CLAIM_LENGTH),
        provider_number=_optional_text(claims, "provider_number", MAX_PROVIDER_NUMBER),
        email=_optional_email(claims),
    )


async def consume(db: AsyncSession, claims: LaunchClaims) -> Launch:
    """Mark the ``jti`` used and record what the launch names, in the caller's transaction."""
    first_use = await insert_ignoring_conflict(
        db,
        UsedLaunch,
        {
            "jti": f"{claims.platform}:{claims.jti}",
            "platform": claims.platform,
            "expires_at": claims.expires_at,
        },
        ["jti"],
    )
    if not first_use:
        raise LaunchUsed(f"This launch link has already been used. {REOPEN}")

    # Almost every launch names an organisation, clinic and call seen before: one SELECT finds all three.
    org_id, clinic_id, call_id = await _known_ids(db, claims)
    if org_id is None:
        org_id = await _record(
            db, Organisation, {"platform": claims.platform, "external_id": claims.org}, ["platform", "external_id"]
        )
    user_id = await _upsert_user(db, claims)
    if claims.clinic is not None:
        if clinic_id is None:
            clinic_id = await _record(
                db,
                Clinic,
                {"organisation_id": org_id, "external_id": claims.clinic},
                ["organisation_id", "external_id"],
            )
        if claims.clinic_name is not None and claims.role is not Role.PATIENT:
            clinic = await db.get_one(Clinic, clinic_id)
            if clinic.name != claims.clinic_name:
                clinic.name = claims.clinic_name
        if claims.call is not None and call_id is None:
            call_id = await _record(
                db, Call, {"clinic_id": clinic_id, "external_id": claims.call}, ["clinic_id", "external_id"]
            )
    return Launch(claims=claims, user_id=user_id, organisation_id=org_id, clinic_id=clinic_id, call_id=call_id)


_ORGS, _CLINICS, _CALLS, _USERS = (table_of(model) for model in (Organisation, Clinic, Call, User))
# Core on the tables: the ORM has nothing to do for three ids.
_KNOWN_IDS = (
    select(_ORGS.c.id, _CLINICS.c.id, _CALLS.c.id)
    .select_from(
        _ORGS.outerjoin(
            _CLINICS,
            (_CLINICS.c.organisation_id == _ORGS.c.id) & (_CLINICS.c.external_id == bindparam("clinic", type_=String)),
        ).outerjoin(
            _CALLS, (_CALLS.c.clinic_id == _CLINICS.c.id) & (_CALLS.c.external_id == bindparam("call", type_=String))
        )
    )
    .where(_ORGS.c.platform == bindparam("platform"), _ORGS.c.external_id == bindparam("org"))
)


async def _known_ids(db: AsyncSession, claims: LaunchClaims) -> tuple[int | None, int | None, int | None]:
    """The ids of the launch's organisation, clinic and call, each None if not recorded yet. Built once: a
    statement's construction costs more CPU than SQLite takes to run it."""
    params = {"platform": claims.platform, "org": claims.org, "clinic": claims.clinic, "call": claims.call}
    found = (await db.execute(_KNOWN_IDS, params)).one_or_none()
    if found is None:
        return None, None, None
    org_id, clinic_id, call_id = found
    return org_id, clinic_id, call_id


async def _record(
    db: AsyncSession, model: type[Organisation | Clinic | Call], values: dict[str, object], keys: list[str]
) -> int:
    """Record a row seen for the first time and return its id, in one statement; another worker recording it at
    once is fine (the conflict rewrites a key with itself, so the row's id comes back either way)."""
    statement = _recording(db.get_bind().dialect.name, table_of(model), tuple(keys))
    found: int = (await db.execute(statement, values)).scalar_one()
    return found


@functools.cache
def _recording(dialect: str, table: Table, keys: tuple[str, ...]) -> ReturningInsert[Any]:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=list(keys), set_={keys[-1]: statement.excluded[keys[-1]]}
    ).returning(table.c.id)


async def _upsert_user(db: AsyncSession, claims: LaunchClaims) -> int:
    """Record the user, or bring their name, provider number and last sign-in up to date: one statement either way.

    A provider number is taken only from a launch that carries one for a role that has one; otherwise the stored
    one stands."""
    now = datetime.now(UTC)
    values: dict[str, object] = {
        "platform": claims.platform,
        "external_id": claims.user_external_id,
        "name": claims.name,
        "created_at": now,
        "last_seen_at": now,
    }
    if claims.provider_number is not None and role_has_provider_number(claims.role):
        values["provider_number"] = claims.provider_number
    if claims.email is not None and claims.role is Role.PATIENT:
        values["email"] = claims.email
    statement = _user_upsert(db.get_bind().dialect.name, "provider_number" in values, "email" in values)
    user_id: int = (await db.execute(statement, values)).scalar_one()
    return user_id


@functools.cache
def _user_upsert(dialect: str, provider_number: bool, email: bool) -> ReturningInsert[Any]:
    """The user upsert for the columns a launch carries, built once each (four shapes at most per database): its
    values are bound per launch, and building the statement cost more CPU than SQLite spent running it."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(_USERS)  # its columns are the values given when it runs
    changed = ["name", "last_seen_at"] + ["provider_number"] * provider_number + ["email"] * email
    return statement.on_conflict_do_update(
        index_elements=["platform", "external_id"], set_={name: statement.excluded[name] for name in changed}
    ).returning(_USERS.c.id)


def _timestamp(value: object, claim: str) -> datetime:
    if not isinstance(value, int | float):
        raise LaunchRejected(f"This launch link's '{claim}' is not a time. {REOPEN}")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise LaunchRejected(f"This launch link's '{claim}' is not a time Callpay can read. {REOPEN}") from None


def role_has_provider_number(role: Role) -> bool:
    return role in (Role.TEAM_ADMIN, Role.TEAM_MEMBER)


def _optional_text(claims: dict[str, object], key: str, limit: int) -> str | None:
    """An optional claim that only adds information: one that is empty, not text or too long is ignored rather than
    refusing the launch (the platform may send "" for "not set")."""
    value = claims.get(key)
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > limit:
        return None
    return " ".join(value.split())


def _optional_email(claims: dict[str, object]) -> str | None:
    """The optional ``email`` claim when it is an address Callpay would send to; anything else is ignored."""
    value = _optional_text(claims, "email", 320)
    if value is None:
        return None
    try:
        return parse_email(value)
    except InvalidInput:
        return None


def _optional_str(claims: dict[str, object], key: str) -> str | None:
    value = claims.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise LaunchRejected(f"This launch link has an empty '{key}'. {REOPEN}")
    return value
