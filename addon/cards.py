"""How a card is named on screen and on receipts ("Visa ending in 4242"): the one place that knows Stripe's brand
codes, so no page keeps its own copy."""

from __future__ import annotations

CARD_BRANDS = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "discover": "Discover",
    "diners": "Diners Club",
    "jcb": "JCB",
    "unionpay": "UnionPay",
    "eftpos_au": "eftpos",
}


def card_display(brand: str | None, last4: str | None) -> str | None:
    """The card in words, or None when no card is known yet."""
    if not last4:
        return None
    name = CARD_BRANDS.get((brand or "").lower(), (brand or "Card").title())
    return f"{name} ending in {last4}"
