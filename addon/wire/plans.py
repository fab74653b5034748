"""Instalment plans: a request split into instalments, as the clinic's staff see it, and the bodies that offer one."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from addon.wire.base import Currency, Incoming, MinorUnits, Outgoing, Timestamp
from addon.wire.common import Person

PlanStatus = Literal["active", "completed", "canceled"]
PlanInterval = Literal["weekly", "fortnightly", "monthly"]
InstalmentStatus = Literal["scheduled", "charging", "paid", "unpaid", "canceled"]


class Instalment(Outgoing):
    """One instalment: its amount and date, and what became of it."""

    number: int = Field(ge=1, le=12)
    amount: MinorUnits
    amount_display: str
    due_at: Timestamp
    due_display: str = Field(description="The date in the clinic's time zone, in words")
    status: InstalmentStatus = Field(
        description="scheduled (not yet due), charging (being charged now), paid, unpaid (sent to the patient as a "
        "pay-later link, or the first one, not paid yet), canceled (its plan was cancelled before its date)"
    )
    outcome: Literal["paid", "link"] | None = Field(
        description="How the scheduler settled it: charged to the saved card, or a pay-later link sent instead"
    )
    late: bool = Field(description="Charged well after its date (the scheduler wasn't running on the day)")
    attempts: int
    payment_request: str | None = Field(description="The request it became (its receipt, refunds, export line)")
    payment_link: str | None = Field(description="The pay-later link it was sent as, if any")


class Plan(Outgoing):
    """``GET /api/v1/plans/{id}``: a plan's schedule, what is paid and outstanding, and its next date."""

    id: str
    payment_request: str = Field(description="The request the plan replaced (cancelled when the plan was made)")
    clinician: Person
    count: int = Field(ge=2, le=12)
    interval: PlanInterval
    amount: MinorUnits
    currency: Currency
    amount_display: str
    description: str
    status: PlanStatus
    patient_name: str | None
    patient_email: str | None
    paid: MinorUnits
    paid_display: str
    outstanding: MinorUnits
    outstanding_display: str
    next_due_at: Timestamp | None
    next_due_display: str | None
    next_amount_display: str | None
    created_at: Timestamp
    canceled_at: Timestamp | None
    cancelable: bool = Field(description="The caller may cancel it now")
    instalments: list[Instalment]


class PlansPage(Outgoing):
    """``GET /api/v1/plans``: the clinic's plans (a clinician's own), newest first."""

    data: list[Plan]


class PlansQuery(Incoming):
    status: PlanStatus | None = None


class OfferPlanBody(Incoming):
    """``POST /api/v1/payment-requests/{id}/plan``."""

    messages = {
        "count": "Choose from 2 to 12 instalments.",
        "interval": "Choose weekly, fortnightly or monthly.",
    }

    count: int = Field(description="How many instalments, 2 to 12; the first is paid now")
    interval: str = Field(description="weekly, fortnightly or monthly")
