"""Currencies Stripe accepts, their minor units, and Stripe's minimum charge amounts."""

from __future__ import annotations

from .errors import StripeError, invalid

_SUPPORTED_CODES = (
    "usd aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bif bmd bnd bob brl bsd bwp byn bzd cad "
    "cdf chf clp cny cop crc cve czk djf dkk dop dzd egp etb eur fjd fkp gbp gel gip gmd gnf gtq gyd hkd "
    "hnl htg huf idr ils inr isk jmd jpy kes kgs khr kmf krw kyd kzt lak lbp lkr lrd lsl mad mdl mga mkd "
    "mmk mnt mop mur mvr mwk mxn myr mzn nad ngn nio nok npr nzd pab pen pgk php pkr pln pyg qar ron rsd "
    "rub rwf sar sbd scr sek sgd shp sle sos srd std szl thb tjs top try ttd twd tzs uah ugx uyu uzs vnd "
    "vuv wst xaf xcd xof xpf yer zar zmw bhd jod kwd omr tnd "
)
SUPPORTED = frozenset(_SUPPORTED_CODES.split())
_ZERO_DECIMAL_CODES = "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf"
ZERO_DECIMAL = frozenset(_ZERO_DECIMAL_CODES.split())
# Stripe's published minimums in minor units; other currencies are held to 50 minor units here.
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
MAXIMUM = 99_999_999
# Three-decimal currencies: Stripe takes them only in multiples of 10 minor units.
THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])
_SYMBOL = {
    "usd": "$",
    "aud": "$",
    "cad": "$",
    "nzd": "$",
    "sgd": "$",
    "hkd": "$",
    "mxn": "$",
    "eur": "€",
    "gbp": "£",
    "jpy": "¥",
    "inr": "₹",
}


def validate_currency(value: str) -> str:
    currency = value.lower()  # Stripe accepts "AUD" and answers "aud"
    if currency not in SUPPORTED:
        raise invalid(
            f"Invalid currency: {value}. Stripe currently supports these currencies: " + ", ".join(sorted(SUPPORTED)),
            param="currency",
        )
    return currency


def format_amount(amount: int, currency: str) -> str:
    symbol = _SYMBOL.get(currency, "")
    if currency in ZERO_DECIMAL:
        return f"{symbol}{amount:,}"
    return f"{symbol}{amount / 100:,.2f}"


def validate_amount(amount: int, currency: str, *, param: str = "amount") -> int:
    minimum = MINIMUM.get(currency, 50)
    if amount < minimum:
        raise StripeError(
            400,
            f"Amount must be at least {format_amount(minimum, currency)} {currency}",
            code="amount_too_small",
            param=param,
            replayable=False,
        )
    if currency in THREE_DECIMAL and amount % 10:
        raise StripeError(
            400,
            f"Invalid amount: {currency} amounts must end in 0 (three-decimal currencies go in steps of 10).",
            code="invalid_amount",
            param=param,
            replayable=False,
        )
    if amount > MAXIMUM:
        raise StripeError(
            400,
            f"Amount must be no more than {format_amount(MAXIMUM, currency)} {currency}",
            code="amount_too_large",
            param=param,
            replayable=False,
        )
    return amount
