from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from addon.errors import InvalidInput
from addon.money import format_amount, parse_amount


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
        ("500.5", "jpy", "whole units"),
        ("-5", "aud", "greater than zero"),
        ("0", "aud", "greater than zero"),
        (True, "aud", "as a number"),
        ("NaN", "aud", "as a number"),
        ("9999999999", "aud", "too large"),
        ("1e999999999", "aud", "too large"),
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
    assert format_amount(1000, "brl") == "BRL 10.00"


@given(st.integers(min_value=5, max_value=9_999_999), st.sampled_from(["aud", "jpy", "kwd", "gbp"]))
def test_format_then_parse_round_trips(tens: int, currency: str) -> None:
    minor = tens * 10  # every currency's minimum is at most 50, and three-decimal ones step in tens
    assert parse_amount(format_amount(minor, currency), currency) == minor


def test_typed_form_is_what_a_person_would_type_back() -> None:
    from addon.money import format_typed

    assert format_typed(8000, "aud") == "80.00"
    assert format_typed(8005, "aud") == "80.05"
    assert format_typed(500, "jpy") == "500"
    assert format_typed(1230, "kwd") == "1.230"
    assert parse_amount(format_typed(123456, "usd"), "usd") == 123456
