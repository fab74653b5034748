"""Limits on what anyone may send: JSON bodies, socket payloads, addresses and free text.

Everything a client sends passes through here before a model or the database sees it, so a hostile value is a 400
in the contract's error shape instead of a RecursionError, an OverflowError or a PostgreSQL error:

- JSON is decoded strictly: valid UTF-8, no ``NaN``/``Infinity``, nesting at most :data:`MAX_DEPTH` deep.
- Every string: at most :data:`MAX_STRING` characters, no NUL (PostgreSQL can't store it), no lone UTF-16
  surrogate (``"\\ud800"`` decodes in Python but can't be encoded, stored or sent on).
- Free text people read (names, descriptions, receipt texts): no control characters other than tab and line
  breaks, and no bidirectional overrides or isolates (U+202A-U+202E, U+2066-U+2069), which can make a receipt or
  a dashboard say something other than what was stored.
- Integers within what JavaScript and a 64-bit column can both hold; lists and objects of bounded size.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from addon.errors import InvalidInput

MAX_DEPTH = 16
MAX_STRING = 20_000
MAX_ITEMS = 1_000
MAX_INTEGER = 2**53 - 1
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
ALLOWED_CONTROLS = frozenset("\t\n\r")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(raw: bytes | str) -> Any:
    """``raw`` decoded as JSON within the limits; :class:`InvalidInput` saying what is wrong otherwise."""
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise InvalidInput("The request body is nested too deeply.") from None
    except ValueError:
        # UnicodeDecodeError is a ValueError: bytes that aren't UTF-8 end here too.
        raise InvalidInput("The request body is not valid JSON.") from None
    check(value)
    return value


def check(value: object, *, field: str | None = None, depth: int = 0, text: bool = False) -> None:
    """Refuse ``value`` (decoded JSON, or a socket payload) when anything in it is outside the limits.

    ``field`` is the top-level key the problem sits under, so the error names it the way the models do; ``text``
    also refuses hidden characters in every string (what the wire models receive is all read by someone)."""
    if depth > MAX_DEPTH:
        raise InvalidInput("The request is nested too deeply.", field=field)
    if isinstance(value, str):
        if text:
            check_text(value, field=field)
        else:
            check_string(value, field=field)
    elif isinstance(value, bool) or value is None or isinstance(value, float):
        return
    elif isinstance(value, int):
        if not -MAX_INTEGER <= value <= MAX_INTEGER:
            raise InvalidInput("A number in the request is out of range.", field=field)
    elif isinstance(value, dict):
        if len(value) > MAX_ITEMS:
            raise InvalidInput("The request has too many fields.", field=field)
        for key, item in value.items():
            name = key if isinstance(key, str) else str(key)
            check_string(name, field=field)
            check(item, field=field if field is not None else name, depth=depth + 1, text=text)
    elif isinstance(value, list | tuple):
        if len(value) > MAX_ITEMS:
            raise InvalidInput("A list in the request is too long.", field=field)
        for item in value:
            check(item, field=field, depth=depth + 1, text=text)


def check_string(value: str, *, field: str | None = None) -> None:
    if len(value) > MAX_STRING:
        raise InvalidInput("A text in the request is too long.", field=field)
    if "\x00" in value:
        raise InvalidInput("Remove the NUL character.", field=field)
    if not is_encodable(value):
        raise InvalidInput("The text isn't valid Unicode (it holds a lone surrogate).", field=field)


def is_encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def has_hidden_characters(value: str) -> bool:
    """Whether ``value`` holds control characters (other than tab and line breaks) or bidirectional controls."""
    return any(
        char in BIDI_CONTROLS or (unicodedata.category(char) == "Cc" and char not in ALLOWED_CONTROLS) for char in value
    )


def check_text(value: str, *, field: str | None = None) -> str:
    """Free text people will read: within the string limits and without hidden characters."""
    check_string(value, field=field)
    if has_hidden_characters(value):
        raise InvalidInput("Remove the hidden control or direction characters from this text.", field=field)
    return value


def safe_path(value: str) -> bool:
    """Whether a request's path and query can reach a handler: no NUL, no lone surrogate, bounded length."""
    return len(value) <= 4096 and "\x00" not in value and is_encodable(value)
