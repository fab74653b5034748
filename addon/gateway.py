"""The Stripe gateway: the only module that imports ``stripe``.

One async method per operation, an explicit connected account (``Stripe-Account``) on every call that touches a
clinic's money, the API version pinned, and idempotency keys passed in by the caller. It returns the project's own
dataclasses and raises the project's own errors; no StripeObject leaves this module.

Addresses come from settings only (``CALLPAY_STRIPE_API_BASE``, ``…_CONNECT_BASE``), so the same code talks to
Stripe or to the offline sandbox without knowing which.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, urlencode

import stripe

from addon.settings import Settings

log = logging.getLogger("callpay.stripe")


class RoutineStripeLines(logging.Filter):
    """stripe-python logs two INFO lines for every call that went well ("Request to Stripe api", "Stripe API
    response"): a payment's webhook and its checkout each wrote them as JSON log lines, a few per cent of their
    CPU, saying nothing the request log and this module's own failure logs don't. Its retries and connection
    errors (also INFO) still go through."""

    ROUTINE = ("message='Request to Stripe api'", "message='Stripe API response'")

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith(self.ROUTINE))


ROUTINE_FILTER = RoutineStripeLines()
logging.getLogger("stripe").addFilter(ROUTINE_FILTER)

# Pinned here, and sent on every request (the clients below carry it), so Stripe's object shapes can't change under
# us when the SDK or the account's default moves; bump it deliberately, with the SDK (pinned to the version tested
# against it in pyproject.toml).
API_VERSION = "2026-10-28.endive"
# The SDK retries a call that failed on the way (a connection refused, dropped or timed out: CALLPAY_STRIPE_TIMEOUT_
# SECONDS per attempt), that Stripe answered with a 409 or a 5xx, or whose answer says ``Stripe-Should-Retry: true``
# (a 429 lock_timeout), never one that says ``false``; it waits about 0.5 s, then 1 s, between attempts. Every POST
# carries an idempotency key that its retries reuse (ours on every create that moves money, see :func:`keyed`;
# the SDK's own on the rest), so a retry never makes a second object.
NETWORK_RETRIES = 2


@dataclass(frozen=True)
class OAuthConnection:
    account_id: str
    publishable_key: str | None
    scope: str | None
    livemode: bool


@dataclass(frozen=True)
class AccountRequirements:
    """What Stripe still needs from an account (``requirements``), as requirement names such as
    ``external_account``; ``disabled_reason`` says why charges or payouts are off, when they are."""

    currently_due: tuple[str, ...] = ()
    past_due: tuple[str, ...] = ()
    eventually_due: tuple[str, ...] = ()
    pending_verification: tuple[str, ...] = ()
    disabled_reason: str | None = None
    current_deadline: int | None = None


@dataclass(frozen=True)
class ConnectedAccount:
    id: str
    name: str | None
    country: str | None
    default_currency: str | None
    charges_enabled: bool
    livemode: bool = False
    payouts_enabled: bool = False
    details_submitted: bool = False
    requirements: AccountRequirements = field(default_factory=AccountRequirements)


@dataclass(frozen=True)
class AccountLink:
    url: str
    expires_at: int


@dataclass(frozen=True)
class PaymentIntentInfo:
    id: str
    status: str
    amount: int
    amount_received: int
    currency: str
    client_secret: str | None
    receipt_email: str | None
    # From the expanded latest charge; a webhook payload carries the charge as an id only, and then this reads 0.
    amount_refunded: int = 0
    card_brand: str | None = None
    card_last4: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    # A card hold (capture_method=manual): what may still be captured, and by when (the charge's capture_before).
    capture_method: str = "automatic"
    amount_capturable: int = 0
    capture_before: int | None = None


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    type: str
    account: str | None
    created: int
    object: Mapping[str, Any]


@dataclass(frozen=True)
class WebhookEndpoint:
    id: str
    secret: str | None


@dataclass(frozen=True)
class RefundInfo:
    id: str
    amount: int
    currency: str
    # pending, requires_action, succeeded, failed or canceled, as Stripe says.
    status: str
    payment_intent: str | None
    charge: str | None
    created: int
    failure_reason: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ChargeFees:
    fee: int
    net: int


@dataclass(frozen=True)
class SavedPaymentMethod:
    """A card attached to a customer, as a page may name it: no number, only the brand, last four and expiry."""

    id: str
    customer: str | None
    card_brand: str | None = None
    card_last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None


@dataclass(frozen=True)
class SetupIntentInfo:
    """A SetupIntent (saving a card for later). ``payment_method`` is expanded when it was retrieved."""

    id: str
    status: str
    customer: str | None
    client_secret: str | None
    usage: str
    payment_method: SavedPaymentMethod | None = None
    payment_method_id: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


# Stripe's codes for "this charge has less left to refund than you asked": the caller says how much is left.
REFUND_REFUSALS = frozenset({"amount_too_large", "charge_already_refunded"})


# --- What can go wrong, as types ---------------------------------------------------------------------------
# The gateway says what happened, never how to put it to a person: the service that knows who is reading chooses
# the words (addon/services/stripe_errors.py). ``code`` is Stripe's own code, for logs; branch on the type.


class StripeFailure(Exception):
    """Stripe refused a request, or could not be asked."""

    def __init__(self, code: str | None = None, *, param: str | None = None) -> None:
        super().__init__(code or type(self).__name__)
        self.code = code
        self.param = param


class StripeUnavailable(StripeFailure):
    """Stripe could not be reached or answered with its own error (network, rate limit, 5xx): try again later."""


class StripeMisconfigured(StripeFailure):
    """Stripe refused the platform's own credentials: nothing a clinic or patient can fix."""


class AccessRevoked(StripeFailure):
    """The connected account no longer lets Callpay act on it (removed in the Stripe dashboard)."""


class Declined(StripeFailure):
    """The card was declined. ``stripe_message`` is Stripe's own text for the cardholder, when it gave one."""

    def __init__(self, code: str | None = None, *, stripe_message: str | None = None) -> None:
        super().__init__(code)
        self.stripe_message = stripe_message


class OffSessionDeclined(Declined):
    """A saved card charged without its holder present was refused: the bank wants them to authenticate
    (``authentication_required``) or declined it. ``intent_id`` is the PaymentIntent Stripe left behind."""

    def __init__(
        self, code: str | None = None, *, stripe_message: str | None = None, intent_id: str | None = None
    ) -> None:
        super().__init__(code, stripe_message=stripe_message)
        self.intent_id = intent_id

    @property
    def needs_authentication(self) -> bool:
        return self.code == "authentication_required"


class NotCancelable(StripeFailure):
    """The PaymentIntent can no longer be canceled: it succeeded or is processing."""


class NotUpdatable(StripeFailure):
    """The PaymentIntent's amount can no longer be changed: it is being paid (processing), paid, or canceled."""


class NotCapturable(StripeFailure):
    """The hold can't be captured: already captured, released, or past its capture_before."""


class AmountRejected(StripeFailure):
    """Stripe won't take a card payment of this amount (``code`` says too small or too large)."""

    @property
    def too_large(self) -> bool:
        return self.code == "amount_too_large"


class OAuthRefused(StripeFailure):
    """Stripe refused a Connect authorisation code: expired, used already, or not ours."""


class RefundRefused(StripeFailure):
    """Stripe refused a refund because the charge hasn't that much left (someone refunded it elsewhere)."""


class StripeRefused(StripeFailure):
    """Any other request Stripe refused. ``stripe_message`` is Stripe's own text, kept for the services to judge."""

    def __init__(self, code: str | None = None, *, param: str | None = None, stripe_message: str | None = None):
        super().__init__(code, param=param)
        self.stripe_message = stripe_message


class InvalidSignature(Exception):
    """A webhook whose signature does not verify against any configured secret."""


class MalformedEvent(Exception):
    """A webhook that verifies but isn't an event Callpay can read (no ``id``, no ``data.object``, wrong types)."""


class _AIOHTTPClient(stripe.AIOHTTPClient):
    """The SDK's aiohttp transport, with a body that fails half way treated like any other network failure.

    The SDK reads the response body outside its own error handling, so a connection dropped mid-body
    (``ClientPayloadError``) or a body slower than the timeout (``TimeoutError``) escaped as itself: not retried,
    and not a ``StripeError`` at all. Here they are ``APIConnectionError``s, which the SDK retries."""

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        content, status, response_headers = await self.request_stream_async(method, url, headers, post_data=post_data)
        try:
            body = await content.read()
        except Exception as exc:
            raise stripe.APIConnectionError(  # type: ignore[no-untyped-call]  # the SDK leaves it untyped
                f"Stripe's answer was cut off or too slow ({type(exc).__name__}).", should_retry=True
            ) from exc
        return body, status, response_headers


class StripeGateway:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: stripe.StripeClient | None = None
        # The SDK's OAuth calls are synchronous only: they get a client of their own, run on a worker thread.
        self._oauth_client: stripe.StripeClient | None = None

    async def open(self) -> None:
        timeout = self._settings.stripe_timeout_seconds
        self._client = self._new_client(http_client=_AIOHTTPClient(timeout=timeout))
        self._oauth_client = self._new_client(http_client=stripe.new_default_http_client(timeout=timeout))

    def _new_client(self, *, http_client: stripe.HTTPClient | None) -> stripe.StripeClient:
        return stripe.StripeClient(
            self._settings.stripe_secret_key.reveal(),
            stripe_version=API_VERSION,
            base_addresses={"api": self._settings.stripe_api_base, "connect": self._settings.stripe_connect_base},
            client_id=self._settings.stripe_connect_client_id,
            http_client=http_client,
            max_network_retries=NETWORK_RETRIES,
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client._requestor._get_http_client().close_async()  # type: ignore[no-untyped-call]  # no public close
            self._client = None

    @property
    def client(self) -> stripe.StripeClient:
        if self._client is None:
            raise RuntimeError("StripeGateway used before open()")
        return self._client

    async def _json(
        self, method: str, path: str, params: Mapping[str, Any], options: Mapping[str, str]
    ) -> dict[str, Any]:
        """One API call through the SDK's own requestor (the same retries, timeouts, idempotency keys, headers and
        errors as its typed services), answered as the plain JSON Stripe sent: for the calls on a payment's hot
        path (a checkout's create, a webhook's re-read), building the SDK's StripeObject tree and turning it back
        into a dict cost more CPU than the rest of the call."""
        try:
            answer = await self.client.raw_request_async(method, path, **params, **options)
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        data = answer.data
        if not isinstance(data, dict):
            raise StripeUnavailable("invalid_response")
        return data

    # --- Connect OAuth -------------------------------------------------------------------------------------

    def authorize_url(self, *, state: str, redirect_uri: str) -> str:
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self._settings.stripe_connect_client_id,
                "scope": "read_write",
                "redirect_uri": redirect_uri,
                "state": state,
            }
        )
        return f"{self._settings.stripe_connect_base}/oauth/authorize?{query}"

    async def exchange_oauth_code(self, code: str) -> OAuthConnection:
        # The SDK's OAuth calls are synchronous; run them on a thread so the event loop keeps serving calls.
        sync_client = self._oauth_client
        assert sync_client is not None, "StripeGateway used before open()"
        try:
            token = await asyncio.to_thread(sync_client.oauth.token, {"grant_type": "authorization_code", "code": code})
        except stripe.oauth_error.OAuthError as exc:
            log.warning("oauth exchange refused", extra={"stripe_code": exc.code})
            raise OAuthRefused(exc.code) from exc
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return OAuthConnection(
            account_id=str(token["stripe_user_id"]),
            publishable_key=getattr(token, "stripe_publishable_key", None),
            scope=getattr(token, "scope", None),
            livemode=bool(getattr(token, "livemode", False)),
        )

    async def deauthorize(self, account_id: str) -> None:
        sync_client = self._oauth_client
        assert sync_client is not None, "StripeGateway used before open()"
        try:
            await asyncio.to_thread(
                sync_client.oauth.deauthorize,
                {"client_id": self._settings.stripe_connect_client_id, "stripe_user_id": account_id},
            )
        except stripe.oauth_error.OAuthError as exc:
            # Already disconnected on Stripe's side: the outcome the caller wants.
            log.info("deauthorize: account already disconnected", extra={"stripe_code": exc.code})
        except stripe.StripeError as exc:
            raise _translate(exc) from exc

    # --- Accounts ------------------------------------------------------------------------------------------

    async def retrieve_account(self, account_id: str) -> ConnectedAccount:
        try:
            account = await self.client.v1.accounts.retrieve_async(account_id)
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return account_from_object(account.to_dict())

    async def create_account(
        self, *, country: str, business_name: str | None, metadata: Mapping[str, str], idempotency_key: str
    ) -> ConnectedAccount:
        """An account the platform makes for a clinic: the clinic's own, as a standard account is (it pays its own
        Stripe fees, has the full Stripe dashboard, and Stripe collects what it needs on its hosted onboarding)."""
        params: dict[str, Any] = {
            "country": country,
            "controller": {
                "fees": {"payer": "account"},
                "losses": {"payments": "stripe"},
                "stripe_dashboard": {"type": "full"},
            },
            "metadata": dict(metadata),
        }
        if business_name:
            params["business_profile"] = {"name": business_name}
        try:
            account = await self.client.v1.accounts.create_async(
                params,  # type: ignore[arg-type]
                options={"idempotency_key": keyed(idempotency_key, params)},
            )
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return account_from_object(account.to_dict())

    async def create_account_link(self, *, account_id: str, refresh_url: str, return_url: str) -> AccountLink:
        """A single-use address of Stripe's hosted onboarding for the account; it lasts minutes, so make it just
        before sending the person there."""
        try:
            link = await self.client.v1.account_links.create_async(
                {
                    "account": account_id,
                    "type": "account_onboarding",
                    "refresh_url": refresh_url,
                    "return_url": return_url,
                }
            )
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return AccountLink(url=link.url, expires_at=int(link.expires_at))

    # --- PaymentIntents ------------------------------------------------------------------------------------

    async def create_payment_intent(
        self,
        *,
        account_id: str,
        amount: int,
        currency: str,
        description: str,
        receipt_email: str | None,
        metadata: Mapping[str, str],
        idempotency_scope: str,
        application_fee_amount: int | None = None,
        capture_method: str | None = None,
    ) -> PaymentIntentInfo:
        """A PaymentIntent on the connected account. ``idempotency_scope`` names the attempt (one per payment
        request); the key sent is that scope plus a digest of exactly the parameters sent, see :func:`keyed`."""
        params: dict[str, Any] = {
            "amount": amount,
            "currency": currency,
            "description": description,
            "metadata": dict(metadata),
            # The patient pays inside an iframe in a video call: a payment method that leaves the page for a bank
            # or wallet would come back to a widget without its launch (a 401 page). Offer only methods that
            # complete in place; cards' 3-D Secure still runs in Stripe.js's own dialog.
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
        }
        if receipt_email:
            params["receipt_email"] = receipt_email
        if application_fee_amount:
            params["application_fee_amount"] = application_fee_amount
        if capture_method == "manual":
            params["capture_method"] = "manual"
        intent = await self._json(
            "post",
            "/v1/payment_intents",
            params,
            {"stripe_account": account_id, "idempotency_key": keyed(idempotency_scope, params)},
        )
        return intent_from_object(intent)

    async def update_receipt_email(self, *, account_id: str, intent_id: str, receipt_email: str) -> None:
        try:
            await self.client.v1.payment_intents.update_async(
                intent_id, {"receipt_email": receipt_email}, options={"stripe_account": account_id}
            )
        except stripe.StripeError as exc:
            raise _translate(exc) from exc

    async def update_payment_intent_amount(
        self,
        *,
        account_id: str,
        intent_id: str,
        amount: int,
        metadata: Mapping[str, str],
        application_fee_amount: int | None = None,
    ) -> PaymentIntentInfo:
        """A new amount (and the metadata saying what it covers) for an intent not yet paid; one that is already
        processing, paid or canceled is :class:`NotUpdatable`, so the caller knows the money may have moved."""
        params: dict[str, Any] = {"amount": amount, "metadata": dict(metadata)}
        if application_fee_amount:
            params["application_fee_amount"] = application_fee_amount
        try:
            intent = await self.client.v1.payment_intents.update_async(
                intent_id,
                params,  # type: ignore[arg-type]
                options={"stripe_account": account_id},
            )
        except stripe.InvalidRequestError as exc:
            if exc.code == "payment_intent_unexpected_state":
                raise NotUpdatable(exc.code) from exc
            raise _translate(exc) from exc
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return intent_from_object(intent.to_dict())

    async def retrieve_payment_intent(self, *, account_id: str, intent_id: str) -> PaymentIntentInfo:
        intent = await self._json(
            "get", f"/v1/payment_intents/{quote_plus(intent_id)}", {"expand": ["latest_charge"]},
            {"stripe_account": account_id},
        )  # fmt: skip
        return intent_from_object(intent)

    async def cancel_payment_intent(self, *, account_id: str, intent_id: str, idempotency_key: str) -> None:
        try:
            await self.client.v1.payment_intents.cancel_async(
                intent_id, options={"stripe_account": account_id, "idempotency_key": idempotency_key}
            )
        except stripe.InvalidRequestError as exc:
            if exc.code == "payment_intent_unexpected_state":
                raise NotCancelable(exc.code) from exc
            raise _translate(exc) from exc
        except stripe.StripeError as exc:
            raise _translate(exc) from exc

    async def capture_payment_intent(
        self, *, account_id: str, intent_id: str, amount: int, idempotency_key: str
    ) -> PaymentIntentInfo:
        """Charge ``amount`` of a card hold (the rest goes back to the cardholder). A hold that can't be captured
        any more (released, lapsed, already captured) is :class:`NotCapturable`."""
        try:
            intent = await self.client.v1.payment_intents.capture_async(
                intent_id,
                {"amount_to_capture": amount, "expand": ["latest_charge"]},
                options={"stripe_account": account_id, "idempotency_key": idempotency_key},
            )
        except stripe.InvalidRequestError as exc:
            if exc.code == "payment_intent_unexpected_state":
                raise NotCapturable(exc.code) from exc
            raise _translate(exc) from exc
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return intent_from_object(intent.to_dict())

    async def charge_off_session(
        self,
        *,
        account_id: str,
        customer_id: str,
        payment_method_id: str,
        amount: int,
        currency: str,
        description: str,
        metadata: Mapping[str, str],
        idempotency_scope: str,
        application_fee_amount: int | None = None,
    ) -> PaymentIntentInfo:
        """Charge a saved card with its holder absent (``off_session``, confirmed at once). A refusal is
        :class:`OffSessionDeclined`, naming the PaymentIntent Stripe made; a retry of the same scope and parameters
        replays Stripe's first answer, so it never charges twice."""
        params: dict[str, Any] = {
            "amount": amount,
            "currency": currency,
            "customer": customer_id,
            "payment_method": payment_method_id,
            "off_session": True,
            "confirm": True,
            "description": description,
            "metadata": dict(metadata),
            "payment_method_types": ["card"],
            "expand": ["latest_charge"],
        }
        if application_fee_amount:
            params["application_fee_amount"] = application_fee_amount
        try:
            intent = await self.client.v1.payment_intents.create_async(
                params,  # type: ignore[arg-type]
                options={"stripe_account": account_id, "idempotency_key": keyed(idempotency_scope, params)},
            )
        except stripe.CardError as exc:
            error = exc.error
            intent_obj = getattr(error, "payment_intent", None) if error is not None else None
            code = (getattr(error, "decline_code", None) if exc.code == "card_declined" else None) or exc.code
            log.info("off-session charge refused", extra={"stripe_code": exc.code})
            raise OffSessionDeclined(
                code, stripe_message=exc.user_message, intent_id=getattr(intent_obj, "id", None)
            ) from exc
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return intent_from_object(intent.to_dict())

    # --- Customers and saved cards -------------------------------------------------------------------------

    async def create_customer(
        self, *, account_id: str, email: str | None, name: str | None, metadata: Mapping[str, str], idempotency_key: str
    ) -> str:
        """A Customer on the connected account (a patient of that clinic); returns its id."""
        params: dict[str, Any] = {"metadata": dict(metadata)}
        if email:
            params["email"] = email
        if name:
            params["name"] = name
        try:
            customer = await self.client.v1.customers.create_async(
                params,  # type: ignore[arg-type]
                options={"stripe_account": account_id, "idempotency_key": keyed(idempotency_key, params)},
            )
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return str(customer.id)

    async def create_setup_intent(
        self, *, account_id: str, customer_id: str, metadata: Mapping[str, str], idempotency_scope: str
    ) -> SetupIntentInfo:
        """A SetupIntent that saves a card for off-session charges, confirmed in the browser by Stripe.js."""
        params: dict[str, Any] = {
            "customer": customer_id,
            "usage": "off_session",
            # As for payments: only methods that complete inside the call window (no redirect out of the iframe).
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "metadata": dict(metadata),
        }
        try:
            setup = await self.client.v1.setup_intents.create_async(
                params,  # type: ignore[arg-type]
                options={"stripe_account": account_id, "idempotency_key": keyed(idempotency_scope, params)},
            )
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return setup_intent_from_object(setup.to_dict())

    async def retrieve_setup_intent(self, *, account_id: str, setup_intent_id: str) -> SetupIntentInfo:
        try:
            setup = await self.client.v1.setup_intents.retrieve_async(
                setup_intent_id, {"expand": ["payment_method"]}, options={"stripe_account": account_id}
            )
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return setup_intent_from_object(setup.to_dict())

    async def cancel_setup_intent(self, *, account_id: str, setup_intent_id: str) -> None:
        try:
            await self.client.v1.setup_intents.cancel_async(
                setup_intent_id, {"cancellation_reason": "abandoned"}, options={"stripe_account": account_id}
            )
        except stripe.InvalidRequestError as exc:
            if exc.code == "setup_intent_unexpected_state":
                return  # already succeeded or canceled: nothing to stop
            raise _translate(exc) from exc
        except stripe.StripeError as exc:
            raise _translate(exc) from exc

    async def retrieve_payment_method(self, *, account_id: str, payment_method_id: str) -> SavedPaymentMethod:
        try:
            pm = await self.client.v1.payment_methods.retrieve_async(
                payment_method_id, options={"stripe_account": account_id}
            )
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return payment_method_from_object(pm.to_dict())

    async def detach_payment_method(self, *, account_id: str, payment_method_id: str) -> None:
        """Take a saved card off its customer, so it can never be charged for them again. One already detached
        is the outcome the caller wants."""
        try:
            await self.client.v1.payment_methods.detach_async(payment_method_id, options={"stripe_account": account_id})
        except stripe.InvalidRequestError as exc:
            if exc.code in ("payment_method_unexpected_state", "resource_missing"):
                log.info("payment method already detached", extra={"stripe_code": exc.code})
                return
            raise _translate(exc) from exc
        except stripe.StripeError as exc:
            raise _translate(exc) from exc

    # --- Refunds -------------------------------------------------------------------------------------------

    async def create_refund(
        self, *, account_id: str, intent_id: str, amount: int, metadata: Mapping[str, str], idempotency_scope: str
    ) -> RefundInfo:
        """Refund part or all of a PaymentIntent's charge. ``idempotency_scope`` names the one refund asked for
        (the caller's client reference), so a retry of it replays Stripe's first answer and never refunds twice."""
        params: dict[str, Any] = {"payment_intent": intent_id, "amount": amount, "metadata": dict(metadata)}
        try:
            refund = await self.client.v1.refunds.create_async(
                params,  # type: ignore[arg-type]
                options={"stripe_account": account_id, "idempotency_key": keyed(idempotency_scope, params)},
            )
        except stripe.InvalidRequestError as exc:
            if exc.code in REFUND_REFUSALS:
                log.info("stripe refused a refund", extra={"stripe_code": exc.code})
                raise RefundRefused(exc.code or "refund_refused") from exc
            raise _translate(exc) from exc
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return refund_from_object(refund.to_dict())

    async def retrieve_refund(self, *, account_id: str, refund_id: str) -> RefundInfo:
        try:
            refund = await self.client.v1.refunds.retrieve_async(refund_id, options={"stripe_account": account_id})
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return refund_from_object(refund.to_dict())

    async def list_refunds(self, *, account_id: str, intent_id: str) -> list[RefundInfo]:
        """Every refund of a PaymentIntent, newest first (a payment has a handful at most: one page of 100)."""
        try:
            page = await self.client.v1.refunds.list_async(
                {"payment_intent": intent_id, "limit": 100}, options={"stripe_account": account_id}
            )
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return [refund_from_object(item.to_dict()) for item in page.data]

    async def retrieve_charge_fees(self, *, account_id: str, charge_id: str) -> ChargeFees | None:
        """Stripe's fee and the clinic's net for a charge, from its balance transaction; None until Stripe has one."""
        try:
            charge = await self.client.v1.charges.retrieve_async(
                charge_id, {"expand": ["balance_transaction"]}, options={"stripe_account": account_id}
            )
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return fees_from_charge(charge.to_dict())

    # --- Webhooks ------------------------------------------------------------------------------------------

    def parse_webhook(self, payload: bytes, signature: str | None) -> WebhookEvent:
        """Verify ``Stripe-Signature`` over the raw body against every configured secret."""
        if not signature:
            raise InvalidSignature("missing Stripe-Signature")
        for secret in self._settings.webhook_secrets:
            try:
                # The SDK's own check (signature and timestamp tolerance); the verified body is then read as plain
                # JSON rather than built into the SDK's Event object tree, which cost more than the check.
                stripe.WebhookSignature.verify_header(payload, signature, secret, stripe.Webhook.DEFAULT_TOLERANCE)
                data = json.loads(payload.decode("utf-8"))
            except stripe.SignatureVerificationError:
                continue
            except RecursionError as exc:
                # Signed JSON nested deeper than Python's parser recurses.
                raise MalformedEvent("payload is nested too deeply") from exc
            except ValueError as exc:
                raise InvalidSignature("payload is not JSON") from exc
            if isinstance(data, Mapping) and data.get("object") == "v2.core.event":
                raise InvalidSignature("payload is a thin event, not a snapshot event")
            try:
                return webhook_event(data)
            except (KeyError, TypeError, ValueError, OverflowError, RecursionError) as exc:
                raise MalformedEvent(f"event is malformed: {type(exc).__name__}") from exc
        raise InvalidSignature("signature does not match")

    async def create_webhook_endpoint(self, *, url: str, connect: bool, events: list[str]) -> WebhookEndpoint:
        try:
            endpoint = await self.client.v1.webhook_endpoints.create_async(
                {"url": url, "enabled_events": events, "connect": connect, "api_version": API_VERSION}  # type: ignore[typeddict-item]
            )
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return WebhookEndpoint(id=endpoint.id, secret=getattr(endpoint, "secret", None))


