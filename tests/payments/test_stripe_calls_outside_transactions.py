"""While Callpay waits on Stripe, the database stays free for everyone else: webhooks, the browser's report,
checkout, and cancelling a request that has a PaymentIntent (a new receipt address mid-checkout asks Stripe nothing).

SQLite has one write lock, taken when a transaction begins; a Stripe call made inside a transaction would hold
it for the call's whole length and stall every other request in the clinic. Stripe is made slow here (the
sandbox's latency fault on reading PaymentIntents) and an unrelated write must finish while the webhook, or the
browser's report, is still waiting on Stripe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from tests.conftest import launch_token
from tests.support.payflow import PayStack, paid_intent, request_row

STRIPE_DELAY_MS = 1500


async def slow_stripe(stack: PayStack, method: str) -> None:
    """Every PaymentIntent call with this method takes STRIPE_DELAY_MS to answer."""
    fault = {
        "route_prefix": "/v1/payment_intents",
        "method": method,
        "kind": "latency",
        "rate": 1,
        "latency_ms": STRIPE_DELAY_MS,
    }
    async with stack.http.post(f"{stack.sandbox.url}/_sandbox/faults", json=fault) as answer:
        assert answer.status == 201, await answer.text()


async def a_write_finishes_while(stack: PayStack, waiting_on_stripe: Awaitable[Any]) -> Any:
    task = asyncio.ensure_future(waiting_on_stripe)
    await asyncio.sleep(STRIPE_DELAY_MS / 3000)  # well inside the Stripe call
    # Opening a session writes (the launch's jti, the session row): it must not queue behind the Stripe call.
    response = await stack.client.post("/api/v1/sessions", json={"launch": launch_token(role="team_member")})
    assert response.status == 201
    assert not task.done(), "the write waited for Stripe: a Stripe call held the database"
    return await task


async def test_a_webhook_reads_stripe_outside_its_transaction(connected: PayStack) -> None:
    stack = connected
    doctor, _patient, _session, pr, intent = await paid_intent(stack)
    event = await stack.event(intent["id"], "payment_intent.succeeded")
    await slow_stripe(stack, "GET")

    assert await a_write_finishes_while(stack, stack.deliver(event)) == 200
    assert (await request_row(stack, pr["id"])).status == "paid"
    assert len(await doctor.wait_count("payment_received", 1)) == 1


async def test_the_browsers_report_reads_stripe_outside_its_transactions(connected: PayStack) -> None:
    stack = connected
    doctor, _patient, patient_session, pr, _intent = await paid_intent(stack)
    await slow_stripe(stack, "GET")

    status, body = await a_write_finishes_while(stack, stack.report(pr["id"], patient_session))
    assert status == 200
    assert body["status"] == "paid"
    assert len(await doctor.wait_count("payment_received", 1)) == 1


async def test_checkout_creates_the_intent_outside_its_transactions(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    patient_session = await stack.patient()
    pr = await stack.request_payment(doctor)
    await slow_stripe(stack, "POST")

    status, body = await a_write_finishes_while(stack, stack.checkout(pr["id"], patient_session))
    assert status == 200
    assert body["client_secret"].startswith("pi_")


async def test_cancelling_a_request_cancels_its_intent_outside_any_transaction(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    patient_session = await stack.patient()
    pr = await stack.request_payment(doctor)
    status, session = await stack.checkout(pr["id"], patient_session)
    assert status == 200
    await slow_stripe(stack, "POST")

    ack = await a_write_finishes_while(stack, doctor.call("cancel_payment_request", {"id": pr["id"]}))
    assert ack["ok"] and ack["payment_request"]["status"] == "canceled", ack
    intent_id = session["client_secret"].split("_secret_")[0]
    assert (await stack.stripe("GET", f"/v1/payment_intents/{intent_id}"))["status"] == "canceled"


async def test_a_new_receipt_address_needs_no_stripe_call(connected: PayStack) -> None:
    """Stripe never holds the patient's address, so a corrected one is Callpay's own write, quick even when Stripe
    is slow."""
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    patient_session = await stack.patient()
    pr = await stack.request_payment(doctor)
    status, session = await stack.checkout(pr["id"], patient_session, "first@example.com")
    assert status == 200
    await slow_stripe(stack, "POST")

    started = asyncio.get_running_loop().time()
    status, again = await stack.checkout(pr["id"], patient_session, "new@example.com")
    assert asyncio.get_running_loop().time() - started < STRIPE_DELAY_MS / 1000
    assert status == 200 and again["client_secret"] == session["client_secret"]
    intent_id = session["client_secret"].split("_secret_")[0]
    assert (await stack.stripe("GET", f"/v1/payment_intents/{intent_id}"))["receipt_email"] is None
    assert (await request_row(stack, pr["id"])).patient_email == "new@example.com"
