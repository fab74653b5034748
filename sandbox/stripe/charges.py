"""``/v1/charges``: the charges confirmations make, read-only as the product needs them."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import params
from .api import Call, endpoint
from .errors import no_such
from .pagination import paginate

JSON = dict[str, Any]


def find(call: Call, charge_id: str, *, param: str = "id") -> JSON:
    charge = call.account.charges.get(charge_id)
    if charge is None:
        raise no_such("charge", charge_id, param=param)
    return charge


@endpoint(params.CHARGE_RETRIEVE)
def retrieve(call: Call) -> JSON:
    return find(call, call.request.match_info["id"])


@endpoint(params.CHARGE_LIST)
def list_charges(call: Call) -> JSON:
    items = list(reversed(call.account.charges.values()))
    pi_id = params.string(call.form, "payment_intent")
    if pi_id:
        items = [charge for charge in items if charge["payment_intent"] == pi_id]
    return paginate(call, items, "/v1/charges", "charge")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/charges", list_charges)
    app.router.add_get("/v1/charges/{id}", retrieve)
