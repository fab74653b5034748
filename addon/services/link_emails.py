"""The pay-later emails: the link to the patient (first send and reminders), and the clinic's notice when a link is
paid or expires. Queued in the outbox (keys ``link:{id}:{why}`` and ``link-notice:{id}:{status}``), built here."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formataddr, make_msgid, parseaddr
from html import escape
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from addon import dates
from addon.models import PaymentLink
from addon.services.link_state import L, LinkStatus, amount_words, load, notice_words, range_words
from addon.services.receipts import name_on_receipt

# A pay-later link sent because a saved card couldn't be charged without the patient: why, in their words.
SAVED_CARD_WORDS = {
    "saved-card-authentication": "We tried the card you saved with {clinic}, but your bank wants you to confirm "
    "this payment yourself, so nothing was charged.",
    "saved-card-declined": "We tried the card you saved with {clinic}, but it was declined, so nothing was charged.",
}


class NotSendable(Exception):
    """The link is gone, or no longer worth sending (paid or closed before the email went)."""


def _message(*, clinic: str, mail_from: str, to: str, subject: str, text: str, html: str) -> EmailMessage:
    message = EmailMessage()
    from_name, from_address = parseaddr(mail_from)
    message["From"] = formataddr((clinic if not from_name else f"{clinic} via {from_name}", from_address or mail_from))
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=(from_address or "callpay.invalid").rpartition("@")[2] or None)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


async def link_message(
    sessions: async_sessionmaker[AsyncSession], dedupe_key: str, to: str, mail_from: str
) -> EmailMessage:
    """The link to pay, to the patient: who asks, how much, what for, until when, and the link itself."""
    _, link_id, why = dedupe_key.split(":", 2)
    async with sessions() as db:
        link, clinic, clinician = await _loaded(db, link_id)
    if link.status != L.ACTIVE:
        raise NotSendable(f"the link is {link.status}")
    name = name_on_receipt(clinic)
    how_much = amount_words(link, clinic.locale) or f"an amount you choose ({range_words(link, clinic.locale)})"
    until = dates.format_datetime(link.expires_at, clinic.timezone)
    reminder = why not in ("sent", *SAVED_CARD_WORDS)
    subject = f"{'Reminder: ' if reminder else ''}{name} — pay {amount_words(link, clinic.locale) or 'online'}"
    greeting = f"Hello {link.name}," if link.name else "Hello,"
    lead = f"{name} asks you to pay {how_much} for {link.description}."
    if why in SAVED_CARD_WORDS:
        lead = f"{SAVED_CARD_WORDS[why].format(clinic=name)} {lead}"
    text = (
        f"{greeting}\n\n{lead}\n\nPay securely here:\n{link.url}\n\n"
        f"The link works until {until}. Card details go straight to Stripe, {name}'s payment provider.\n"
        f"If you have questions, contact {name}.\n\n{clinician.name}\n"
    )
    html = (
        f"<p>{escape(greeting)}</p><p>{escape(lead)}</p>"
        f'<p><a href="{escape(link.url)}" style="display:inline-block;padding:12px 20px;background:#0b5cad;'
        f'color:#fff;border-radius:6px;text-decoration:none;font-weight:600">Pay now</a></p>'
        f"<p>Or open this address: {escape(link.url)}</p>"
        f"<p>The link works until {escape(until or '')}. Card details go straight to Stripe, {escape(name)}'s payment "
        f"provider.<br>If you have questions, contact {escape(name)}.</p><p>{escape(clinician.name)}</p>"
    )
    return _message(clinic=name, mail_from=mail_from, to=to, subject=subject, text=text, html=html)


async def notice_message(
    sessions: async_sessionmaker[AsyncSession], dedupe_key: str, to: str, mail_from: str
) -> EmailMessage:
    """The clinic's notice: a link was paid, or expired unpaid."""
    _, link_id, status = dedupe_key.split(":", 2)
    async with sessions() as db:
        link, clinic, clinician = await _loaded(db, link_id)
    words = notice_words(link, clinic, LinkStatus(status))
    name = name_on_receipt(clinic)
    subject = f"Pay-later link {'paid' if status == L.PAID else 'expired'}: {link.description}"
    text = f"{words}\n\nMade by {clinician.name}. Link: {link.url}\n"
    html = f"<p>{escape(words)}</p><p>Made by {escape(clinician.name)}.</p>"
    return _message(clinic=name, mail_from=mail_from, to=to, subject=subject, text=text, html=html)


async def _loaded(db: AsyncSession, link_id: str) -> Any:
    if await db.get(PaymentLink, link_id) is None:
        raise NotSendable("the link is gone")
    return await load(db, link_id)
