"""A local mail server for the demo and tests: a real SMTP server (aiosmtpd) and an outbox page showing what arrived.

The product sends to it over SMTP exactly as it would to a real relay (``CALLPAY_SMTP_URL``), so the demo shows
the receipt the patient would get, and tests assert on the captured message itself. Messages live in memory.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from functools import cached_property

from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class CapturedMessage:
    number: int
    mail_from: str
    recipients: tuple[str, ...]
    received_at: datetime
    message: EmailMessage
    raw: bytes

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    @property
    def to(self) -> str:
        return str(self.message.get("To", ""))

    def body(self, subtype: str) -> str | None:
        part = self.message.get_body(preferencelist=(subtype,))
        return str(part.get_content()) if part is not None else None

    @cached_property
    def attachments(self) -> list[Attachment]:
        """Decoded on first use and kept: the outbox lists every message's attachments on each page load."""
        found = []
        for part in self.message.iter_attachments():
            data = part.get_payload(decode=True)
            found.append(
                Attachment(
                    filename=part.get_filename() or "attachment",
                    content_type=part.get_content_type(),
                    data=data if isinstance(data, bytes) else b"",
                )
            )
        return found


# Called before a message is accepted; return an SMTP reply (e.g. "451 …") to refuse it, or None to accept.
Gate = Callable[[Envelope], Awaitable[str | None]]


@dataclass
class Mailbox:
    """The aiosmtpd handler: keeps every accepted message and wakes anyone waiting for one."""

    messages: list[CapturedMessage] = field(default_factory=list)
    gate: Gate | None = None
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.gate is not None:
            refusal = await self.gate(envelope)
            if refusal is not None:
                return refusal
        raw = envelope.original_content or envelope.content or b""
        raw_bytes = raw if isinstance(raw, bytes) else raw.encode()
        parsed = BytesParser(policy=policy.default).parsebytes(raw_bytes)
        assert isinstance(parsed, EmailMessage)
        captured = CapturedMessage(
            number=len(self.messages) + 1,
            mail_from=str(envelope.mail_from or ""),
            recipients=tuple(str(r) for r in envelope.rcpt_tos),
            received_at=datetime.now(UTC),
            message=parsed,
            raw=raw_bytes,
        )
        async with self._arrived:
            self.messages.append(captured)
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    async def wait_for(self, count: int = 1, *, within: float = 10.0) -> list[CapturedMessage]:
        """Wait until at least ``count`` messages have arrived; all of them."""
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: len(self.messages) >= count)
            return list(self.messages)


MESSAGES_KEY = web.AppKey("mailbox", Mailbox)


@dataclass
class RunningMailbox:
    mailbox: Mailbox
    smtp_url: str  # e.g. smtp://127.0.0.1:2525, as CALLPAY_SMTP_URL
    url: str | None  # the outbox page, when served
    _smtp: asyncio.Server
    _runner: web.AppRunner | None

    async def close(self) -> None:
        self._smtp.close()
        await self._smtp.wait_closed()
        if self._runner is not None:
            await self._runner.cleanup()


async def start_mailbox(
    host: str = "127.0.0.1", *, smtp_port: int = 0, http_port: int | None = 0, gate: Gate | None = None
) -> RunningMailbox:
    """Serve SMTP on ``smtp_port`` and (unless ``http_port`` is None) the outbox page; 0 picks a free port."""
    mailbox = Mailbox(gate=gate)
    loop = asyncio.get_running_loop()
    smtp = await loop.create_server(lambda: SMTP(mailbox, hostname="callpay-demo.local"), host, smtp_port)
    bound_smtp = smtp.sockets[0].getsockname()[1]
    runner = None
    url = None
    if http_port is not None:
        runner = web.AppRunner(create_mailbox_app(mailbox), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, http_port)
        await site.start()
        url = f"http://{host}:{runner.addresses[0][1]}"  # port 0 picks a free one
    return RunningMailbox(mailbox=mailbox, smtp_url=f"smtp://{host}:{bound_smtp}", url=url, _smtp=smtp, _runner=runner)


