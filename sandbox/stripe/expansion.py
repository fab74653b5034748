"""What a response looks like for the caller: ``expand[]`` paths replaced by objects, and what the requested API
version adds (a charge's ``refunds`` list before 2022-11-15).

Ids are looked up by their prefix on the account the call acts on; application fees live on the platform that
collects them, so those are looked up there too.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any, Final

from . import objects, versions
from .errors import invalid
from .state import Account

JSON = dict[str, Any]

COLLECTIONS: Final = {
    "pi": "payment_intents",
    "ch": "charges",
    "re": "refunds",
    "pm": "payment_methods",
    "cus": "customers",
    "seti": "setup_intents",
    "txn": "balance_transactions",
    "fee": "application_fees",
}


def find_object(accounts: Iterable[Account], object_id: str) -> JSON | None:
    collection = COLLECTIONS.get(object_id.partition("_")[0])
    if collection is None:
        return None
    for account in accounts:
        found: JSON | None = getattr(account, collection).get(object_id)
        if found is not None:
            return found
    return None


def charge_refunds(account: Account, charge: JSON) -> JSON:
    """A charge's refunds as the ``refunds`` list Stripe shows when it is expanded (newest first)."""
    mine = [refund for refund in reversed(account.refunds.values()) if refund["charge"] == charge["id"]]
    return objects.list_object(mine[:10], f"/v1/charges/{charge['id']}/refunds", has_more=len(mine) > 10)


def render(accounts: list[Account], obj: JSON, paths: list[str], api_version: str) -> JSON:
    """``obj`` with ``paths`` expanded, shaped for ``api_version``. ``accounts[0]`` is the one the call acts on."""
    if not paths and not versions.includes_charge_refunds(api_version):
        return obj
    result = copy.deepcopy(obj)
    for path in paths:
        _expand(accounts, result, path.split("."))
    if versions.includes_charge_refunds(api_version):
        _add_refunds(accounts[0], result)
    return result


def _expand(accounts: list[Account], node: Any, parts: list[str]) -> None:
    head, *rest = parts
    if isinstance(node, dict) and node.get("object") == "list" and head == "data":
        for item in node["data"]:
            if rest:
                _expand(accounts, item, rest)
        return
    if isinstance(node, dict) and node.get("object") == "charge" and head == "refunds":
        node["refunds"] = charge_refunds(accounts[0], node)
        if rest:
            _expand(accounts, node["refunds"], rest)
        return
    if not isinstance(node, dict) or head not in node:
        raise invalid(f"This property cannot be expanded ({head}).", param="expand")
    value = node[head]
    if isinstance(value, str):
        found = find_object(accounts, value)
        if found is None:
            raise invalid(f"This property cannot be expanded ({head}).", param="expand")
        node[head] = value = copy.deepcopy(found)
    if rest and value is not None:
        _expand(accounts, value, rest)


def _add_refunds(account: Account, node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _add_refunds(account, item)
    elif isinstance(node, dict):
        for value in node.values():
            if isinstance(value, dict | list):
                _add_refunds(account, value)
        if node.get("object") == "charge" and "refunds" not in node:
            node["refunds"] = charge_refunds(account, node)
