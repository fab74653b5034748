"""Money in minor units, as Stripe keeps it, and the words people read and type, in the clinic's locale.

``parse_amount("80.00", "aud") == 8000``; ``parse_amount("500", "jpy") == 500``; ``format_amount(8000, "aud")``
is ``"A$80.00"``. How numbers are written (decimal point, grouping, where the symbol goes) and what each currency is
called and written as come from CLDR through Babel; what Stripe accepts (its minor units, its minimum charges, its
largest amount) is Stripe's rule, kept here as Stripe publishes it.

Every amount a person types goes through :func:`parse_amount`: the clinician's Request payment panel, the clinic's
preset amounts and "confirm requests above" setting, and any other service that takes an amount. Pages never parse
amounts themselves; they send the text and show the server's verdict.
"""

from __future__ import annotations

import copy
import re
from decimal import Decimal
from functools import cache, lru_cache

from babel import Locale, UnknownLocaleError
from babel.numbers import (
    NumberFormatError,
    get_currency_name,
    get_currency_symbol,
    get_decimal_symbol,
    get_group_symbol,
    list_currencies,
    parse_decimal,
    parse_pattern,
)

from addon.errors import InvalidInput

DEFAULT_LOCALE = "en-AU"
# Stripe's zero-decimal currencies: the amount is already in whole units. Stripe's list, not CLDR's: the two differ
# (CLDR gives ISK and HUF no cents in cash; Stripe counts them in hundredths).
ZERO_DECIMAL = frozenset(
    ["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"]
)
# Three-decimal currencies Stripe supports (amounts must end in 0: Stripe's rule, enforced below).
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})
# The currencies a clinic may charge in: ones Stripe settles card payments in.
SUPPORTED = (
    ZERO_DECIMAL
    | THREE_DECIMAL
    | frozenset(
        [
            "aed", "aud", "brl", "cad", "chf", "czk", "dkk", "eur", "gbp", "hkd", "huf", "idr", "ils", "inr",
            "mxn", "myr", "nok", "nzd", "php", "pln", "ron", "sek", "sgd", "thb", "try", "usd", "zar",
        ]
    )
)  # fmt: skip
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
# Stripe's largest amount (eight digits of minor units); it also keeps every amount inside a 32-bit column.
MAX_MINOR = 99_999_999
# Longer than any amount a person types; refused before parsing so nobody can make the parser work for nothing.
MAX_TEXT = 40
# Locales whose symbols name other currencies people write by hand ("US$", "JP¥", "€"), besides the clinic's.
_SYMBOL_LOCALES = ("en", "en_001")
_SIGNS = "-\u2212+"  # hyphen-minus, minus sign, plus


def exponent(currency: str) -> int:
    """How many digits of the currency's minor unit Stripe counts: 2 for aud (cents), 0 for jpy, 3 for kwd."""
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


def normalise_locale(value: object, *, field: str = "locale") -> str:
    """A BCP 47 tag Babel knows ("en-AU", "de-DE"), in its canonical spelling."""
    if not isinstance(value, str) or not value.strip() or len(value) > 35:
        raise InvalidInput("Choose how numbers are written, such as en-AU.", field=field)
    try:
        locale = Locale.parse(value.strip().replace("_", "-"), sep="-")
    except (UnknownLocaleError, ValueError) as exc:
        raise InvalidInput(f"'{value}' is not a locale Callpay knows. Use a tag such as en-AU.", field=field) from exc
    return "-".join(part for part in (locale.language, locale.script, locale.territory) if part)


@cache
def _locale(tag: str) -> Locale:
    return Locale.parse(tag.replace("_", "-"), sep="-")


# --- Showing amounts ---------------------------------------------------------------------------------------