# --- The outbox page ------------------------------------------------------------------------------------------

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0; background: #f6f8fb; color: #1a1f36; }}
main {{ max-width: 60rem; margin: 0 auto; padding: 1.25rem; }}
table {{ width: 100%; border-collapse: collapse; background: #fff; }}
th, td {{ text-align: left; padding: .6rem; border-bottom: 1px solid #d5dbe3; vertical-align: top; }}
a {{ color: #0b5cad; }}
.muted {{ color: #4f566b; }}
iframe {{ width: 100%; height: 32rem; border: 1px solid #d5dbe3; background: #fff; }}
pre {{ white-space: pre-wrap; background: #fff; border: 1px solid #d5dbe3; padding: 1rem; }}
</style></head><body><main>{body}</main></body></html>"""


def _page(title: str, body: str) -> web.Response:
    return web.Response(text=PAGE.format(title=html.escape(title), body=body), content_type="text/html")


def create_mailbox_app(mailbox: Mailbox) -> web.Application:
    app = web.Application()
    app[MESSAGES_KEY] = mailbox
    app.router.add_get("/", _index)
    app.router.add_get("/messages.json", _as_json)
    app.router.add_get("/messages/{number}", _message)
    app.router.add_get("/messages/{number}/body.html", _html_body)
    app.router.add_get("/messages/{number}/attachments/{index}", _attachment)
    return app


async def _index(request: web.Request) -> web.Response:
    messages = request.app[MESSAGES_KEY].messages
    rows = "".join(
        f"<tr><td>{m.received_at:%H:%M:%S}</td><td>{html.escape(m.to)}</td>"
        f'<td><a href="/messages/{m.number}">{html.escape(m.subject) or "(no subject)"}</a></td>'
        f"<td>{len(m.attachments)}</td></tr>"
        for m in reversed(messages)
    )
    table = (
        "<table><thead><tr><th>Received</th><th>To</th><th>Subject</th><th>Attachments</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        if messages
        else '<p class="muted">No email yet. Receipts appear here a moment after a payment.</p>'
    )
    body = (
        '<h1>Outbox</h1><p class="muted">Every email Callpay sent through the demo\'s local SMTP server. '
        'Refresh to see new ones.</p><p><a href="">Refresh</a></p>' + table
    )
    return _page("Outbox · Callpay demo", body)


def _find(request: web.Request) -> CapturedMessage:
    messages = request.app[MESSAGES_KEY].messages
    try:
        number = int(request.match_info["number"])
    except ValueError:
        raise web.HTTPNotFound() from None
    if not 1 <= number <= len(messages):
        raise web.HTTPNotFound()
    found: CapturedMessage = messages[number - 1]
    return found


async def _message(request: web.Request) -> web.Response:
    m = _find(request)
    attachments = "".join(
        f'<li><a href="/messages/{m.number}/attachments/{i}">{html.escape(a.filename)}</a> '
        f'<span class="muted">({html.escape(a.content_type)}, {len(a.data):,} bytes)</span></li>'
        for i, a in enumerate(m.attachments)
    )
    text = m.body("plain")
    body = (
        f'<p><a href="/">← Outbox</a></p><h1>{html.escape(m.subject)}</h1>'
        f"<p><strong>From</strong> {html.escape(str(m.message.get('From', '')))}<br>"
        f"<strong>To</strong> {html.escape(m.to)}<br>"
        f"<strong>Received</strong> {m.received_at:%Y-%m-%d %H:%M:%S} UTC</p>"
        + (f"<h2>Attachments</h2><ul>{attachments}</ul>" if attachments else "")
        # The email's own HTML runs in a sandboxed frame with no scripts, as a mail client would show it.
        + (
            f'<h2>HTML</h2><iframe sandbox="" title="Email body" src="/messages/{m.number}/body.html"></iframe>'
            if m.body("html") is not None
            else ""
        )
        + (f"<h2>Text</h2><pre>{html.escape(text)}</pre>" if text is not None else "")
    )
    return _page(f"{m.subject} · Outbox", body)


async def _html_body(request: web.Request) -> web.Response:
    m = _find(request)
    response = web.Response(text=m.body("html") or "", content_type="text/html")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return response


async def _attachment(request: web.Request) -> web.Response:
    m = _find(request)
    try:
        attachment = m.attachments[int(request.match_info["index"])]
    except (ValueError, IndexError):
        raise web.HTTPNotFound() from None
    return web.Response(
        body=attachment.data,
        content_type=attachment.content_type,
        headers={"Content-Disposition": f'inline; filename="{attachment.filename}"'},
    )


async def _as_json(request: web.Request) -> web.Response:
    return web.json_response(
        [
            {
                "number": m.number,
                "to": m.to,
                "recipients": list(m.recipients),
                "subject": m.subject,
                "received_at": m.received_at.isoformat(),
                "attachments": [{"filename": a.filename, "content_type": a.content_type} for a in m.attachments],
            }
            for m in request.app[MESSAGES_KEY].messages
        ]
    )
