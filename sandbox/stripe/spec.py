"""What each endpoint implements, down to nested keys, and the refusal of everything else.

Stripe refuses a parameter it does not know with ``parameter_unknown``; the sandbox refuses, the same way, every
parameter it does not *implement*, so code can never pass here by sending something the sandbox quietly ignores.
When Stripe itself knows the parameter (the installed SDK's typed params say so), the message says that it is the
sandbox that does not support it, so nobody mistakes the refusal for Stripe's.

A spec maps each accepted name to ``None`` (a value the handler reads and checks itself), :data:`FREE` (a hash with
any keys, as ``metadata``) or a nested spec (a hash whose keys are checked in turn).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Union

import stripe.params as sp

from .errors import invalid
from .forms import Form

FREE: Final = "free"
Spec = Mapping[str, Union["Spec", str, None]]

_SANDBOX_NOTE = (
    " Stripe accepts this parameter, but the offline Stripe sandbox does not support it yet, so it refuses it "
    "rather than ignore it."
)


def refuse_unknown(form: Form, spec: Spec, sdk_type: Any = None) -> None:
    """Raise Stripe's ``parameter_unknown`` for the first parameter (or nested key) ``spec`` does not implement."""
    _check(form, spec, sdk_type, prefix="")


def _check(form: Mapping[str, Any], spec: Spec, sdk_type: Any, prefix: str) -> None:
    for name, value in form.items():
        full = f"{prefix}[{name}]" if prefix else name
        if name not in spec:
            raise unknown(full, sdk_knows=_sdk_has(sdk_type, name))
        rule = spec[name]
        if isinstance(rule, Mapping) and isinstance(value, dict):
            _check(value, rule, _sdk_child(sdk_type, name), full)
        elif isinstance(rule, Mapping) and isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    _check(item, rule, _sdk_child(sdk_type, name), f"{full}[{index}]")


def unknown(name: str, *, sdk_knows: bool) -> Exception:
    message = f"Received unknown parameter: {name}"
    return invalid(message + (_SANDBOX_NOTE if sdk_knows else ""), param=name, code="parameter_unknown")


# --- What the SDK knows: its typed params, read from their annotations without evaluating them ------------------

_NAME: Final = re.compile(r"\b([A-Z]\w*Params\w*)\b")


def _annotations(sdk_type: Any) -> dict[str, Any]:
    annotations: dict[str, Any] = {}
    for klass in reversed(getattr(sdk_type, "__mro__", ())):
        annotations.update(getattr(klass, "__annotations__", {}))
    return annotations


def _sdk_has(sdk_type: Any, name: str) -> bool:
    return sdk_type is not None and name in _annotations(sdk_type)


def _sdk_child(sdk_type: Any, name: str) -> Any:
    if sdk_type is None:
        return None
    annotation = _annotations(sdk_type).get(name)
    if annotation is None:
        return None
    module = sys.modules.get(sdk_type.__module__)
    for candidate in _NAME.findall(str(annotation)):
        found = getattr(module, candidate, None) or getattr(sp, candidate, None)
        if found is not None:
            return found
    return None


# --- Shared pieces ---------------------------------------------------------------------------------------------

PAGE: Final[Spec] = {"limit": None, "starting_after": None, "ending_before": None, "expand": None}
CREATED: Final[Spec] = {"created": {"gt": None, "gte": None, "lt": None, "lte": None}}
_ADDRESS: Final[Spec] = dict.fromkeys(["city", "country", "line1", "line2", "postal_code", "state"])
BILLING_DETAILS: Final[Spec] = {"address": _ADDRESS, "email": None, "name": None, "phone": None}
CARD: Final[Spec] = dict.fromkeys(["number", "exp_month", "exp_year", "cvc"])
PAYMENT_METHOD_DATA: Final[Spec] = {"type": None, "card": CARD, "billing_details": BILLING_DETAILS, "metadata": FREE}
SHIPPING: Final[Spec] = {"address": _ADDRESS, "name": None, "phone": None, "carrier": None, "tracking_number": None}
AUTOMATIC_PAYMENT_METHODS: Final[Spec] = {"enabled": None, "allow_redirects": None}
CARD_OPTIONS: Final[Spec] = {"card": {"request_three_d_secure": None}}
# What Stripe.js sends alongside an intent's own parameters when a browser confirms with a publishable key.
BROWSER: Final[Spec] = {
    "client_secret": None,
    "key": None,
    "_stripe_account": None,
    "payment_method_data": PAYMENT_METHOD_DATA,
    "return_url": None,
    "use_stripe_sdk": None,
}


