"""Which parameters each endpoint accepts, and typed reads of form values with Stripe's error messages.

What each endpoint accepts is in :mod:`.spec`; :func:`accepted` remains for endpoints that list top-level names
from the installed SDK's typed params.
"""

from __future__ import annotations

import re
from typing import Any

from stripe import api_version as _sdk_api_version

from .errors import invalid, missing_parameter, unknown_parameter
from .forms import Form

API_VERSION: str = _sdk_api_version

_REQUEST_OPTIONS = frozenset(
    [
        "api_key",
        "stripe_version",
        "stripe_account",
        "stripe_context",
        "max_network_retries",
        "idempotency_key",
        "content_type",
        "headers",
    ]
)


def accepted(params_type: Any, *extra: str) -> frozenset[str]:
    names = set(getattr(params_type, "__annotations__", {})) - _REQUEST_OPTIONS
    return frozenset(names | {"expand", *extra})


def check_known(form: Form, allowed: frozenset[str]) -> None:
    for name in form:
        if name not in allowed:
            raise unknown_parameter(name)


def require(form: Form, name: str) -> Any:
    if name not in form or form[name] == "":
        raise missing_parameter(name)
    return form[name]


def string(form: Form, name: str, *, required: bool = False, max_length: int = 5000) -> str | None:
    value = require(form, name) if required else form.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"Invalid string: {name}", param=name)
    if len(value) > max_length:
        raise invalid(f"Invalid string: {value[:20]}...; must be at most {max_length} characters", param=name)
    return value


def nullable_string(form: Form, name: str) -> str | None:
    """A string that an empty value clears, as Stripe treats ``description=``."""
    value = string(form, name)
    return value or None


def integer(form: Form, name: str, *, required: bool = False, minimum: int | None = None) -> int | None:
    value = require(form, name) if required else form.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
        raise invalid(f"Invalid integer: {value}", param=name, code="parameter_invalid_integer")
    number = int(value)
    if minimum is not None and number < minimum:
        word = "positive" if minimum == 1 else "non-negative"
        raise invalid(f"Invalid {word} integer", param=name, code="parameter_invalid_integer")
    return number


def boolean(form: Form, name: str) -> bool | None:
    value = form.get(name)
    if value is None or value == "":
        return None
    if value in ("true", "false"):
        return bool(value == "true")
    raise invalid(f"Invalid boolean: {value}", param=name)


def choice(form: Form, name: str, options: tuple[str, ...], *, required: bool = False) -> str | None:
    value = string(form, name, required=required)
    if value is None or value == "":
        return None
    if value not in options:
        listed = ", ".join(options[:-1]) + f", or {options[-1]}" if len(options) > 1 else options[0]
        raise invalid(f"Invalid {name}: must be one of {listed}", param=name)
    return value


def hash_param(form: Form, name: str, *, keys: tuple[str, ...] | None = None) -> dict[str, Any] | None:
    """A nested object. With ``keys``, any other key is refused as Stripe refuses it: ``name[key]`` is unknown."""
    value = form.get(name)
    if value is None:
        return None
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid("Invalid object", param=name)
    if keys is not None:
        for key in value:
            if key not in keys:
                raise unknown_parameter(f"{name}[{key}]")
    return value


def string_list(form: Form, name: str) -> list[str] | None:
    value = form.get(name)
    if value is None:
        return None
    if value == "":
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise invalid("Invalid array", param=name)
    return list(value)


def expand(form: Form) -> list[str]:
    return string_list(form, "expand") or []


def metadata(form: Form, current: dict[str, str] | None = None) -> dict[str, str] | None:
    """Stripe's metadata rules: ``metadata=`` clears, ``metadata[k]=`` removes k, at most 50 keys."""
    value = form.get("metadata")
    if value is None:
        return None
    result = dict(current or {})
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid("Invalid object", param="metadata")
    for key, item in value.items():
        if not isinstance(item, str):
            raise invalid(f"Invalid value for metadata[{key}]", param=f"metadata[{key}]")
        if len(key) > 40:
            raise invalid(
                f"Metadata key {key[:40]}… is too long; keys may be at most 40 characters.", param=f"metadata[{key}]"
            )
        if len(item) > 500:
            raise invalid(
                f"Metadata values can have up to 500 characters, but you passed in a value that is "
                f"{len(item)} characters.",
                param=f"metadata[{key}]",
            )
        if item == "":
            result.pop(key, None)
        else:
            result[key] = item
    if len(result) > 50:
        raise invalid("You can have at most 50 keys in metadata.", param="metadata")
    return result
