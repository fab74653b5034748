"""Instalment plan fixtures: the payment flow's stack with clinic-1 saving cards and offering plans over A$200.00,
a manual clock, and helpers that offer a plan and run the scheduler as the background switch does."""

from __future__ import annotations

import warnings
from datetime import timedelta
from typing import Any

import pytest

from addon.appkeys import CLOCK
from addon.background import sweep_plans_once
from addon.clock import ManualClock
from addon.services import plans
from tests.saved_cards.conftest import save_card, turn_on
from tests.support.payflow import PayStack, SocketUser, connected, postgres_stack, stack  # noqa: F401

PATIENT = {"name": "Pat Lee", "extra": {"email": "pat@example.com"}}
WEEK = timedelta(days=7)


@pytest.fixture
async def clinic(connected: PayStack) -> PayStack:  # noqa: F811
    await turn_on(connected, plan_min_amount="200.00")
    return connected


@pytest.fixture
def clock(clinic: PayStack) -> ManualClock:
    """The app's clock, standing still until the test moves it."""
    manual = ManualClock()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        clinic.app[CLOCK] = manual
    return manual


async def offer(
    stack: PayStack,  # noqa: F811
    session: dict[str, Any],
    request_id: str,
    count: int = 3,
    interval: str = "weekly",
) -> tuple[int, Any]:
    return await stack.api(
        "POST", f"/api/v1/payment-requests/{request_id}/plan", session, json={"count": count, "interval": interval}
    )


async def requested(stack: PayStack, doctor: SocketUser, amount: str = "300.00") -> dict[str, Any]:  # noqa: F811
    return await stack.request_payment(doctor, amount=amount, description="Treatment course")


async def sweep(stack: PayStack) -> plans.Swept:  # noqa: F811
    return await sweep_plans_once(stack.app)


async def patient_with_card(stack: PayStack, payment_method: str = "pm_card_visa") -> dict[str, Any]:  # noqa: F811
    patient = await stack.patient(**PATIENT)
    await save_card(stack, patient, payment_method)
    return patient
