"""The sandbox's memory: accounts, their Stripe objects, Connect links, OAuth codes, idempotent results."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import clock
from .cards import TestCard
from .ids import platform_account_id, random_token

JSON = dict[str, Any]
EventListener = Callable[["Account", JSON, "list[str] | None"], None]


def now() -> int:
    """The sandbox's time (see :mod:`.clock`: tests move it forward)."""
    return clock.current().now()


@dataclass
class WebhookEndpoint:
    object: JSON  # what the API shows (without the secret)
    secret: str
    connect: bool


@dataclass
class Account:
    """One Stripe account: a platform made from ``sk_test_<token>`` or an account made on the OAuth page."""

    id: str
    token: str  # the X in sk_test_X / pk_test_X / ca_X
    created: int
    business_name: str | None
    country: str
    default_currency: str
    email: str | None = None
    charges_enabled: bool = True
    details_submitted: bool = True
    payouts_enabled: bool = True
    made_on_oauth_page: bool = False
    # Set for accounts a platform made with POST /v1/accounts (see accounts_api): who made it, its controller,
    # and what Stripe still needs from it. None keeps the OAuth page's standard account as it always was.
    created_by: str | None = None
    controller: JSON | None = None
    requirements: JSON | None = None
    payment_intents: dict[str, JSON] = field(default_factory=dict)
    charges: dict[str, JSON] = field(default_factory=dict)
    refunds: dict[str, JSON] = field(default_factory=dict)
    payment_methods: dict[str, JSON] = field(default_factory=dict)
    events: dict[str, JSON] = field(default_factory=dict)
    webhook_endpoints: dict[str, WebhookEndpoint] = field(default_factory=dict)
    cards: dict[str, TestCard] = field(default_factory=dict)  # payment method id -> how its card behaves
    customers: dict[str, JSON] = field(default_factory=dict)
    setup_intents: dict[str, JSON] = field(default_factory=dict)
    balance_transactions: dict[str, JSON] = field(default_factory=dict)
    application_fees: dict[str, JSON] = field(default_factory=dict)  # fees this account collected as a platform
    set_up_off_session: set[str] = field(default_factory=set)  # payment methods a SetupIntent authenticated
    spent_payment_methods: set[str] = field(default_factory=set)  # used once unsaved, or detached: not reusable

    @property
    def secret_key(self) -> str:
        return f"sk_test_{self.token}"

    @property
    def publishable_key(self) -> str:
        return f"pk_test_{self.token}"

    @property
    def client_id(self) -> str:
        return f"ca_{self.token}"


@dataclass(frozen=True)
class OAuthCode:
    platform_id: str
    account_id: str
    scope: str
    expires_at: float


@dataclass(frozen=True)
class IdempotentResult:
    fingerprint: tuple[str, str, str]
    status: int
    body: bytes
    request_id: str


@dataclass
class SandboxState:
    accounts: dict[str, Account] = field(default_factory=dict)
    by_token: dict[str, str] = field(default_factory=dict)
    connections: dict[str, set[str]] = field(default_factory=dict)  # platform id -> connected account ids
    oauth_codes: dict[str, OAuthCode] = field(default_factory=dict)
    # OAuth access tokens (the X of sk_test_X / pk_test_X) and refresh tokens -> (platform id, account id)
    access_tokens: dict[str, tuple[str, str]] = field(default_factory=dict)
    refresh_tokens: dict[str, tuple[str, str]] = field(default_factory=dict)
    idempotency: dict[tuple[str, str, str], IdempotentResult] = field(default_factory=dict)
    listeners: list[EventListener] = field(default_factory=list)
    account_links: dict[str, Any] = field(default_factory=dict)  # token -> accounts_api.AccountLink

    def reset(self) -> None:
        fresh = SandboxState(listeners=self.listeners)
        self.__dict__.update(fresh.__dict__)

    def account_for_token(self, token: str) -> Account:
        """The account behind a key's token; an unknown token is a new platform, as the contract says."""
        account_id = self.by_token.get(token)
        if account_id is not None:
            return self.accounts[account_id]
        return self._add_account(token, business_name=f"Sandbox platform {token}", country="AU", currency="aud")

    def create_account(self, *, business_name: str, country: str, currency: str, email: str | None) -> Account:
        return self._add_account(
            "acct" + random_token(20),
            business_name=business_name,
            country=country,
            currency=currency,
            email=email,
            made_on_oauth_page=True,
        )

    def _add_account(
        self,
        token: str,
        *,
        business_name: str,
        country: str,
        currency: str,
        email: str | None = None,
        made_on_oauth_page: bool = False,
    ) -> Account:
        account = Account(
            id=platform_account_id(token),
            token=token,
            created=now(),
            business_name=business_name,
            country=country,
            default_currency=currency,
            email=email,
            made_on_oauth_page=made_on_oauth_page,
        )
        self.accounts[account.id] = account
        self.by_token[token] = account.id
        return account

    def is_connected(self, platform_id: str, account_id: str) -> bool:
        return account_id in self.connections.get(platform_id, set())

    def connected_account(self, platform_id: str, account_id: str) -> Account | None:
        """``account_id``'s account when it is connected to ``platform_id``; else None."""
        return self.accounts.get(account_id) if self.is_connected(platform_id, account_id) else None

    def platforms_of(self, account_id: str) -> list[str]:
        return [platform for platform, accounts in self.connections.items() if account_id in accounts]

    def connect(self, platform_id: str, account_id: str) -> None:
        self.connections.setdefault(platform_id, set()).add(account_id)

    def disconnect(self, platform_id: str, account_id: str) -> None:
        self.connections.get(platform_id, set()).discard(account_id)
        for tokens in (self.access_tokens, self.refresh_tokens):
            for token, link in list(tokens.items()):
                if link == (platform_id, account_id):
                    del tokens[token]
