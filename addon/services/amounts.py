"""Amounts a clinic's staff type, read by the clinic's rules: its currency, its locale, its "confirm requests above".

The one place every service that takes an amount from a person goes (a payment request, a preset, a pay-later
link), so "80,00", "US$80" or an amount above the clinic's threshold gets the same answer wherever it is typed.
"""

from __future__ import annotations

from dataclasses import dataclass

from addon import money
from addon.errors import InvalidInput
from addon.models import Clinic

# A request above this many of the currency's major units (A$500.00) is confirmed first, unless the clinic says.
DEFAULT_CONFIRM_ABOVE = 500


@dataclass(frozen=True)
class Amount:
    minor: int
    currency: str


def read_amount(clinic: Clinic, value: object, *, currency: object = None, field: str = "amount") -> Amount:
    """``value`` (minor units as an int, or text as typed: "80.00", "A$80", "1,234.50") in ``currency`` (the
    clinic's own when not given), read in the clinic's locale → :class:`Amount`; anything unclear → InvalidInput."""
    code = clinic.default_currency if currency in (None, "") else money.normalise_currency(currency)
    return Amount(money.parse_amount(value, code, field=field, locale=clinic.locale), code)


def confirm_above(clinic: Clinic, currency: str | None = None) -> int:
    """Above this many minor units a clinician confirms a request before it is sent: the clinic's setting in its
    own currency, else 500 of the currency's major unit."""
    code = currency or clinic.default_currency
    if clinic.confirm_above is not None and code == clinic.default_currency:
        return clinic.confirm_above
    return int(DEFAULT_CONFIRM_ABOVE * 10 ** money.exponent(code))


def require_confirmed(clinic: Clinic, amount: Amount, confirm: object) -> None:
    """Refuse a request above the clinic's threshold unless the clinician has said ``"confirm": true``; the
    message is the question the panel asks."""
    if confirm is True:
        return
    if confirm not in (None, False):
        raise InvalidInput('Send "confirm" as true or false.', field="confirm")
    threshold = confirm_above(clinic, amount.currency)
    if amount.minor > threshold:
        shown = money.format_amount(amount.minor, amount.currency, clinic.locale)
        limit = money.format_amount(threshold, amount.currency, clinic.locale)
        raise InvalidInput(f"Request {shown}? That is more than {limit}.", field="amount", code="confirm_required")
