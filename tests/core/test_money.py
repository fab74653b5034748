from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from addon.errors import InvalidInput
from addon.money import MAX_MINOR, currency_label, format_amount, format_typed, parse_amount


@pytest.mark.parametrize(
    ("typed", "currency", "minor"),
    [
        ("80.00", "aud", 8000),
        ("80", "aud", 8000),
        ("A$1,250.5", "aud", 125050),
        ("500", "jpy", 500),
        (8000, "aud", 8000),
        ("0.5", "usd", 50),
        ("1.230", "kwd", 1230),
        ("KWD 0.5", "kwd", 500),
    ],
)
def test_parses_what_people_type(typed: object, currency: str, minor: int) -> None:
    assert parse_amount(typed, currency) == minor


@pytest.mark.parametrize(
    ("typed", "currency", "says"),
    [
        ("", "aud", "Enter an amount"),
        ("abc", "aud", "as a number"),
        ("80.001", "aud", "2 decimal places"),
        ("500.5", "jpy", "whole number of Japanese yen"),
        ("-5", "aud", "greater than zero"),
        ("0", "aud", "greater than zero"),
        (True, "aud", "as a number"),
        ("NaN", "aud", "as a number"),
        ("9999999999", "aud", "too large"),
        ("1e999999999", "aud", "as a number"),  # nobody types scientific notation; Babel would read it
        (80.0, "aud", "as text"),
        (80.5, "aud", "as text"),
        ("0.10", "aud", "the least is A$0.50"),
        ("0.29", "gbp", "the least is £0.30"),
        (49, "jpy", "the least is ¥50"),
        ("1.234", "kwd", "steps of 0.010"),
    ],
)
def test_refuses_bad_amounts_with_a_reason(typed: object, currency: str, says: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_amount(typed, currency)
    assert says in caught.value.message
    assert caught.value.field == "amount"


def test_formats_with_the_currency() -> None:
    assert format_amount(8000, "aud") == "A$80.00"
    assert format_amount(500, "jpy") == "¥500"
    assert format_amount(123456, "usd") == "US$1,234.56"
    assert format_amount(1000, "brl") == "R$10.00"
    assert format_amount(8000, "chf") == "CHF\u00a080.00"


@given(st.integers(min_value=5, max_value=9_999_999), st.sampled_from(["aud", "jpy", "kwd", "gbp"]))
def test_format_then_parse_round_trips(tens: int, currency: str) -> None:
    minor = tens * 10  # every currency's minimum is at most 50, and three-decimal ones step in tens
    assert parse_amount(format_amount(minor, currency), currency) == minor


def test_typed_form_is_what_a_person_would_type_back() -> None:
    assert format_typed(8000, "aud") == "80.00"
    assert format_typed(8005, "aud") == "80.05"
    assert format_typed(500, "jpy") == "500"
    assert format_typed(1230, "kwd") == "1.230"
    assert parse_amount(format_typed(123456, "usd"), "usd") == 123456


# --- The clinic's locale (CLDR through Babel) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "currency", "locale", "minor"),
    [
        ("80.00", "aud", "en-AU", 8000),
        ("80", "aud", "en-AU", 8000),
        ("1,234.50", "aud", "en-AU", 123450),
        ("A$80", "aud", "en-AU", 8000),
        ("$80", "aud", "en-AU", 8000),  # en-AU's own symbol for its dollar
        ("AUD 80.00", "aud", "en-AU", 8000),
        ("80 aud", "aud", "en-AU", 8000),
        ("A$\u00a01,234.50", "aud", "en-AU", 123450),
        (".50", "aud", "en-AU", 50),
        ("¥500", "jpy", "en-AU", 500),
        ("JPY 1,000", "jpy", "en-AU", 1000),
        ("80,00", "eur", "de-DE", 8000),
        ("1.234,50", "eur", "de-DE", 123450),
        ("80 €", "eur", "de-DE", 8000),
        ("1\u202f234,50\u00a0€", "eur", "fr-FR", 123450),
    ],
)
def test_reads_amounts_as_the_clinic_writes_them(typed: str, currency: str, locale: str, minor: int) -> None:
    assert parse_amount(typed, currency, locale=locale) == minor


