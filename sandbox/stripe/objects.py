"""Builders for the JSON objects the sandbox returns, with the fields and nesting of Stripe's own fixtures.

Fields the sandbox has no use for are present with Stripe's empty values, so clients that read them behave as
they would against Stripe.
"""

from __future__ import annotations

from typing import Any

from .cards import TestCard
from .ids import new_id, random_token
from .state import Account, now

JSON = dict[str, Any]


def _address() -> JSON:
    return dict.fromkeys(["city", "country", "line1", "line2", "postal_code", "state"])


def _requirements() -> JSON:
    return {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": [],
        "disabled_reason": None,
        "errors": [],
        "eventually_due": [],
        "past_due": [],
        "pending_verification": [],
    }


def list_object(data: list[JSON], url: str, *, has_more: bool = False) -> JSON:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def account(acct: Account) -> JSON:
    requirements = _requirements()
    if acct.requirements is not None:
        requirements.update(acct.requirements)
    elif not acct.charges_enabled:
        requirements["disabled_reason"] = "requirements.past_due"
        requirements["currently_due"] = requirements["past_due"] = ["external_account"]
        requirements["eventually_due"] = ["external_account"]
    return {
        "id": acct.id,
        "object": "account",
        "business_profile": {
            "annual_revenue": {"amount": None, "currency": None, "fiscal_year_end": None},
            "estimated_worker_count": None,
            "mcc": "8011",
            "name": acct.business_name,
            "product_description": None,
            "support_address": _address(),
            "support_email": acct.email,
            "support_phone": None,
            "support_url": None,
            "url": None,
            "minority_owned_business_designation": None,
        },
        "business_type": "company",
        "capabilities": {
            "card_payments": "active" if acct.charges_enabled else "inactive",
            "transfers": "active" if acct.payouts_enabled else "inactive",
        },
        "charges_enabled": acct.charges_enabled,
        "controller": acct.controller or {"type": "account"},
        "country": acct.country,
        "created": acct.created,
        "default_currency": acct.default_currency,
        "details_submitted": acct.details_submitted,
        "email": acct.email,
        "external_accounts": list_object([], f"/v1/accounts/{acct.id}/external_accounts"),
        "future_requirements": _requirements(),
        "metadata": {},
        "payouts_enabled": acct.payouts_enabled,
        "requirements": requirements,
        "settings": {
            "bacs_debit_payments": {"display_name": None, "service_user_number": None},
            "branding": {"icon": None, "logo": None, "primary_color": None, "secondary_color": None},
            "card_issuing": {"tos_acceptance": {"date": None, "ip": None}},
            "card_payments": {
                "decline_on": {"avs_failure": False, "cvc_failure": True},
                "statement_descriptor_prefix": None,
                "statement_descriptor_prefix_kana": None,
                "statement_descriptor_prefix_kanji": None,
            },
            "dashboard": {"display_name": acct.business_name, "timezone": "Australia/Sydney"},
            "invoices": {"default_account_tax_ids": None, "hosted_payment_method_save": "offer"},
            "payments": {
                "statement_descriptor": (acct.business_name or "SANDBOX")[:22].upper(),
                "statement_descriptor_kana": None,
                "statement_descriptor_kanji": None,
                "statement_descriptor_prefix_kana": None,
                "statement_descriptor_prefix_kanji": None,
            },
            "payouts": {
                "debit_negative_balances": True,
                "schedule": {"delay_days": 2, "interval": "daily"},
                "statement_descriptor": None,
            },
            "sepa_debit_payments": {},
        },
        "tos_acceptance": {"date": acct.created, "ip": None, "user_agent": None},
        "type": "standard",
    }


def payment_method(card: TestCard, *, billing_email: str | None = None) -> JSON:
    return {
        "id": new_id("pm"),
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": _address(),
            "email": billing_email,
            "name": None,
            "phone": None,
            "tax_id": None,
        },
        "card": {
            "brand": card.brand,
            "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
            "country": card.country,
            "display_brand": card.brand,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
            "fingerprint": "sbx" + card.number[-8:],
            "funding": card.funding,
            "generated_from": None,
            "last4": card.last4,
            "networks": {"available": [card.brand], "preferred": None},
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
            "regulated_status": "unregulated",
        },
        "created": now(),
        "customer": None,
        "livemode": False,
        "metadata": {},
        "type": "card",
        "customer_account": None,
    }


def payment_intent(
    *,
    amount: int,
    currency: str,
    capture_method: str,
    confirmation_method: str,
    description: str | None,
    metadata: dict[str, str],
    receipt_email: str | None,
    application_fee_amount: int | None,
    automatic_payment_methods: JSON | None,
    payment_method_types: list[str],
    statement_descriptor: str | None,
    statement_descriptor_suffix: str | None,
    setup_future_usage: str | None,
    transfer_group: str | None,
    customer: str | None = None,
    shipping: JSON | None = None,
    request_three_d_secure: str = "automatic",
) -> JSON:
    pi_id = new_id("pi")
    return {
        "id": pi_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": application_fee_amount,
        "automatic_payment_methods": automatic_payment_methods,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": capture_method,
        "client_secret": f"{pi_id}_secret_{random_token(25)}",
        "confirmation_method": confirmation_method,
        "created": now(),
        "currency": currency,
        "customer": customer,
        "description": description,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": metadata,
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": request_three_d_secure,
            }
        },
        "payment_method_types": payment_method_types,
        "processing": None,
        "receipt_email": receipt_email,
        "review": None,
        "setup_future_usage": setup_future_usage,
        "shipping": shipping,
        "statement_descriptor": statement_descriptor,
        "statement_descriptor_suffix": statement_descriptor_suffix,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": transfer_group,
        "source": None,
        "excluded_payment_method_types": None,
        "customer_account": None,
        "managed_payments": {"enabled": False},
    }