def keyed(scope: str, params: Mapping[str, Any]) -> str:
    """An idempotency key for ``params`` sent under ``scope``.

    Stripe replays the first answer to a key only for the same parameters and refuses the key with any others
    (``IdempotencyError``). Some of what a create sends can change between two attempts of one scope (the clinic's
    application fee, the clinician's name in the metadata, a receipt address, this module's own defaults after a
    deploy), so the digest of everything sent is part of the key: a retry of the same attempt replays, a changed
    attempt is a new request. Keeping one object per scope is the caller's conditional UPDATE's job, not the key's.
    """
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{scope}:{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"


# --- Translation from Stripe's objects and errors ----------------------------------------------------------


# Stripe's ids and event types are far shorter; the inbox keeps id, type and account in columns this wide.
EVENT_TEXT_MAX = 100


def webhook_event(data: Mapping[str, Any]) -> WebhookEvent:
    """An event as Callpay reads it, from Stripe's JSON: a body just verified, or one kept in the inbox.

    Raises ``KeyError``/``TypeError``/``ValueError`` for anything that isn't shaped like one of Stripe's events."""
    if not isinstance(data, Mapping):
        raise TypeError("event is not an object")
    event_id, kind, account, created = data["id"], data["type"], data.get("account"), data.get("created", 0)
    body = data["data"]
    if not isinstance(body, Mapping) or not isinstance(body.get("object"), Mapping):
        raise TypeError("event data.object is not an object")
    if not isinstance(event_id, str) or not isinstance(kind, str) or not 0 < len(event_id) <= EVENT_TEXT_MAX:
        raise TypeError("event id or type is not text")
    if len(kind) > EVENT_TEXT_MAX:
        raise ValueError("event type is too long")
    if account is not None and (not isinstance(account, str) or len(account) > EVENT_TEXT_MAX):
        raise TypeError("event account is not text")
    if isinstance(created, bool) or not isinstance(created, int | float) or not 0 <= created < 2**40:
        raise ValueError("event created is not a time")
    for text in (event_id, kind, account or ""):
        if "\x00" in text or not text.isprintable():
            raise ValueError("event id holds control characters")
    return WebhookEvent(id=event_id, type=kind, account=account, created=int(created), object=body["object"])


def account_from_object(data: Mapping[str, Any]) -> ConnectedAccount:
    profile = data.get("business_profile") or {}
    settings = data.get("settings") or {}
    dashboard = settings.get("dashboard") or {}
    return ConnectedAccount(
        id=data["id"],
        name=profile.get("name") or dashboard.get("display_name"),
        country=data.get("country"),
        default_currency=data.get("default_currency"),
        charges_enabled=bool(data.get("charges_enabled")),
        livemode=bool(data.get("livemode", False)),
        payouts_enabled=bool(data.get("payouts_enabled")),
        details_submitted=bool(data.get("details_submitted")),
        requirements=requirements_from_object(data.get("requirements") or {}),
    )


def requirements_from_object(data: Mapping[str, Any]) -> AccountRequirements:
    def names(key: str) -> tuple[str, ...]:
        value = data.get(key) or []
        return tuple(str(item) for item in value) if isinstance(value, list) else ()

    deadline = data.get("current_deadline")
    reason = data.get("disabled_reason")
    return AccountRequirements(
        currently_due=names("currently_due"),
        past_due=names("past_due"),
        eventually_due=names("eventually_due"),
        pending_verification=names("pending_verification"),
        disabled_reason=str(reason) if reason else None,
        current_deadline=int(deadline) if isinstance(deadline, int) else None,
    )


def refund_from_object(data: Mapping[str, Any]) -> RefundInfo:
    charge = data.get("charge")
    intent = data.get("payment_intent")
    return RefundInfo(
        id=data["id"],
        amount=int(data["amount"]),
        currency=data["currency"],
        status=data.get("status") or "pending",
        payment_intent=intent.get("id") if isinstance(intent, Mapping) else intent,
        charge=charge.get("id") if isinstance(charge, Mapping) else charge,
        created=int(data.get("created") or 0),
        failure_reason=data.get("failure_reason"),
        metadata=dict(data.get("metadata") or {}),
    )


def fees_from_charge(data: Mapping[str, Any]) -> ChargeFees | None:
    balance = data.get("balance_transaction")
    if not isinstance(balance, Mapping) or balance.get("fee") is None or balance.get("net") is None:
        return None
    return ChargeFees(fee=int(balance["fee"]), net=int(balance["net"]))


def payment_method_from_object(data: Mapping[str, Any]) -> SavedPaymentMethod:
    card = data.get("card") or {}
    customer = data.get("customer")
    return SavedPaymentMethod(
        id=data["id"],
        customer=customer.get("id") if isinstance(customer, Mapping) else customer,
        card_brand=card.get("brand"),
        card_last4=card.get("last4"),
        exp_month=int(card["exp_month"]) if card.get("exp_month") else None,
        exp_year=int(card["exp_year"]) if card.get("exp_year") else None,
    )


def setup_intent_from_object(data: Mapping[str, Any]) -> SetupIntentInfo:
    pm = data.get("payment_method")
    customer = data.get("customer")
    error = data.get("last_setup_error") or {}
    return SetupIntentInfo(
        id=data["id"],
        status=data["status"],
        customer=customer.get("id") if isinstance(customer, Mapping) else customer,
        client_secret=data.get("client_secret"),
        usage=str(data.get("usage") or "off_session"),
        payment_method=payment_method_from_object(pm) if isinstance(pm, Mapping) else None,
        payment_method_id=pm.get("id") if isinstance(pm, Mapping) else pm,
        failure_code=error.get("decline_code") or error.get("code"),
        failure_message=error.get("message"),
        metadata=dict(data.get("metadata") or {}),
    )


def intent_from_object(data: Mapping[str, Any]) -> PaymentIntentInfo:
    charge = data.get("latest_charge")
    brand = last4 = None
    refunded = 0
    capture_before: int | None = None
    if isinstance(charge, Mapping):
        card = (charge.get("payment_method_details") or {}).get("card") or {}
        brand, last4 = card.get("brand"), card.get("last4")
        capture_before = int(card["capture_before"]) if card.get("capture_before") else None
        refunded = refunded_after_capture(charge)
    error = data.get("last_payment_error") or {}
    return PaymentIntentInfo(
        id=data["id"],
        status=data["status"],
        amount=int(data["amount"]),
        amount_received=int(data.get("amount_received") or 0),
        currency=data["currency"],
        client_secret=data.get("client_secret"),
        receipt_email=data.get("receipt_email"),
        amount_refunded=refunded,
        card_brand=brand,
        card_last4=last4,
        failure_code=error.get("decline_code") or error.get("code"),
        failure_message=error.get("message"),
        metadata=dict(data.get("metadata") or {}),
        capture_method=str(data.get("capture_method") or "automatic"),
        amount_capturable=int(data.get("amount_capturable") or 0),
        capture_before=capture_before,
    )


def refunded_after_capture(charge: Mapping[str, Any]) -> int:
    """What was refunded of what the charge took: a smaller capture's released rest is in Stripe's
    ``amount_refunded`` too, but it was never taken, so it is not a refund of the payment."""
    refunded = int(charge.get("amount_refunded") or 0)
    if charge.get("captured") and charge.get("amount_captured") is not None and charge.get("amount") is not None:
        refunded -= int(charge["amount"]) - int(charge["amount_captured"])
    return max(refunded, 0)


def _translate(exc: stripe.StripeError) -> StripeFailure:
    """Stripe's error as one of the gateway's types, logged with what an operator needs and nothing personal."""
    if isinstance(exc, stripe.CardError):
        return Declined(exc.code, stripe_message=exc.user_message)
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError):
        return StripeUnavailable(exc.code)
    if isinstance(exc, stripe.AuthenticationError):
        log.error("stripe rejected our API key")
        return StripeMisconfigured(exc.code)
    if isinstance(exc, stripe.IdempotencyError):
        # Our bug, not the network: a key reused with other parameters. Say so in the log; the person retries.
        log.error("stripe refused an idempotency key reused with other parameters")
        return StripeUnavailable(exc.code)
    if isinstance(exc, stripe.PermissionError):
        return AccessRevoked(exc.code)
    if isinstance(exc, stripe.InvalidRequestError):
        log.warning("stripe refused a request", extra={"stripe_code": exc.code, "param": exc.param})
        if exc.code in ("amount_too_small", "amount_too_large"):
            return AmountRejected(exc.code, param=exc.param)
        return StripeRefused(exc.code, param=exc.param, stripe_message=exc.user_message)
    log.error("stripe error", extra={"stripe_code": exc.code, "http_status": exc.http_status})
    return StripeUnavailable(exc.code)
