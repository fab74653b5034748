"""Money in minor units, as Stripe keeps it, and the words people read and type.

``parse_amount("80.00", "aud") == 8000``; ``parse_amount("500", "jpy") == 500``; ``format_amount(8000, "aud")``
is ``"A$80.00"``.
"""

from __future__ import annotations

from decimal import Decimal, DecimalException

from addon.errors import InvalidInput

# Stripe's zero-decimal currencies: the amount is already in whole units.
ZERO_DECIMAL = frozenset(
    ["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"]
)
# Three-decimal currencies Stripe supports (amounts must end in 0, but that's Stripe's rule to enforce).
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})
SYMBOLS = {
    "aud": "A$",
    "nzd": "NZ$",
    "usd": "US$",
    "cad": "CA$",
    "gbp": "£",
    "eur": "€",
    "jpy": "¥",
    "sgd": "S$",
    "hkd": "HK$",
    "inr": "₹",
    "chf": "CHF ",
    "sek": "SEK ",
    "nok": "NOK ",
    "dkk": "DKK ",
}
SUPPORTED = (
    frozenset(SYMBOLS)
    | ZERO_DECIMAL
    | THREE_DECIMAL
    | frozenset(["aed", "brl", "czk", "huf", "idr", "ils", "mxn", "myr", "php", "pln", "ron", "thb", "try", "zar"])
)
# Stripe's published minimum charge per currency, in minor units; other currencies are held to 50 minor units.
# Checked when a request is made, so a clinician never sends a request that Stripe would refuse at checkout.
# The Stripe sandbox keeps its own copy on purpose: it stands in for Stripe and shares no code with the product.
MINIMUM = {
    "usd": 50,
    "aud": 50,
    "brl": 50,
    "cad": 50,
    "chf": 50,
    "eur": 50,
    "inr": 50,
    "nzd": 50,
    "sgd": 50,
    "gbp": 30,
    "aed": 200,
    "bgn": 100,
    "czk": 1500,
    "dkk": 250,
    "hkd": 400,
    "huf": 17500,
    "jpy": 50,
    "mxn": 1000,
    "myr": 200,
    "nok": 300,
    "pln": 200,
    "ron": 200,
    "sek": 300,
    "thb": 1000,
}
MAX_MINOR = 99_999_999


def exponent(currency: str) -> int:
    if currency in ZERO_DECIMAL:
        return 0
    if currency in THREE_DECIMAL:
        return 3
    return 2


def normalise_currency(value: object, *, field: str = "currency") -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("Choose a currency, such as aud.", field=field)
    currency = value.strip().lower()
    if currency not in SUPPORTED:
        raise InvalidInput(f"'{value}' is not a currency Callpay accepts. Use a code such as aud.", field=field)
    return currency


def parse_amount(value: object, currency: str, *, field: str = "amount", minimum: int | None = None) -> int:
    """An amount typed by a person ("80", "80.00", "1,250.50") or sent as minor units (an int) → minor units.

    ``minimum`` is the least accepted, in minor units; by default Stripe's smallest charge in the currency (a
    refund, which has no such floor, passes 1)."""
    if isinstance(value, bool):
        raise InvalidInput("Enter the amount as a number, such as 80.00.", field=field)
    if isinstance(value, float):
        # A JSON number is ambiguous: 80 would be minor units (0.80) but 80.0 major units (80.00). Refuse rather
        # than guess by 100x.
        raise InvalidInput(
            'Send the amount as text such as "80.00", or as a whole number of cents (8000).', field=field
        )
    if isinstance(value, int):
        minor = value
    else:
        text = str(value).strip().replace(",", "") if value is not None else ""
        if text[:3].lower() == currency:
            text = text[3:]
        for symbol in sorted(set(SYMBOLS.values()) | {"$"}, key=len, reverse=True):
            text = text.removeprefix(symbol.strip())
        text = text.strip()
        if not text:
            raise InvalidInput("Enter an amount, such as 80.00.", field=field)
        places = exponent(currency)
        try:
            major = Decimal(text)
            # Anything past the largest amount is refused below; this bound keeps absurd exponents ("1e999999999")
            # from overflowing Decimal's context.
            scaled = major.scaleb(places) if major.is_finite() and major.adjusted() < 12 else None
        except DecimalException as exc:
            raise InvalidInput("Enter the amount as a number, such as 80.00.", field=field) from exc
        if not major.is_finite():
            raise InvalidInput("Enter the amount as a number, such as 80.00.", field=field)
        if scaled is None:
            raise InvalidInput(
                f"That amount is too large; the most is {format_amount(MAX_MINOR, currency)}.", field=field
            )
        if scaled != scaled.to_integral_value():
            detail = "whole units" if places == 0 else f"at most {places} decimal places"
            raise InvalidInput(f"Enter the amount in {detail}.", field=field)
        minor = int(scaled)
    if minor <= 0:
        raise InvalidInput("Enter an amount greater than zero.", field=field)
    if minimum is None:
        minimum = MINIMUM.get(currency, 50)
    if minor < minimum:
        raise InvalidInput(
            f"That amount is too small for a card payment; the least is {format_amount(minimum, currency)}.",
            field=field,
            code="amount_too_small",
        )
    if currency in THREE_DECIMAL and minor % 10:
        # Stripe takes three-decimal currencies only in steps of 0.010.
        raise InvalidInput("Enter the amount in steps of 0.010.", field=field)
    if minor > MAX_MINOR:
        raise InvalidInput(f"That amount is too large; the most is {format_amount(MAX_MINOR, currency)}.", field=field)
    return minor


def format_typed(minor: int, currency: str) -> str:
    """An amount as a person would type it back into a form ("80.00", "500"): no symbol, no grouping."""
    places = exponent(currency)
    if places == 0:
        return str(minor)
    whole, fraction = divmod(minor, 10**places)
    return f"{whole}.{fraction:0{places}d}"


def format_amount(minor: int, currency: str) -> str:
    places = exponent(currency)
    symbol = SYMBOLS.get(currency, currency.upper() + " ")
    sign = "-" if minor < 0 else ""
    major = Decimal(abs(minor)).scaleb(-places)
    return f"{sign}{symbol}{major:,.{places}f}"