@dataclass(frozen=True)
class Accepts:
    """An endpoint's implemented parameters, and the SDK's typed params for it (to word refusals)."""

    spec: Spec
    sdk_type: Any = None

    def refuse_unknown(self, form: Form) -> None:
        refuse_unknown(form, self.spec, self.sdk_type)


def spec(sdk_type: Any, *parts: Spec, **names: Spec | str | None) -> Accepts:
    merged: dict[str, Spec | str | None] = {"expand": None}
    for part in parts:
        merged.update(part)
    merged.update(names)
    return Accepts(merged, sdk_type)


# --- PaymentIntents ----------------------------------------------------------------------------------------------

PI_CREATE = spec(
    sp.PaymentIntentCreateParams,
    amount=None,
    currency=None,
    application_fee_amount=None,
    automatic_payment_methods=AUTOMATIC_PAYMENT_METHODS,
    capture_method=None,
    confirm=None,
    confirmation_method=None,
    customer=None,
    description=None,
    error_on_requires_action=None,
    metadata=FREE,
    off_session=None,
    payment_method=None,
    payment_method_options=CARD_OPTIONS,
    payment_method_types=None,
    receipt_email=None,
    return_url=None,
    setup_future_usage=None,
    shipping=SHIPPING,
    statement_descriptor=None,
    statement_descriptor_suffix=None,
    transfer_group=None,
    use_stripe_sdk=None,
)
PI_RETRIEVE = spec(sp.PaymentIntentRetrieveParams, client_secret=None, key=None, _stripe_account=None)
PI_UPDATE = spec(
    sp.PaymentIntentUpdateParams,
    amount=None,
    currency=None,
    application_fee_amount=None,
    capture_method=None,
    customer=None,
    description=None,
    metadata=FREE,
    payment_method=None,
    payment_method_options=CARD_OPTIONS,
    receipt_email=None,
    setup_future_usage=None,
    shipping=SHIPPING,
    statement_descriptor=None,
    statement_descriptor_suffix=None,
    transfer_group=None,
)
PI_CONFIRM = spec(
    sp.PaymentIntentConfirmParams,
    BROWSER,
    capture_method=None,
    error_on_requires_action=None,
    off_session=None,
    payment_method=None,
    payment_method_options=CARD_OPTIONS,
    receipt_email=None,
    setup_future_usage=None,
    shipping=SHIPPING,
)
PI_CANCEL = spec(sp.PaymentIntentCancelParams, cancellation_reason=None)
PI_CAPTURE = spec(
    sp.PaymentIntentCaptureParams,
    amount_to_capture=None,
    application_fee_amount=None,
    final_capture=None,
    metadata=FREE,
    statement_descriptor=None,
    statement_descriptor_suffix=None,
)
PI_LIST = spec(sp.PaymentIntentListParams, PAGE, CREATED, customer=None)

# --- Charges, refunds, fees, balance transactions ---------------------------------------------------------------

CHARGE_RETRIEVE = spec(sp.ChargeRetrieveParams)
CHARGE_LIST = spec(sp.ChargeListParams, PAGE, CREATED, customer=None, payment_intent=None, transfer_group=None)
REFUND_CREATE = spec(
    sp.RefundCreateParams,
    amount=None,
    charge=None,
    payment_intent=None,
    reason=None,
    metadata=FREE,
    refund_application_fee=None,
)
REFUND_RETRIEVE = spec(sp.RefundRetrieveParams)
REFUND_UPDATE = spec(sp.RefundUpdateParams, metadata=FREE)
REFUND_LIST = spec(sp.RefundListParams, PAGE, CREATED, charge=None, payment_intent=None)
FEE_RETRIEVE = spec(sp.ApplicationFeeRetrieveParams)
FEE_LIST = spec(sp.ApplicationFeeListParams, PAGE, CREATED, charge=None)
TXN_RETRIEVE = spec(sp.BalanceTransactionRetrieveParams)
TXN_LIST = spec(sp.BalanceTransactionListParams, PAGE, CREATED, source=None, type=None)

