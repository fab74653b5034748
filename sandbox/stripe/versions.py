"""``Stripe-Version``: which API versions the sandbox answers as, and what changes between them.

Stripe refuses a version it never released ("Invalid Stripe API version: …", also for a well-formed date it has no
release on) and says in every response which version it answered with. The sandbox knows the versions below: the
installed SDK's own (which the product pins) and the releases before it whose differences matter to it.
"""

from __future__ import annotations

from typing import Final

from .errors import StripeError
from .params import API_VERSION

# Stripe's releases the sandbox answers as. Only the differences the sandbox models (see below) depend on which.
KNOWN: Final = frozenset(
    [
        "2020-08-27",
        "2022-08-01",
        "2022-11-15",
        "2023-08-16",
        "2023-10-16",
        "2024-04-10",
        "2024-06-20",
        "2024-09-30.acacia",
        "2024-10-28.acacia",
        "2024-11-20.acacia",
        "2024-12-18.acacia",
        "2025-01-27.acacia",
        "2025-02-24.acacia",
        "2025-03-31.basil",
        "2025-04-30.basil",
        "2025-05-28.basil",
        "2025-06-30.basil",
        "2025-07-30.basil",
        "2025-08-27.basil",
        "2025-09-30.clover",
        "2025-10-29.clover",
        API_VERSION,
    ]
)
DEFAULT: Final = API_VERSION  # a sandbox account's default version: the one the installed SDK is written for

# 2022-11-15: a charge's ``refunds`` list is no longer included unless expanded.
_REFUNDS_EXPANDABLE_FROM: Final = "2022-11-15"


def requested(header: str | None) -> str:
    """The version a request asks for (its ``Stripe-Version``), else the account's default; a 400 if unknown."""
    if header is None:
        return DEFAULT
    version = header.strip()
    if version not in KNOWN:
        raise StripeError(400, f"Invalid Stripe API version: {header}", replayable=False)
    return version


def includes_charge_refunds(version: str) -> bool:
    return version[:10] < _REFUNDS_EXPANDABLE_FROM
