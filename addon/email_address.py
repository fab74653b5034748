"""An email address as Callpay accepts one for a receipt: the one rule, for checkout and for resending a receipt."""

from __future__ import annotations

import re

from addon.errors import InvalidInput

MAX_EMAIL = 254
# Deliberately simple: one @, a dot in the domain, no spaces. Stripe checks again; the receipt bounce tells the rest.
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


def parse_email(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("Enter your email address for the receipt.", field="email")
    email = value.strip()
    if len(email) > MAX_EMAIL or not EMAIL.match(email):
        raise InvalidInput("Enter an email address like name@example.com.", field="email")
    local, _, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}"
