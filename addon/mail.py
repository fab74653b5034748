"""Sending email: one small interface, and the SMTP implementation behind it.

Production and tests use the same :class:`SmtpTransport`; tests point it at a real local SMTP server, so what is
tested is what runs. The interface exists so the outbox worker depends on "something that sends a message", not on
aiosmtplib's API.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib

SEND_TIMEOUT = 30.0


class MailTransport(Protocol):
    async def send(self, message: EmailMessage) -> None:
        """Hand ``message`` to the mail server; raise :class:`MailError` when it was not accepted."""


class MailError(Exception):
    """The message was not accepted; worth trying again later."""


@dataclass(frozen=True)
class SmtpAddress:
    host: str
    port: int
    use_tls: bool
    username: str | None
    password: str | None


def parse_smtp_url(url: str) -> SmtpAddress:
    """``smtp://[user:password@]host:port`` (STARTTLS when offered; required with a password) or ``smtps://``."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname or parts.port is None:
        raise ValueError("use smtp://[user:password@]host:port")
    return SmtpAddress(
        host=parts.hostname,
        port=parts.port,
        use_tls=parts.scheme == "smtps",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


class SmtpTransport:
    def __init__(self, url: str, *, timeout: float = SEND_TIMEOUT) -> None:
        self._address = parse_smtp_url(url)
        self._timeout = timeout

    def __repr__(self) -> str:
        # The URL may hold a password: show only where mail goes.
        return f"SmtpTransport({self._address.host}:{self._address.port})"

    async def send(self, message: EmailMessage) -> None:
        address = self._address
        try:
            await aiosmtplib.send(
                message,
                hostname=address.host,
                port=address.port,
                use_tls=address.use_tls,
                # Without a password, upgrade to TLS when offered (local relays often don't offer it). With one,
                # STARTTLS is required: merely opportunistic, a server (or anyone in between) that doesn't offer
                # it would get the password in clear.
                start_tls=False if address.use_tls else (True if address.username else None),
                username=address.username,
                password=address.password,
                timeout=self._timeout,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise MailError(_describe(exc)) from exc


def _describe(exc: BaseException) -> str:
    """A short reason for the outbox row's ``last_error``, never including credentials."""
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"SMTP {exc.code}: {exc.message}"[:500]
    return f"{type(exc).__name__}: {exc}"[:500]
