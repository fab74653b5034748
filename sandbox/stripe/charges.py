"""``/v1/charges``: the charges confirmations make, read-only as the product needs them."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import params, spec
from .api import Call, endpoint, lookup
from .pagination import paginate

JSON = dict[str, Any]


@endpoint(spec.CHARGE_RETRIEVE)
def retrieve(call: Call) -> JSON:
    return lookup(call.account.charges, call.request.match_info["id"], "charge")


@endpoint(spec.CHARGE_LIST)
def list_charges(call: Call) -> JSON:
    items = list(reversed(call.account.charges.values()))
    for name in ("payment_intent", "customer", "transfer_group"):
        wanted = params.string(call.form, name)
        if wanted:
            items = [charge for charge in items if charge[name] == wanted]
    return paginate(call, items, "/v1/charges", "charge")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/charges", list_charges)
    app.router.add_get("/v1/charges/{id}", retrieve)
