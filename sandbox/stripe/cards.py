"""Stripe's test cards and test payment methods, and what confirming with each one does."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Outcome = Literal["succeed", "decline", "authenticate", "authenticate_then_decline"]
# What refunding a charge made with the card does: succeed at once; stay pending, then succeed; succeed, then fail.
RefundOutcome = Literal["succeed", "pending", "fail"]
# When the card asks its holder to authenticate: on-session payments and setups only ("once": a SetupIntent's
# authentication covers later off-session payments); or every payment, off-session ones included ("always").
Authentication = Literal["once", "always"]


@dataclass(frozen=True)
class Decline:
    code: str
    decline_code: str | None
    message: str
    param: str | None = None


GENERIC = Decline("card_declined", "generic_decline", "Your card was declined.")
INSUFFICIENT_FUNDS = Decline("card_declined", "insufficient_funds", "Your card has insufficient funds.")
LOST = Decline("card_declined", "lost_card", "Your card was declined.")
STOLEN = Decline("card_declined", "stolen_card", "Your card was declined.")
EXPIRED = Decline("expired_card", "expired_card", "Your card has expired.", "exp_month")
INCORRECT_CVC = Decline("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect.", "cvc")
PROCESSING = Decline(
    "processing_error", "processing_error", "An error occurred while processing your card. Try again in a little bit."
)


@dataclass(frozen=True)
class TestCard:
    number: str
    brand: str
    outcome: Outcome = "succeed"
    decline: Decline | None = None
    funding: str = "credit"
    country: str = "US"
    exp_month: int = 12
    exp_year: int = 2034
    refund: RefundOutcome = "succeed"
    authentication: Authentication = "once"
    setup_declines: bool = True  # False: saving it succeeds though charging it fails (the bank checks no funds)

    @property
    def last4(self) -> str:
        return self.number[-4:]

    @property
    def asks_authentication(self) -> bool:
        return self.outcome in ("authenticate", "authenticate_then_decline")


_CARDS = [
    TestCard("4242424242424242", "visa"),
    TestCard("4000056655665556", "visa", funding="debit"),
    TestCard("5555555555554444", "mastercard"),
    TestCard("378282246310005", "amex"),
    TestCard("4000000360000006", "visa", country="AU"),
    TestCard("4000000000000002", "visa", "decline", GENERIC),
    TestCard("4000000000009995", "visa", "decline", INSUFFICIENT_FUNDS, setup_declines=False),
    TestCard("4000000000000341", "visa", "decline", GENERIC, setup_declines=False),
    TestCard("4000000000009987", "visa", "decline", LOST),
    TestCard("4000000000009979", "visa", "decline", STOLEN),
    TestCard("4000000000000069", "visa", "decline", EXPIRED),
    TestCard("4000000000000127", "visa", "decline", INCORRECT_CVC),
    TestCard("4000000000000119", "visa", "decline", PROCESSING),
    TestCard("4000002500003155", "visa", "authenticate"),
    TestCard("4000002760003184", "visa", "authenticate", authentication="always"),
    TestCard("4000000000003220", "visa", "authenticate", authentication="always"),
    TestCard("4000000000003063", "visa", "authenticate", authentication="always"),
    TestCard("4000008260003178", "visa", "authenticate_then_decline", INSUFFICIENT_FUNDS, setup_declines=False),
    TestCard("4000000000007726", "visa", refund="pending"),
    TestCard("4000000000005126", "visa", refund="fail"),
]
CARDS_BY_NUMBER = {card.number: card for card in _CARDS}

# Stripe's ready-made test PaymentMethods, usable server-side instead of card numbers.
TEST_PAYMENT_METHODS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_visa_debit": "4000056655665556",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_amex": "378282246310005",
    "pm_card_au": "4000000360000006",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeCustomerFail": "4000000000000341",
    "pm_card_chargeDeclinedLostCard": "4000000000009987",
    "pm_card_chargeDeclinedStolenCard": "4000000000009979",
    "pm_card_chargeDeclinedExpiredCard": "4000000000000069",
    "pm_card_chargeDeclinedIncorrectCvc": "4000000000000127",
    "pm_card_chargeDeclinedProcessingError": "4000000000000119",
    "pm_card_authenticationRequiredOnSetup": "4000002500003155",
    "pm_card_authenticationRequired": "4000002760003184",
    "pm_card_threeDSecure2Required": "4000000000003220",
    "pm_card_threeDSecureRequired": "4000000000003063",
    "pm_card_authenticationRequiredChargeDeclinedInsufficientFunds": "4000008260003178",
    "pm_card_pendingRefund": "4000000000007726",
    "pm_card_refundFail": "4000000000005126",
}


def brand_of(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"34", "37"}:
        return "amex"
    if number[:2] in {"51", "52", "53", "54", "55"} or "2221" <= number[:4] <= "2720":
        return "mastercard"
    if number.startswith(("6011", "65", "644", "645", "646", "647", "648", "649")):
        return "discover"
    if number.startswith("35"):
        return "jcb"
    if number.startswith(("36", "30", "38")):
        return "diners"
    if number.startswith("62"):
        return "unionpay"
    return "unknown"


def luhn_ok(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def card_for_number(number: str, exp_month: int, exp_year: int) -> TestCard:
    """The behaviour of a typed card: a known test card, else any valid number succeeds as on Stripe."""
    base = CARDS_BY_NUMBER.get(number) or TestCard(number, brand_of(number))
    return replace(base, exp_month=exp_month, exp_year=exp_year)


def card_for_test_payment_method(name: str) -> TestCard | None:
    number = TEST_PAYMENT_METHODS.get(name)
    return CARDS_BY_NUMBER[number] if number is not None else None