@cache
def currency_symbol(currency: str) -> str:
    """The symbol an amount is shown with, one that names its currency for any reader: "A$", "US$", "¥", "€".

    International English's symbol (CLDR ``en``), or where that is a bare "$" (the US dollar's), world English's
    ("US$"): a patient on a call may be anywhere, and "$80.00" doesn't say which dollars.
    """
    code = currency.upper()
    symbol = get_currency_symbol(code, "en")
    return get_currency_symbol(code, "en_001") if symbol == "$" else symbol


def currency_name(currency: str, locale: str = DEFAULT_LOCALE) -> str:
    """What the currency is called in prose: "Australian dollars", "Japanese yen"."""
    name = get_currency_name(currency.upper(), count=2, locale=_locale(locale))
    # CLDR capitalises the name as a title ("Australian Dollars") in some locales; in a sentence it is lower case
    # but for the country ("Australian dollars").
    first, _, rest = name.partition(" ")
    return f"{first} {rest.lower()}" if rest and _locale(locale).language == "en" else name


def currency_label(currency: str) -> str:
    """How a form labels the currency: "A$ (AUD)", or just "CHF" where the symbol is the code."""
    symbol = currency_symbol(currency)
    return symbol if symbol.upper() == currency.upper() else f"{symbol} ({currency.upper()})"


@lru_cache(maxsize=4096)
def format_amount(minor: int, currency: str, locale: str = DEFAULT_LOCALE) -> str:
    """An amount as people read it: ``"A$1,234.50"`` in en-AU, ``"1.234,50 A$"`` in de-DE, ``"¥500"``.

    Remembered (the same few amounts recur all day, and babel's pattern work was ~2% of a request_payment's CPU):
    the text depends on nothing but the three arguments and the CLDR data shipped with babel."""
    loc = _locale(locale)
    places = exponent(currency)
    code = currency.upper()
    pattern = copy.copy(parse_pattern(loc.currency_formats["standard"]))
    # Stripe's minor units decide the decimals shown (¥500, KWD 1.500), not CLDR's cash rounding.
    pattern.frac_prec = (places, places)
    text = pattern.apply(Decimal(minor).scaleb(-places), loc, currency=code, currency_digits=False)
    local, shown = get_currency_symbol(code, loc), currency_symbol(currency)
    if local != shown:
        text = text.replace(local, shown, 1)
    # CLDR's currency spacing: a symbol that ends (or starts) in a letter is kept apart from the digits.
    text = re.sub(r"(?<=[^\W\d_])(?=[\d\u2212-])", "\u00a0", text)
    return re.sub(r"(?<=\d)(?=[^\W\d_])", "\u00a0", text)


def format_typed(minor: int, currency: str, locale: str = DEFAULT_LOCALE) -> str:
    """An amount as a person would type it back into a form ("80.00", "500", "80,00" in de-DE): no symbol, no
    grouping, so it reads back through :func:`parse_amount` as the same amount."""
    places = exponent(currency)
    if places == 0:
        return str(minor)
    whole, fraction = divmod(minor, 10**places)
    return f"{whole}{get_decimal_symbol(_locale(locale))}{fraction:0{places}d}"


def example_minor(currency: str) -> int:
    """A typical amount for hints, in minor units: 80.00, or 8000 where there are no cents (80 yen is too little
    to pay by card)."""
    return 8000 if exponent(currency) == 0 else 80 * 10 ** exponent(currency)


@lru_cache(maxsize=256)
def example(currency: str, locale: str = DEFAULT_LOCALE) -> str:
    """A typical amount as typed, for hints: "80.00", "8000" for yen, "80,00" in de-DE. (Remembered: every amount
    read makes its hint first, in case it is needed.)"""
    return format_typed(example_minor(currency), currency, locale)


# --- Reading amounts ---------------------------------------------------------------------------------------


