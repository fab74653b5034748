"""The SMTP transport against a real local server (aiosmtpd), as receipts are sent."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from addon.mail import MailError, SmtpTransport
from sandbox.mailbox import RunningMailbox
from tests.conftest import free_port


def message() -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "Callpay <receipts@callpay.test>"
    mail["To"] = "pat@example.com"
    mail["Subject"] = "Your receipt"
    mail.set_content("Thank you.")
    return mail


async def test_without_a_password_mail_goes_over_a_plain_local_connection(mailbox: RunningMailbox) -> None:
    await SmtpTransport(mailbox.smtp_url).send(message())
    assert [m.recipients for m in mailbox.mailbox.messages] == [("pat@example.com",)]


async def test_a_password_is_never_sent_without_tls() -> None:
    """A server that would accept a login in clear text (no STARTTLS offered): Callpay must not log in."""
    logins: list[bytes] = []

    def authenticator(_server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any) -> AuthResult:
        logins.append(bytes(data.password))
        return AuthResult(success=True)

    port = free_port()
    controller = Controller(
        Sink(), hostname="127.0.0.1", port=port, auth_require_tls=False, authenticator=authenticator
    )
    controller.start()
    try:
        with pytest.raises(MailError):
            await SmtpTransport(f"smtp://clinic:s3cret@127.0.0.1:{port}").send(message())
    finally:
        controller.stop()
    assert logins == []


class Sink:
    async def handle_DATA(self, _server: Any, _session: Any, _envelope: Any) -> str:
        return "250 OK"
