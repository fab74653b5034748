"""Hypothesis over ``read_amount`` (addon/services/amounts.py) in every locale a clinic can pick and every currency it
can charge in: anything typed is an amount Stripe would take, in the clinic's currency, or a refusal saying what to
type (never another exception); every amount Callpay shows or offers as an example reads back as itself; another
currency's unambiguous symbol is refused, never taken as the clinic's."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from addon import money
from addon.errors import InvalidInput
from addon.models import Clinic
from addon.services.amounts import read_amount
from addon.services.clinics import LOCALES
from tests.support.chaos import TALLY, fuzz_settings

from .strategies import json_values, nasty_text

CURRENCIES = sorted(money.SUPPORTED)
clinics = st.builds(
    lambda c, loc: Clinic(default_currency=c, locale=loc), st.sampled_from(CURRENCIES), st.sampled_from(LOCALES)
)
minors = st.integers(1, money.MAX_MINOR)
typed_pieces = st.sampled_from(
    [
        "80",
        "80.00",
        "80,00",
        "1,234.50",
        "1.234,50",
        "1 234,50",
        "1'234.50",
        "1\u202f234,50",
        ".5",
        "0,5",
        "A$",
        "$",
        "US$",
        "€",
        "¥",
        "￥",
        "£",
        "NZ$",
        "CA$",
        "aud",
        "EUR",
        "JPY",
        "-",
        "\u2212",
        "+",
        " ",
        "e5",
        "\u0668",
        "\uff18",
        "\u00a0",
    ]
)
typed = st.one_of(st.lists(typed_pieces, min_size=1, max_size=5).map("".join), nasty_text)


@fuzz_settings(quick=500, full=100_000)
@given(clinics, st.one_of(typed, typed, json_values, st.integers(-(2**70), 2**70)))
def test_anything_typed_is_an_amount_stripe_takes_or_a_plain_refusal(clinic: Clinic, value: Any) -> None:
    TALLY.cases += 1
    try:
        amount = read_amount(clinic, value)
    except InvalidInput as refused:
        assert refused.message and refused.field == "amount", (clinic.default_currency, clinic.locale)
        return
    assert amount.currency == clinic.default_currency
    assert 0 < amount.minor <= money.MAX_MINOR
    assert amount.minor >= money.MINIMUM.get(amount.currency, 50)


@fuzz_settings(quick=500, full=100_000)
@given(clinics, minors)
def test_every_amount_shown_reads_back_as_itself(clinic: Clinic, minor: int) -> None:
    currency, locale = clinic.default_currency, clinic.locale
    minor = _chargeable(minor, currency)
    TALLY.cases += 1
    for shown in (money.format_typed(minor, currency, locale), money.format_amount(minor, currency, locale)):
        assert read_amount(clinic, shown).minor == minor, (shown, currency, locale)


@fuzz_settings(quick=500, full=100_000)
@given(clinics, st.sampled_from(CURRENCIES), minors)
def test_another_currencys_symbol_is_refused(clinic: Clinic, other: str, minor: int) -> None:
    currency, locale = clinic.default_currency, clinic.locale
    if other == currency:
        return
    minor = _chargeable(minor, other)
    TALLY.cases += 1
    # The symbol that names a currency for any reader ("US$", "A$", "¥") and the code itself ("USD 80.00").
    for written in (
        f"{money.currency_symbol(other)}{money.format_typed(minor, other, locale)}",
        f"{other.upper()} {money.format_typed(minor, other, locale)}",
    ):
        with pytest.raises(InvalidInput) as refused:
            read_amount(clinic, written)
        assert refused.value.field == "amount", (written, currency, locale)


def _chargeable(minor: int, currency: str) -> int:
    """``minor`` nudged into what Stripe takes in ``currency``: at least its minimum, steps of 10 for three-decimal."""
    minor = max(minor, money.MINIMUM.get(currency, 50))
    if currency in money.THREE_DECIMAL:
        minor = min(minor - minor % 10 or 10, money.MAX_MINOR - money.MAX_MINOR % 10)
    assert Decimal(minor) <= money.MAX_MINOR
    return minor
