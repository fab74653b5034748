"""The host platform speaking for itself (not a person): e.g. "this call is over".

Its token is a JWT signed like a launch (HS256 with the launch secret, ``aud`` callpay, at most 300 s, single-use
``jti``), with ``sub`` and ``role`` both ``platform`` and the ``org``, ``clinic`` and ``call`` it is about.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import jwt
from sqlalchemy.ext.asyncio import AsyncSession

from addon.auth.launch import AUDIENCE, CLOCK_SKEW, MAX_CLAIM_LENGTH, MAX_LIFETIME
from addon.dbutil import insert_ignoring_conflict
from addon.errors import Unauthenticated
from addon.models import UsedLaunch

REQUIRED = ["iss", "aud", "sub", "role", "org", "clinic", "call", "iat", "exp", "jti"]


class PlatformRejected(Unauthenticated):
    code = "platform_token_rejected"


@dataclass(frozen=True)
class PlatformClaims:
    platform: str
    org: str
    clinic: str
    call: str
    jti: str
    expires_at: datetime


def verify(token: str, secret: str, *, now: datetime | None = None) -> PlatformClaims:
    now = now or datetime.now(UTC)
    try:
        if jwt.get_unverified_header(token).get("alg") != "HS256":
            raise PlatformRejected("The platform token must be signed with HS256.")
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=AUDIENCE,
            options={"require": REQUIRED, "verify_iat": False},
            leeway=CLOCK_SKEW,
        )
    except jwt.ExpiredSignatureError as exc:
        raise PlatformRejected("The platform token has expired.") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise PlatformRejected(f"The platform token is missing '{exc.claim}'.") from exc
    except jwt.PyJWTError as exc:
        raise PlatformRejected("The platform token is not valid.") from exc
    for key in ("iss", "org", "clinic", "call", "jti"):
        value = claims[key]
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_CLAIM_LENGTH:
            raise PlatformRejected(f"The platform token's '{key}' is not valid.")
    if claims["sub"] != "platform" or claims["role"] != "platform":
        raise PlatformRejected("Only the platform itself may say a call is over ('sub' and 'role': 'platform').")
    issued, expires = claims["iat"], claims["exp"]
    if not isinstance(issued, int | float) or not isinstance(expires, int | float):
        raise PlatformRejected("The platform token's times are not valid.")
    issued_at, expires_at = datetime.fromtimestamp(issued, UTC), datetime.fromtimestamp(expires, UTC)
    if issued_at > now + CLOCK_SKEW or expires_at - issued_at > MAX_LIFETIME:
        raise PlatformRejected("The platform token lives longer than Callpay allows (5 minutes).")
    return PlatformClaims(claims["iss"], claims["org"], claims["clinic"], claims["call"], claims["jti"], expires_at)


async def consume(db: AsyncSession, claims: PlatformClaims) -> None:
    """Mark the ``jti`` used (shared with launches: a jti is single use whatever it was for)."""
    first = await insert_ignoring_conflict(
        db,
        UsedLaunch,
        {"jti": f"{claims.platform}:{claims.jti}", "platform": claims.platform, "expires_at": claims.expires_at},
        ["jti"],
    )
    if not first:
        raise PlatformRejected("This platform token has already been used.", code="token_replayed")