# --- Events, accounts, webhook endpoints ------------------------------------------------------------------------

EVENT_LIST = spec(sp.EventListParams, PAGE, CREATED, type=None, types=None, delivery_success=None)
EVENT_RETRIEVE = spec(sp.EventRetrieveParams)
ACCOUNT_RETRIEVE = spec(sp.AccountRetrieveParams)
WE_CREATE = spec(
    sp.WebhookEndpointCreateParams,
    url=None,
    enabled_events=None,
    api_version=None,
    connect=None,
    description=None,
    metadata=FREE,
)
WE_UPDATE = spec(
    sp.WebhookEndpointUpdateParams, url=None, enabled_events=None, disabled=None, description=None, metadata=FREE
)
WE_RETRIEVE = spec(sp.WebhookEndpointRetrieveParams)
WE_DELETE = spec(sp.WebhookEndpointDeleteParams)
WE_LIST = spec(sp.WebhookEndpointListParams, PAGE)

# --- Customers, payment methods, SetupIntents -------------------------------------------------------------------

PM_CREATE = spec(
    sp.PaymentMethodCreateParams,
    type=None,
    card=CARD,
    billing_details=BILLING_DETAILS,
    metadata=FREE,
    key=None,
    _stripe_account=None,
)
PM_RETRIEVE = spec(sp.PaymentMethodRetrieveParams, key=None, _stripe_account=None)
PM_UPDATE = spec(sp.PaymentMethodUpdateParams, billing_details=BILLING_DETAILS, metadata=FREE)
PM_ATTACH = spec(sp.PaymentMethodAttachParams, customer=None)
PM_DETACH = spec(sp.PaymentMethodDetachParams)
PM_LIST = spec(sp.PaymentMethodListParams, PAGE, customer=None, type=None)
CUSTOMER_PM_LIST = spec(sp.CustomerListPaymentMethodsParams, PAGE, type=None)
_CUSTOMER_FIELDS: Final[Spec] = {
    "description": None,
    "email": None,
    "invoice_settings": {"default_payment_method": None},
    "metadata": FREE,
    "name": None,
    "phone": None,
}
CUSTOMER_CREATE = spec(sp.CustomerCreateParams, _CUSTOMER_FIELDS, payment_method=None)
CUSTOMER_UPDATE = spec(sp.CustomerUpdateParams, _CUSTOMER_FIELDS)
CUSTOMER_RETRIEVE = spec(sp.CustomerRetrieveParams)
CUSTOMER_DELETE = spec(sp.CustomerDeleteParams)
CUSTOMER_LIST = spec(sp.CustomerListParams, PAGE, CREATED, email=None)
SI_CREATE = spec(
    sp.SetupIntentCreateParams,
    automatic_payment_methods=AUTOMATIC_PAYMENT_METHODS,
    confirm=None,
    customer=None,
    description=None,
    metadata=FREE,
    payment_method=None,
    payment_method_options=CARD_OPTIONS,
    payment_method_types=None,
    return_url=None,
    usage=None,
    use_stripe_sdk=None,
)
SI_RETRIEVE = spec(sp.SetupIntentRetrieveParams, client_secret=None, key=None, _stripe_account=None)
SI_UPDATE = spec(sp.SetupIntentUpdateParams, customer=None, description=None, metadata=FREE, payment_method=None)
SI_CONFIRM = spec(sp.SetupIntentConfirmParams, BROWSER, payment_method=None, payment_method_options=CARD_OPTIONS)
SI_CANCEL = spec(sp.SetupIntentCancelParams, cancellation_reason=None)
SI_LIST = spec(sp.SetupIntentListParams, PAGE, CREATED, customer=None, payment_method=None)
