"""Stripe's cursor pagination: newest first, ``limit``, ``starting_after``, ``ending_before``, ``created``."""

from __future__ import annotations

import operator
from typing import Any

from . import objects, params
from .api import Call
from .errors import invalid, no_such, unknown_parameter
from .forms import Form

JSON = dict[str, Any]


def paginate(call: Call, newest_first: list[JSON], url: str, kind: str) -> JSON:
    form = call.form
    limit = params.integer(form, "limit")
    if limit is None:
        limit = 10
    if not 1 <= limit <= 100:
        raise invalid("This value must be greater than or equal to 1 and less than or equal to 100.", param="limit")
    items = _created_filter(form, newest_first)
    after = params.string(form, "starting_after")
    before = params.string(form, "ending_before")
    ids = [item["id"] for item in items]
    if after:
        if after not in ids:
            raise no_such(kind, after, param="starting_after")
        start = ids.index(after) + 1
        page = items[start : start + limit]
        return objects.list_object(page, url, has_more=start + limit < len(items))
    if before:
        if before not in ids:
            raise no_such(kind, before, param="ending_before")
        end = ids.index(before)
        page = items[max(0, end - limit) : end]
        return objects.list_object(page, url, has_more=end - limit > 0)
    return objects.list_object(items[:limit], url, has_more=len(items) > limit)


_CREATED_BOUNDS = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


def _created_filter(form: Form, items: list[JSON]) -> list[JSON]:
    value = form.get("created")
    if value is None:
        return items
    if isinstance(value, str):
        exact = params.integer(form, "created")
        return [item for item in items if item["created"] == exact]
    if not isinstance(value, dict):
        raise invalid("Invalid created", param="created")
    bounds = {op: params.integer(value, op) for op in _CREATED_BOUNDS if op in value}
    for op in value:
        if op not in _CREATED_BOUNDS:
            raise unknown_parameter(f"created[{op}]")
    return [
        item
        for item in items
        if all(bound is None or _CREATED_BOUNDS[op](item["created"], bound) for op, bound in bounds.items())
    ]
