"""Stripe's cursor pagination: newest first, ``limit``, ``starting_after``, ``ending_before``, ``created``."""

from __future__ import annotations

from typing import Any

from . import objects, params
from .api import Call
from .errors import invalid, no_such
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


def _created_filter(form: Form, items: list[JSON]) -> list[JSON]:
    value = form.get("created")
    if value is None:
        return items
    if isinstance(value, str):
        exact = params.integer(form, "created")
        return [item for item in items if item["created"] == exact]
    if not isinstance(value, dict):
        raise invalid("Invalid created", param="created")
    bounds = {op: params.integer(value, op) for op in ("gt", "gte", "lt", "lte") if op in value}
    for op in value:
        if op not in ("gt", "gte", "lt", "lte"):
            raise invalid(
                f"Received unknown parameter: created[{op}]", param=f"created[{op}]", code="parameter_unknown"
            )
    checks = {
        "gt": lambda created, bound: created > bound,
        "gte": lambda created, bound: created >= bound,
        "lt": lambda created, bound: created < bound,
        "lte": lambda created, bound: created <= bound,
    }
    return [
        item
        for item in items
        if all(bound is None or checks[op](item["created"], bound) for op, bound in bounds.items())
    ]
