"""Object ids and secrets shaped like Stripe's (``pi_3Pq…``, ``whsec_…``)."""

from __future__ import annotations

import hashlib
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def random_token(length: int = 24) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}_{random_token(length)}"


def platform_account_id(token: str) -> str:
    """The account id of the platform behind ``sk_test_<token>``: stable, so a restarted sandbox agrees."""
    digest = hashlib.sha256(token.encode()).digest()
    value = int.from_bytes(digest[:12], "big")
    chars = []
    for _ in range(16):
        value, index = divmod(value, len(_ALPHABET))
        chars.append(_ALPHABET[index])
    return "acct_" + "".join(chars)
