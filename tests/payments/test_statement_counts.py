"""What the hot paths cost in SQL statements, counted (tests/support/statements.py), so a re-read can't creep back:
a Stripe payment's webhook, a checkout, a clinician's request_payment, a clinician's launch, page and socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from addon.appkeys import ENGINE
from tests.conftest import SESSION_BLOCK, launch_token
from tests.support.payflow import PayStack, build_stack, paid_intent, receipts_queued, request_row
from tests.support.statements import statements


@pytest.fixture
async def quiet(sandbox: Any, database_url: str, aiohttp_client: Any, http: Any) -> AsyncIterator[PayStack]:
    """A web worker (background jobs off, so no round of theirs is counted) that hears only the events sent."""
    built = await build_stack(sandbox, database_url, aiohttp_client, http, sandbox_delivers=False, background="off")
    await built.connect_clinic()
    yield built
    for user in built.sockets:
        await user.close()


async def test_a_payments_webhook_is_one_read_one_claim_one_transition(quiet: PayStack) -> None:
    stack = quiet
    doctor, _, _, pr, intent = await paid_intent(stack)
    event = await stack.event(intent["id"], "payment_intent.succeeded")
    with statements(stack.app[ENGINE]) as sent:
        assert await stack.deliver(event, settle=False) == 200
        await doctor.wait_count("payment_received", 1)
        await asyncio.sleep(0.1)  # the pop-up goes out after the commit: nothing is left to run
    print(sent)
    # Kept; claimed; its id recorded; the request read once, moved once; its once-only work; marked processed.
    assert [(verb, table) for verb, table in sent.shape()] == [
        ("INSERT", "stripe_event_inbox"),
        ("UPDATE", "stripe_event_inbox"),
        ("INSERT", "processed_stripe_events"),
        ("SELECT", "payment_requests"),
        ("UPDATE", "payment_requests"),
        ("INSERT", "audit_events"),
        ("UPDATE", "clinics"),  # the receipt number
        ("UPDATE", "payment_requests"),
        ("SELECT", "payment_requests"),  # as it now stands, with its call, clinic and clinician: the events' JSON
        ("INSERT", "outbox_emails"),
        ("SELECT", "payment_links"),
        ("UPDATE", "stripe_event_inbox"),
    ]
    assert (await request_row(stack, pr["id"])).status == "paid"
    assert await receipts_queued(stack, pr["id"]) == 1


async def test_request_payment_writes_the_request_and_reads_nothing_back(quiet: PayStack) -> None:
    stack = quiet
    session = await stack.clinician()
    doctor = await stack.socket(session)
    patient = await stack.socket(await stack.patient())
    with statements(stack.app[ENGINE]) as sent:
        made = await stack.request_payment(doctor, amount="80.00", description="Consultation")
    print(sent)
    assert sent.shape() == [
        ("SELECT", "sessions"),
        ("SELECT", "clinics"),
        ("INSERT", "payment_requests"),
        ("INSERT", "audit_events"),
    ]
    # What it answered with is what a fresh read says, and the call heard the same.
    await patient.wait_for(lambda u: any(p["id"] == made["id"] for p in u.of("payment_request")))
    again = await stack.socket(session)  # its snapshot is read fresh from the database
    await again.wait_for(lambda u: bool(u.of("payment_requests")))
    listed = next(p for p in again.of("payment_requests")[-1] if p["id"] == made["id"])
    heard = next(p for p in patient.of("payment_request") if p["id"] == made["id"])
    assert made == heard
    assert made == listed


async def test_a_checkout_reads_the_request_once_before_stripe_and_once_after(quiet: PayStack) -> None:
    stack = quiet
    doctor = await stack.socket(await stack.clinician())
    patient_session = await stack.patient()
    pr = await stack.request_payment(doctor)
    with statements(stack.app[ENGINE]) as sent:
        status, body = await stack.checkout(pr["id"], patient_session)
    print(sent)
    assert status == 200, body
    assert sent.shape() == [
        ("SELECT", "sessions"),
        ("SELECT", "payment_requests"),
        ("UPDATE", "payment_requests"),  # who is paying, for the receipt
        ("SELECT", "clinics"),
        ("SELECT", "users"),  # the clinician's id, for the intent's metadata
        ("SELECT", "pay_alls"),  # not in an open Pay all
        # Stripe creates the intent here, no transaction open.
        ("UPDATE", "payment_requests"),
        ("INSERT", "audit_events"),
        # The request, with whether a Pay all claims it (its EXISTS names pay_all_items first): this intent is the
        # request's, the request still payable, and no set can take its money too.
        ("SELECT", "pay_all_items"),
        ("UPDATE", "payment_requests"),  # the patient is paying now
        ("SELECT", "payment_requests"),  # with its call, clinic and clinician: the clinician's event
    ]
    # The same checkout again: the intent is made, so no Stripe call and nothing after it to re-read.
    with statements(stack.app[ENGINE]) as sent:
        status, again = await stack.checkout(pr["id"], patient_session)
    assert status == 200 and again["client_secret"] == body["client_secret"]
    assert sent.shape() == [
        ("SELECT", "sessions"),
        ("SELECT", "payment_requests"),
        ("SELECT", "clinics"),
        ("SELECT", "pay_alls"),
    ]
    # And it pays: the intent the checkout attached is the one the request is paid with.
    intent = await stack.confirm_intent(body["client_secret"].split("_secret_")[0])
    assert intent["status"] == "succeeded"
    status, reported = await stack.report(pr["id"], patient_session)
    assert status == 200 and reported["status"] == "paid", reported
    assert (await doctor.wait_count("payment_received", 1))[0]["id"] == pr["id"]


async def test_a_clinicians_launch_page_and_socket_read_the_clinic_once(quiet: PayStack) -> None:
    stack = quiet
    await stack.socket(await stack.clinician(call="call-7"))  # the call exists: the usual case
    with statements(stack.app[ENGINE]) as sent:
        page = await stack.client.get(
            "/widget/clinician", params={"launch": launch_token(role="team_member", sub="dr-b", call="call-7")}
        )
        text = await page.text()
    assert page.status == 200, text
    print(sent)
    assert sent.shape() == [
        ("INSERT", "used_launches"),  # the launch, used once
        ("SELECT", "organisations"),  # its organisation, clinic and call, in one
        ("INSERT", "users"),
        ("INSERT", "sessions"),
        ("SELECT", "clinics"),  # the panel: presets, currency, refunds, time zone, from one read
    ]
    found = SESSION_BLOCK.search(text)
    assert found is not None
    with statements(stack.app[ENGINE]) as sent:
        user = await stack.socket(json.loads(found.group(1)))
        await user.wait_for(lambda u: bool(u.of("payment_requests")) and bool(u.of("participants")))
    assert sent.shape() == [
        ("SELECT", "sessions"),
        ("SELECT", "payment_requests"),  # the call's snapshot
        ("SELECT", "clinics"),  # its status
        ("SELECT", "users"),  # who is in the call
    ]
    assert 'data-timezone="Australia/Sydney"' in text  # the clinic's zone, from the same one read