@pytest.mark.parametrize(
    ("typed", "currency", "locale", "code", "says"),
    [
        ("80,00", "aud", "en-AU", "amount_unclear", "write 80.00"),
        ("1,2,3", "aud", "en-AU", "amount_unclear", "unclear"),
        ("80.00", "eur", "de-DE", "amount_unclear", "write 80,00"),
        ("US$80", "aud", "en-AU", "wrong_currency", "Australian dollars"),
        ("¥500", "aud", "en-AU", "wrong_currency", "Australian dollars"),
        ("500 JPY", "aud", "en-AU", "wrong_currency", "Australian dollars"),
        ("€80", "aud", "en-AU", "wrong_currency", "such as A$80.00"),
        ("A$80.00", "jpy", "en-AU", "wrong_currency", "Japanese yen"),
        ("US$ 5", "eur", "de-DE", "wrong_currency", "Euro"),
        ("80 abc", "aud", "en-AU", "invalid", "as a number"),
        ("1e5", "aud", "en-AU", "invalid", "as a number"),
        ("-A$80", "aud", "en-AU", "amount_not_positive", "greater than zero"),
        ("A$-80", "aud", "en-AU", "amount_not_positive", "greater than zero"),
        ("\u221280", "aud", "en-AU", "amount_not_positive", "greater than zero"),
        ("80.123", "aud", "en-AU", "too_many_decimals", "at most 2 decimal places"),
        ("1,000.5", "jpy", "en-AU", "too_many_decimals", "whole number"),
        ("1,000,000", "aud", "en-AU", "amount_too_large", "the most is A$999,999.99"),
        ("100000000", "jpy", "en-AU", "amount_too_large", "the most is ¥99,999,999"),
        ("1" * 41, "aud", "en-AU", "invalid", "just the amount"),
    ],
)
def test_refuses_unclear_or_foreign_amounts_naming_the_clinics_way(
    typed: str, currency: str, locale: str, code: str, says: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_amount(typed, currency, locale=locale)
    assert caught.value.code == code
    assert says in caught.value.message
    assert caught.value.field == "amount"


@pytest.mark.parametrize("minor", [0, -1, MAX_MINOR + 1, 2**31, 2**63, 10**30])
def test_minor_units_outside_stripes_range_are_refused(minor: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_amount(minor, "aud")
    assert caught.value.code in {"amount_not_positive", "amount_too_large"}


def test_shows_amounts_in_the_clinics_locale() -> None:
    assert format_amount(123450, "aud", "en-AU") == "A$1,234.50"
    assert format_amount(123450, "aud", "de-DE") == "1.234,50\u00a0A$"
    assert format_amount(123450, "eur", "fr-FR") == "1\u202f234,50\u00a0€"
    assert format_amount(500, "jpy", "en-AU") == "¥500"
    assert format_amount(500, "jpy", "ja-JP") == "¥500"
    assert format_amount(1500, "kwd", "en-AU") == "KWD\u00a01.500"
    assert format_typed(123450, "aud", "de-DE") == "1234,50"
    assert currency_label("aud") == "A$ (AUD)"
    assert currency_label("chf") == "CHF"


LOCALES = st.sampled_from(["en-AU", "en-US", "de-DE", "fr-FR", "ja-JP", "en-NZ"])
CURRENCIES = st.sampled_from(["aud", "usd", "jpy", "eur", "gbp", "kwd", "nzd", "chf"])


@given(st.integers(min_value=5, max_value=MAX_MINOR // 10), CURRENCIES, LOCALES)
def test_what_is_shown_reads_back_as_the_same_amount_in_any_locale(tens: int, currency: str, locale: str) -> None:
    minor = tens * 10
    assert parse_amount(format_amount(minor, currency, locale), currency, locale=locale) == minor
    assert parse_amount(format_typed(minor, currency, locale), currency, locale=locale) == minor


@given(st.text(max_size=30), CURRENCIES, LOCALES)
def test_any_text_is_read_or_refused_with_words(typed: str, currency: str, locale: str) -> None:
    try:
        minor = parse_amount(typed, currency, locale=locale)
    except InvalidInput as refused:
        assert refused.message and refused.field == "amount"
    else:
        assert 0 < minor <= MAX_MINOR


def test_amounts_are_read_and_written_once_and_a_refusal_is_refused_every_time() -> None:
    """Reading and formatting are remembered (request_payment's hot path); what is refused raises every time, in
    the field and words asked for, and the same text read for another currency or locale is read afresh."""
    assert parse_amount("1.234,50", "eur", locale="de-DE") == parse_amount("1.234,50", "eur", locale="de-DE") == 123450
    for field in ("amount", "capture_amount", "amount"):
        with pytest.raises(InvalidInput) as refused:
            parse_amount("80.001", "aud", field=field)
        assert refused.value.field == field
    assert format_amount(8000, "aud") is format_amount(8000, "aud")
    assert format_amount(8000, "aud", "de-DE") != format_amount(8000, "aud")