@cache
def _symbols(locale: str) -> dict[str, frozenset[str]]:
    """Every way CLDR writes each currency (its code, its symbols in this locale and in international English),
    casefolded; a symbol this locale uses for one currency isn't counted for another ("$" is AUD in en-AU)."""
    loc = _locale(locale)
    own = {symbol.casefold(): code.lower() for code, symbol in loc.currency_symbols.items()}
    ways: dict[str, set[str]] = {}
    for code in list_currencies():
        spellings = {code.casefold(), get_currency_symbol(code, loc).casefold()}
        spellings |= {get_currency_symbol(code, other).casefold() for other in _SYMBOL_LOCALES}
        spellings.add(currency_symbol(code).casefold())
        ways[code.lower()] = {s for s in spellings if own.get(s, code.lower()) == code.lower()}
    return {code: frozenset(spellings) for code, spellings in ways.items()}


def _currency_of(token: str, locale: str) -> set[str]:
    folded = token.casefold()
    return {code for code, spellings in _symbols(locale).items() if folded in spellings}


def _split(text: str) -> tuple[str, str, bool]:
    """``"A$ -1,234.50"`` → ``("A$", "1,234.50", True)``: the currency word or symbol, the number, negative?"""
    digits = [i for i, ch in enumerate(text) if ch.isdigit()]
    if not digits:
        return text, "", False
    start, end = digits[0], digits[-1] + 1
    # A leading point belongs to the number (".50").
    while start > 0 and text[start - 1] in ".,":
        start -= 1
    before, number, after = text[:start], text[start:end], text[end:]
    negative = any(sign in before or sign in after for sign in _SIGNS[:2])
    before = before.translate({ord(s): " " for s in _SIGNS}).strip()
    after = after.translate({ord(s): " " for s in _SIGNS}).strip()
    if before and after:
        return f"{before} {after}", "", negative
    return before or after, number, negative


def parse_amount(
    value: object,
    currency: str,
    *,
    field: str = "amount",
    locale: str = DEFAULT_LOCALE,
    minimum: int | None = None,
) -> int:
    """An amount typed by a person ("80", "80.00", "1,234.50", "A$80") in the clinic's locale, or sent as minor
    units (an int) → minor units. Ambiguous text, another currency's symbol, no amount, too many decimals, too
    small or too large an amount → :class:`InvalidInput` saying what to write instead.

    ``minimum`` is the least accepted, in minor units; by default Stripe's smallest charge in the currency (a
    refund, which has no such floor, passes 1)."""
    hint = example(currency, locale)
    if isinstance(value, bool) or value is None or not isinstance(value, int | str):
        if isinstance(value, float):
            # A JSON number is ambiguous: 80 would be minor units (0.80) but 80.0 major units (80.00). Refuse
            # rather than guess by 100x.
            raise InvalidInput(
                f'Send the amount as text such as "{hint}", or as a whole number of minor units '
                f"({example_minor(currency)}).",
                field=field,
            )
        if value is None or value == "":
            raise InvalidInput(f"Enter an amount, such as {hint}.", field=field)
        raise InvalidInput(f"Enter the amount as a number, such as {hint}.", field=field)
    minor = value if isinstance(value, int) else _parse_text(value, currency, field=field, locale=locale)
    return check_amount(minor, currency, field=field, locale=locale, minimum=minimum)


def check_amount(
    minor: int, currency: str, *, field: str = "amount", locale: str = DEFAULT_LOCALE, minimum: int | None = None
) -> int:
    """Minor units Stripe would take for a charge: positive, at least ``minimum`` (Stripe's smallest charge unless
    given), at most Stripe's maximum."""
    if minor <= 0:
        raise InvalidInput("Enter an amount greater than zero.", field=field, code="amount_not_positive")
    if minimum is None:
        minimum = MINIMUM.get(currency, 50)
    if minor < minimum:
        raise InvalidInput(
            f"That amount is too small for a card payment; the least is {format_amount(minimum, currency, locale)}.",
            field=field,
            code="amount_too_small",
        )
    if minor > MAX_MINOR:
        raise InvalidInput(
            f"That amount is too large; the most is {format_amount(MAX_MINOR, currency, locale)}.",
            field=field,
            code="amount_too_large",
        )
    if currency in THREE_DECIMAL and minor % 10:
        # Stripe takes three-decimal currencies only in steps of 0.010.
        raise InvalidInput("Enter the amount in steps of 0.010.", field=field)
    return minor


