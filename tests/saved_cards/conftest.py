"""Card-on-file fixtures: the payment flow's stack (tests.support.payflow), a clinic that saves cards, and a patient
who saved one through the real SetupIntent flow (confirmed at the sandbox as Stripe.js's confirmSetup does)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.payflow import PayStack, connected, postgres_stack, stack  # noqa: F401

POLICY = (
    "If you miss an appointment without 24 hours' notice, we may charge a no-show fee of A$50.00 to this card. "
    "Late cancellations may be charged A$30.00."
)


async def turn_on(stack: PayStack, **settings: Any) -> dict[str, Any]:  # noqa: F811
    """Clinic-1's admin turns saved cards on with the policy and both fees."""
    admin = await stack.session(role="team_admin", sub="admin-1", name="Alex Admin", call=None)
    body = {
        "saved_cards_enabled": True,
        "saved_card_policy": POLICY,
        "no_show_fee": "50.00",
        "late_cancellation_fee": "30.00",
        **settings,
    }
    status, config = await stack.api("PATCH", "/api/v1/clinic/settings", admin, json=body)
    assert status == 200, config
    return admin


async def save_card(
    stack: PayStack,  # noqa: F811
    patient: dict[str, Any],
    payment_method: str = "pm_card_visa",
    *,
    email: str = "pat@example.com",
) -> dict[str, Any]:
    """Agree to the policy, confirm the SetupIntent as Stripe.js would (completing 3-D Secure when asked), report."""
    status, offer = await stack.api("GET", "/api/v1/saved-card", patient)
    assert status == 200 and offer["ask"], offer
    status, setup = await stack.api(
        "POST", "/api/v1/saved-card/setup", patient, json={"email": email, "agree": True, "policy": offer["policy"]}
    )
    assert status == 200, setup
    setup_id = setup["client_secret"].split("_secret_")[0]
    confirmed = await stack.stripe("POST", f"/v1/setup_intents/{setup_id}/confirm", {"payment_method": payment_method})
    if confirmed.get("status") == "requires_action":
        await stack.complete_3ds(setup_id, setup["client_secret"])
    status, after = await stack.api("POST", "/api/v1/saved-card/confirmation", patient)
    assert status == 200, after
    assert after["card"]["status"] == "active", after
    return after["card"]  # type: ignore[no-any-return]


@pytest.fixture
async def clinic(connected: PayStack) -> PayStack:  # noqa: F811
    """Clinic-1 connected to Stripe, saving cards, with a no-show fee of A$50.00 and a late one of A$30.00."""
    await turn_on(connected)
    return connected
