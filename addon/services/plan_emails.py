"""The instalment plan's emails to the patient, built here when the outbox sends them:

- the schedule, once, when the plan is made (key ``plan-schedule:{plan id}``): every instalment's amount and date,
  and how the later ones will be paid (the saved card, or a link by email);
- the reminder a few days before each date (key ``instalment-reminder:{instalment id}``, queued by
  :func:`addon.services.plans.remind_due`): how much, when, and how."""

from __future__ import annotations

from email.message import EmailMessage
from html import escape

from sqlalchemy import select
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


async def schedule_message(
    sessions: async_sessionmaker[AsyncSession], dedupe_key: str, to: str, mail_from: str
) -> EmailMessage:
    plan_id = dedupe_key.partition(":")[2]
    async with sessions() as db:
        plan = await db.get(InstalmentPlan, plan_id)
        if plan is None or plan.status == "canceled":
            raise NotSendable("the plan is gone or cancelled")
        clinic = await db.get_one(Clinic, plan.clinic_id)
        clinician = await db.get_one(User, plan.clinician_id)
        instalments = (
            await db.scalars(select(Instalment).where(Instalment.plan_id == plan.id).order_by(Instalment.number))
        ).all()
        card = await find_card(db, clinic_id=plan.clinic_id, call_id=plan.call_id)
        card_words = card_display(card.card_brand, card.card_last4) if card is not None else None
    name = name_on_receipt(clinic)
    total = money.format_amount(plan.amount, plan.currency, clinic.locale)
    lines = [
        f"{inst.number} of {plan.count}: {money.format_amount(inst.amount, plan.currency, clinic.locale)}, "
        + ("now" if inst.number == 1 else dates.format_date(inst.due_at, clinic.timezone))
        for inst in instalments
    ]
    how = (
        f"The later instalments will be charged on their dates to your saved card "
        f"({card_words or 'the card you saved'}), and you'll get a reminder two days before each."
        if card is not None
        else "Before each later date you'll get a reminder, and on the day an email with a link to pay it."
    )
    subject = f"{name}: your instalment plan for {total}"
    greeting = f"Hello{' ' + plan.patient_name if plan.patient_name else ''},"
    lead = f"{name} has split {total} for {plan.description} into {plan.count} instalments:"
    text = (
        f"{greeting}\n\n{lead}\n\n" + "\n".join(f"  {line}" for line in lines) + f"\n\n{how}\n\n"
        f"If you have questions, contact {name}.\n\n{clinician.name}\n"
    )
    html = (
        f"<p>{escape(greeting)}</p><p>{escape(lead)}</p><ul>"
        + "".join(f"<li>{escape(line)}</li>" for line in lines)
        + f"</ul><p>{escape(how)}</p><p>If you have questions, contact {escape(name)}.</p>"
        f"<p>{escape(clinician.name)}</p>"
    )
    return _message(clinic=name, mail_from=mail_from, to=to, subject=subject, text=text, html=html)