def charge(pi: JSON, pm: JSON, *, status: str) -> JSON:
    card = pm["card"]
    charge_id = new_id("ch")
    return {
        "id": charge_id,
        "object": "charge",
        "amount": pi["amount"],
        "amount_captured": 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": pi["application_fee_amount"],
        "balance_transaction": None,
        "billing_details": pm["billing_details"],
        "calculated_statement_descriptor": pi["statement_descriptor"] or "SANDBOX",
        "captured": False,
        "created": now(),
        "currency": pi["currency"],
        "customer": pi["customer"],
        "description": pi["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(pi["metadata"]),
        "on_behalf_of": None,
        "outcome": None,
        "paid": False,
        "payment_intent": pi["id"],
        "payment_method": pm["id"],
        "payment_method_details": {
            "card": {
                "amount_authorized": pi["amount"],
                "brand": card["brand"],
                "checks": card["checks"],
                "country": card["country"],
                "exp_month": card["exp_month"],
                "exp_year": card["exp_year"],
                "extended_authorization": {"status": "disabled"},
                "fingerprint": card["fingerprint"],
                "funding": card["funding"],
                "incremental_authorization": {"status": "unavailable"},
                "installments": None,
                "last4": card["last4"],
                "mandate": None,
                "multicapture": {"status": "unavailable"},
                "network": card["brand"],
                "network_token": {"used": False},
                "overcapture": {"maximum_amount_capturable": pi["amount"], "status": "unavailable"},
                "three_d_secure": None,
                "wallet": None,
                "authorization_code": None,
                "regulated_status": "unregulated",
                "network_transaction_id": None,
                "transaction_link_id": None,
            },
            "type": "card",
        },
        "receipt_email": pi["receipt_email"],
        "receipt_number": None,
        "receipt_url": "",  # payment_flow.succeed fills it in; a failed charge keeps none
        "refunded": False,
        "review": None,
        "shipping": pi["shipping"],
        "source_transfer": None,
        "statement_descriptor": pi["statement_descriptor"],
        "statement_descriptor_suffix": pi["statement_descriptor_suffix"],
        "status": status,
        "transfer_data": None,
        "transfer_group": pi["transfer_group"],
        "source": None,
    }


def outcome(*, paid: bool, decline_code: str | None = None, seller_message: str | None = None) -> JSON:
    return {
        "advice_code": None if paid else "try_again_later",
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": "approved_by_network" if paid else "declined_by_network",
        "reason": decline_code,
        "risk_level": "normal",
        "risk_score": 20,
        "seller_message": seller_message
        or ("Payment complete." if paid else "The bank did not return any further details with this decline."),
        "type": "authorized" if paid else "issuer_declined",
    }


def refund(
    charge_obj: JSON, *, amount: int, reason: str | None, metadata: dict[str, str], status: str = "succeeded"
) -> JSON:
    return {
        "id": new_id("re"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": None,
        "charge": charge_obj["id"],
        "created": now(),
        "currency": charge_obj["currency"],
        "destination_details": {
            "card": {
                "reference": None,
                "reference_status": "pending",
                "reference_type": "acquirer_reference_number",
                "type": "refund",
            },
            "type": "card",
        },
        "metadata": metadata,
        "payment_intent": charge_obj["payment_intent"],
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": status,
        "transfer_reversal": None,
        "customer": None,
        "customer_account": None,
        "payment_method": charge_obj["payment_method"],
    }


def event(
    *,
    type: str,
    data_object: JSON,
    api_version: str,
    account_id: str | None,
    request_id: str | None,
    idempotency_key: str | None,
    previous_attributes: JSON | None = None,
) -> JSON:
    data: JSON = {"object": data_object}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    obj: JSON = {
        "id": new_id("evt"),
        "object": "event",
        "api_version": api_version,
        "created": now(),
        "data": data,
        "livemode": False,
        "pending_webhooks": 0,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": type,
    }
    if account_id is not None:
        obj["account"] = account_id
    return obj


def webhook_endpoint(
    *,
    url: str,
    enabled_events: list[str],
    api_version: str | None,
    description: str | None,
    metadata: dict[str, str],
) -> JSON:
    return {
        "id": new_id("we"),
        "object": "webhook_endpoint",
        "api_version": api_version,
        "application": None,
        "created": now(),
        "description": description,
        "enabled_events": enabled_events,
        "livemode": False,
        "metadata": metadata,
        "status": "enabled",
        "url": url,
    }
