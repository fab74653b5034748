"""Stripe's form encoding: ``metadata[call]=x``, ``expand[]=a``, ``expand[0]=a``, ``card[number]=…``.

Values stay strings; :mod:`params` gives them types. Hashes whose keys are all indices become lists, as Stripe
reads ``items[0][price]=…`` as an array of hashes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from .errors import invalid

FormValue = Any  # str | list[FormValue] | dict[str, FormValue]; kept loose so callers can narrow it
Form = dict[str, FormValue]

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


def decode(body: str) -> Form:
    return decode_pairs(parse_qsl(body, keep_blank_values=True))


def decode_pairs(pairs: Iterable[tuple[str, str]]) -> Form:
    root: Form = {}
    for key, value in pairs:
        match = _KEY.match(key)
        if match is None:
            raise invalid(f"Invalid parameter name: {key}", param=key)
        path = [match.group(1), *_PART.findall(match.group(2))]
        _put(root, path, value, key)
    result: Form = _listify(root)
    return result


def _put(node: Form, path: list[str], value: str, key: str) -> None:
    *parents, last = path
    for index, part in enumerate(parents):
        following = path[index + 1]
        if part == "":  # "a[][b]": arrays of hashes need explicit indices
            raise invalid(f"Invalid array parameter: {key}", param=key)
        child = node.get(part)
        if following == "":
            if child is None:
                child = node[part] = {"": []}
            if not isinstance(child, dict) or "" not in child:
                raise invalid(f"Invalid array parameter: {key}", param=key)
            if index + 1 != len(parents):
                raise invalid(f"Invalid array parameter: {key}", param=key)
            child[""].append(value)
            return
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise invalid(f"Invalid hash parameter: {key}", param=key)
        node = child
    if last == "":
        raise invalid(f"Invalid array parameter: {key}", param=key)
    if isinstance(node.get(last), dict):
        raise invalid(f"Invalid hash parameter: {key}", param=key)
    node[last] = value


def _listify(value: FormValue) -> FormValue:
    if not isinstance(value, dict):
        return value
    if set(value) == {""}:
        return [_listify(item) for item in value[""]]
    if value and all(key.isdigit() for key in value):
        return [_listify(value[key]) for key in sorted(value, key=int)]
    return {key: _listify(item) for key, item in value.items()}
