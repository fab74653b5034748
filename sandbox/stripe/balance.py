"""Money the sandbox moves: the balance transaction of each captured charge and each refund (with Stripe's fee and
the net), and the application fee a platform collects on a direct charge.

Stripe's processing fee follows its standard published pricing for card payments, by the account's country and
whether the card is domestic; real accounts may have negotiated rates, so treat the figures as plausible, not as
what a given account pays.
"""

from __future__ import annotations

from typing import Any, Final

from . import objects
from .events import emit
from .ids import new_id
from .state import Account, SandboxState, now

JSON = dict[str, Any]

# country -> (domestic basis points, international basis points, fixed fee in minor units)
_PRICING: Final = {
    "AU": (170, 350, 30),
    "NZ": (265, 370, 30),
    "GB": (150, 325, 20),
    "US": (290, 440, 30),
    "CA": (290, 390, 30),
}
_DEFAULT_PRICING: Final = (290, 440, 30)
_AVAILABLE_AFTER: Final = 2 * 86400  # a card payment's funds become available two days later (AU's standard)


def stripe_fee(account: Account, charge: JSON, amount: int) -> int:
    domestic, international, fixed = _PRICING.get(account.country, _DEFAULT_PRICING)
    card_country = charge["payment_method_details"]["card"]["country"]
    rate = domestic if card_country == account.country else international
    return (amount * rate + 5000) // 10000 + fixed


def _transaction(
    account: Account,
    *,
    amount: int,
    currency: str,
    description: str | None,
    fee_details: list[JSON],
    kind: str,
    source: str,
) -> JSON:
    created = now()
    fee = sum(detail["amount"] for detail in fee_details)
    txn: JSON = {
        "id": new_id("txn"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": created + _AVAILABLE_AFTER,
        "balance_type": "payments",
        "created": created,
        "currency": currency,
        "description": description,
        "exchange_rate": None,
        "fee": fee,
        "fee_details": fee_details,
        "net": amount - fee,
        "reporting_category": kind,
        "source": source,
        "status": "pending",
        "type": kind,
    }
    account.balance_transactions[txn["id"]] = txn
    return txn


def capture(state: SandboxState, account: Account, platform: Account | None, charge: JSON, amount: int) -> None:
    """Book a captured ``amount`` of ``charge``: its balance transaction, and the platform's application fee."""
    currency = charge["currency"]
    details = [
        {
            "amount": stripe_fee(account, charge, amount),
            "application": None,
            "currency": currency,
            "description": "Stripe processing fees",
            "type": "stripe_fee",
        }
    ]
    fee_amount = min(charge["application_fee_amount"] or 0, amount)
    if fee_amount and platform is not None:
        fee = _application_fee(state, account, platform, charge, fee_amount)
        charge["application_fee"] = fee["id"]
        details.append(
            {
                "amount": fee_amount,
                "application": fee["application"],
                "currency": currency,
                "description": f"{platform.business_name or platform.id} application fee",
                "type": "application_fee",
            }
        )
    txn = _transaction(
        account,
        amount=amount,
        currency=currency,
        description=charge["description"],
        fee_details=details,
        kind="charge",
        source=charge["id"],
    )
    charge["balance_transaction"] = txn["id"]


def _application_fee(state: SandboxState, account: Account, platform: Account, charge: JSON, amount: int) -> JSON:
    fee_id = new_id("fee")
    txn = _transaction(
        platform,
        amount=amount,
        currency=charge["currency"],
        description=None,
        fee_details=[],
        kind="application_fee",
        source=fee_id,
    )
    fee: JSON = {
        "id": fee_id,
        "object": "application_fee",
        "account": account.id,
        "amount": amount,
        "amount_refunded": 0,
        "application": platform.client_id,
        "balance_transaction": txn["id"],
        "charge": charge["id"],
        "created": now(),
        "currency": charge["currency"],
        "fee_source": {"charge": charge["id"], "type": "charge"},
        "livemode": False,
        "originating_transaction": None,
        "refunded": False,
        "refunds": objects.list_object([], f"/v1/application_fees/{fee_id}/refunds"),
    }
    platform.application_fees[fee_id] = fee
    emit(state, platform, "application_fee.created", fee, platform_ids=[])
    return fee


def refund(account: Account, refund_obj: JSON) -> None:
    """A refund's balance transaction: the amount leaves the balance; Stripe keeps its fee."""
    txn = _transaction(
        account,
        amount=-refund_obj["amount"],
        currency=refund_obj["currency"],
        description="REFUND FOR CHARGE",
        fee_details=[],
        kind="refund",
        source=refund_obj["id"],
    )
    refund_obj["balance_transaction"] = txn["id"]


def refund_failed(account: Account, refund_obj: JSON) -> None:
    """A refund that failed gives its amount back to the balance."""
    txn = _transaction(
        account,
        amount=refund_obj["amount"],
        currency=refund_obj["currency"],
        description="REFUND FAILURE",
        fee_details=[],
        kind="refund_failure",
        source=refund_obj["id"],
    )
    refund_obj["failure_balance_transaction"] = txn["id"]


def refund_application_fee(state: SandboxState, platform: Account | None, charge: JSON, refunded: int) -> None:
    """``refund_application_fee=true``: the platform gives back its fee in proportion to what was refunded."""
    fee = platform.application_fees.get(charge["application_fee"] or "") if platform is not None else None
    if fee is None or platform is None:
        return
    share = min(fee["amount"] - fee["amount_refunded"], fee["amount"] * refunded // charge["amount"])
    if share <= 0:
        return
    fee_refund = {
        "id": new_id("fr"),
        "object": "fee_refund",
        "amount": share,
        "balance_transaction": None,
        "created": now(),
        "currency": fee["currency"],
        "fee": fee["id"],
        "metadata": {},
    }
    fee["refunds"]["data"].insert(0, fee_refund)
    fee["amount_refunded"] += share
    fee["refunded"] = fee["amount_refunded"] >= fee["amount"]
    emit(state, platform, "application_fee.refunded", fee, platform_ids=[])
