"""The instalment reminder: a few days before an instalment's date, the patient hears how much, when, and how it
will be paid (the saved card, or a link by email). Queued by :func:`addon.services.plans.remind_due` with the key
``instalment-reminder:{instalment id}``, built here when the outbox sends it."""

from __future__ import annotations

from email.message import EmailMessage
from html import escape

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from addon import dates, money
from addon.cards import card_display
from addon.models import Clinic, Instalment, InstalmentPlan, User
from addon.services.link_emails import NotSendable, _message
from addon.services.receipts import name_on_receipt
from addon.services.saved_cards import find_card


async def reminder_message(
    sessions: async_sessionmaker[AsyncSession], dedupe_key: str, to: str, mail_from: str
) -> EmailMessage:
    instalment_id = int(dedupe_key.rpartition(":")[2])
    async with sessions() as db:
        inst = await db.get(Instalment, instalment_id)
        if inst is None:
            raise NotSendable("the instalment is gone")
        plan = await db.get_one(InstalmentPlan, inst.plan_id)
        if plan.status != "active" or inst.status != "scheduled":
            raise NotSendable(f"the instalment is {inst.status}, its plan {plan.status}")
        clinic = await db.get_one(Clinic, plan.clinic_id)
        clinician = await db.get_one(User, plan.clinician_id)
        card = await find_card(db, clinic_id=plan.clinic_id, call_id=plan.call_id)
        card_words = card_display(card.card_brand, card.card_last4) if card is not None else None
    name = name_on_receipt(clinic)
    amount = money.format_amount(inst.amount, plan.currency, clinic.locale)
    when = dates.format_date(inst.due_at, clinic.timezone)
    what = f"instalment {inst.number} of {plan.count} for {plan.description}"
    how = (
        f"It will be charged to your saved card ({card_words or 'the card you saved'}) on that day."
        if card is not None
        else "On that day we'll email you a link to pay it."
    )
    subject = f"{name}: instalment {inst.number} of {plan.count}, {amount}, due {when}"
    text = (
        f"Hello{' ' + plan.patient_name if plan.patient_name else ''},\n\n"
        f"Your {what} — {amount} — is due on {when}. {how}\n\n"
        f"If you have questions, contact {name}.\n\n{clinician.name}\n"
    )
    html = (
        f"<p>Hello{escape(' ' + plan.patient_name) if plan.patient_name else ''},</p>"
        f"<p>Your {escape(what)} — <strong>{escape(amount)}</strong> — is due on <strong>{escape(when)}</strong>. "
        f"{escape(how)}</p><p>If you have questions, contact {escape(name)}.</p><p>{escape(clinician.name)}</p>"
    )
    return _message(clinic=name, mail_from=mail_from, to=to, subject=subject, text=text, html=html)
