"""``/v1/balance_transactions`` and ``/v1/application_fees``: reading what :mod:`.balance` booked."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import params, spec
from .api import Call, endpoint, lookup
from .pagination import paginate

JSON = dict[str, Any]


@endpoint(spec.TXN_RETRIEVE)
def retrieve_transaction(call: Call) -> JSON:
    return lookup(call.account.balance_transactions, call.request.match_info["id"], "balance transaction")


@endpoint(spec.TXN_LIST)
def list_transactions(call: Call) -> JSON:
    items = list(reversed(call.account.balance_transactions.values()))
    for name in ("source", "type"):
        wanted = params.string(call.form, name)
        if wanted:
            items = [txn for txn in items if txn[name] == wanted]
    return paginate(call, items, "/v1/balance_transactions", "balance transaction")


@endpoint(spec.FEE_RETRIEVE)
def retrieve_fee(call: Call) -> JSON:
    return lookup(call.account.application_fees, call.request.match_info["id"], "application fee")


@endpoint(spec.FEE_LIST)
def list_fees(call: Call) -> JSON:
    items = list(reversed(call.account.application_fees.values()))
    charge = params.string(call.form, "charge")
    if charge:
        items = [fee for fee in items if fee["charge"] == charge]
    return paginate(call, items, "/v1/application_fees", "application fee")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/balance_transactions", list_transactions)
    app.router.add_get("/v1/balance_transactions/{id}", retrieve_transaction)
    app.router.add_get("/v1/application_fees", list_fees)
    app.router.add_get("/v1/application_fees/{id}", retrieve_fee)