@lru_cache(maxsize=4096)
def _parse_text(value: str, currency: str, *, field: str, locale: str) -> int:
    # Remembered: the same few amounts are typed all day, and babel's reading of one was ~1% of a request_payment.
    # (What it refuses raises, and is never remembered.)
    hint = example(currency, locale)
    text = value.strip()
    if not text:
        raise InvalidInput(f"Enter an amount, such as {hint}.", field=field)
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"Enter just the amount, such as {hint}.", field=field)
    token, number, negative = _split(text)
    if token and currency not in _currency_of(token, locale):
        if _currency_of(token, locale):
            name, shown = currency_name(currency, locale), format_amount(example_minor(currency), currency, locale)
            raise InvalidInput(
                f"“{text}” isn't in {name}, the currency this clinic charges in. "
                f"Enter the amount in {name}, such as {shown}.",
                field=field,
                code="wrong_currency",
            )
        raise InvalidInput(f"Enter the amount as a number, such as {hint}.", field=field)
    if not number:
        raise InvalidInput(f"Enter the amount as a number, such as {hint}.", field=field)
    loc = _locale(locale)
    if any(not (ch.isdigit() or ch.isspace() or ch in ".,'\u2019" or ch in get_group_symbol(loc)) for ch in number):
        # Babel reads "1e5"; nobody types an amount in scientific notation by intent.
        raise InvalidInput(f"Enter the amount as a number, such as {hint}.", field=field)
    try:
        major = parse_decimal(number, loc, strict=True)
    except NumberFormatError as exc:
        raise InvalidInput(_unclear(number, currency, locale, exc), field=field, code="amount_unclear") from exc
    if not major.is_finite() or major.adjusted() > 12:
        raise InvalidInput(
            f"That amount is too large; the most is {format_amount(MAX_MINOR, currency, locale)}.",
            field=field,
            code="amount_too_large",
        )
    if negative and major:
        raise InvalidInput("Enter an amount greater than zero.", field=field, code="amount_not_positive")
    places = exponent(currency)
    scaled = major.scaleb(places)
    if scaled != scaled.to_integral_value():
        if places == 0:
            detail = f"a whole number of {currency_name(currency, locale)}, such as {hint}"
        else:
            detail = f"at most {places} decimal places, such as {hint}"
        raise InvalidInput(f"Enter the amount with {detail}.", field=field, code="too_many_decimals")
    return int(scaled)


def _unclear(number: str, currency: str, locale: str, error: NumberFormatError) -> str:
    """Words for a number this locale can't read for certain, such as "80,00" in en-AU (80 or 8,000?)."""
    loc = _locale(locale)
    point, group = get_decimal_symbol(loc), get_group_symbol(loc)
    places = exponent(currency)
    # The likely meaning, with the separators the other way round ("80,00" → 80.00), if that reads cleanly.
    swapped = number.translate({ord(point): group, ord(group): point})
    try:
        meant = parse_decimal(swapped, loc, strict=True)
    except NumberFormatError:
        meant = None
    if places and meant is not None and meant.is_finite() and meant.adjusted() <= 12 and meant > 0:
        scaled = meant.scaleb(places)
        if scaled == scaled.to_integral_value():
            typed = format_typed(int(scaled), currency, locale)
            return (
                f"“{number}” is unclear here: write {typed}, with “{point}” before the "
                f"{'cents' if places == 2 else 'decimals'} (“{group}” only between thousands)."
            )
    if error.suggestions:
        return f"“{number}” is unclear here: write it as {error.suggestions[0]}, or as {example(currency, locale)}."
    return f"Enter the amount as a number, such as {example(currency, locale)}."
