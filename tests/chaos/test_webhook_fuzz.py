"""Signed but malformed Stripe events: Hypothesis-made JSON (and bytes that aren't JSON at all), each signed with the
webhook's real secret, so every one passes the signature check and meets the inbox. None may get a 5xx; each is
stored (200) or refused in the contract's error shape (400, 413). Events that name a real, unpaid PaymentIntent
can't make it paid (payments are re-read from Stripe), and the inbox processor still works afterwards: a real
payment's events then land it paid with one receipt. On SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from tests.conftest import stripe_signature
from tests.support.chaos import TALLY, fuzz_settings, given_on_loop
from tests.support.payflow import PayStack, receipts_queued, request_row

from .strategies import deep, dumps, json_values, nasty_text, numbers, shaped

EVENT_TYPES = [
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.processing",
    "payment_intent.canceled",
    "payment_intent.amount_capturable_updated",
    "payment_intent.requires_action",
    "charge.refunded",
    "charge.refund.updated",
    "refund.updated",
    "refund.failed",
    "account.updated",
    "account.application.deauthorized",
]


def events(intent_id: str, account: str) -> st.SearchStrategy[bytes]:
    wide = st.integers(90, 300).map(lambda n: "evt_" + "x" * n)
    ids = st.one_of(st.just(intent_id), nasty_text, st.text(max_size=8).map(lambda t: f"pi_{t}"))
    stripe_object = shaped(
        id=ids,
        object=st.sampled_from(["payment_intent", "charge", "refund", "account"]),
        amount=numbers,
        amount_received=numbers,
        amount_refunded=numbers,
        currency=st.one_of(st.sampled_from(["aud", "jpy", "usd"]), nasty_text),
        status=st.one_of(st.sampled_from(["succeeded", "processing", "canceled", "requires_capture"]), nasty_text),
        payment_intent=ids,
        metadata=st.dictionaries(nasty_text, json_values, max_size=3),
        latest_charge=json_values,
        charges_enabled=st.booleans(),
    )
    event = shaped(
        # Ids and types around the inbox's column widths (100), as well as every other kind of text.
        id=st.one_of(st.text(max_size=12).map(lambda t: f"evt_{t}"), nasty_text, wide),
        object=st.just("event"),
        type=st.one_of(st.sampled_from(EVENT_TYPES), nasty_text, wide),
        account=st.one_of(st.just(account), nasty_text),
        created=numbers,
        livemode=st.booleans(),
        data=st.one_of(shaped(object=stripe_object, previous_attributes=json_values), json_values),
    )
    # A well-formed envelope around a hostile object: these get past intake and meet the inbox's dispatch.
    envelope = st.builds(
        lambda n, kind, obj: {
            "id": f"evt_fuzz_{n}",
            "object": "event",
            "type": kind,
            "account": account,
            "created": 1_700_000_000,
            "data": {"object": obj},
        },
        st.integers(0, 10**9),
        st.sampled_from(EVENT_TYPES),
        stripe_object,
    )
    nested = st.builds(
        lambda depth, opener: (
            '{"id":"evt_deep","object":"event","type":"charge.refunded","data":{"object":' + deep(depth, opener) + "}}"
        ).encode(),
        st.integers(50, 250_000),
        st.sampled_from(["[", "{"]),
    )
    return st.one_of(
        envelope.map(dumps),
        envelope.map(dumps),
        event.map(dumps),
        json_values.map(dumps),
        st.binary(max_size=64),
        nested,
    )


async def test_signed_malformed_events_never_get_a_5xx(fuzz_stack: PayStack) -> None:
    stack = fuzz_stack
    doctor = await stack.socket(await stack.clinician())
    patient = await stack.patient()
    pr = await stack.request_payment(doctor)
    status, session = await stack.checkout(pr["id"], patient)
    assert status == 200, session
    intent_id = session["client_secret"].split("_secret_")[0]
    assert stack.account is not None
    answers: dict[int, int] = {}

    async def send(payload: bytes) -> None:
        signature = stripe_signature(payload, stack.webhook_secret)
        response = await stack.client.post(
            "/stripe/webhook",
            data=payload,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )
        text = await response.text()
        TALLY.cases += 1
        answers[response.status] = answers.get(response.status, 0) + 1
        if response.status >= 500:
            TALLY.server_errors += 1
        assert response.status in (200, 400, 413), (response.status, text[:300], payload[:300])
        body: Any = json.loads(text)
        if response.status != 200:
            assert set(body) == {"error"} and body["error"]["code"] and body["error"]["message"], body

    await given_on_loop(events(intent_id, stack.account), send, fuzz_settings(quick=150, full=5000))
    TALLY.notes.append(f"signed malformed webhooks: answers by status {dict(sorted(answers.items()))}")

    # Nothing the fuzz said made the unpaid request paid: it is re-read from Stripe, which says it is unpaid.
    await stack.webhooks_settled(wait=30)
    assert (await request_row(stack, pr["id"])).status == "requested"

    # The processor lived through it all: the real payment's events land the request paid, once.
    intent = await stack.confirm_intent(intent_id)
    assert intent["status"] == "succeeded"
    await stack.webhooks_settled(wait=30)
    assert (await request_row(stack, pr["id"])).status == "paid"
    assert await receipts_queued(stack, pr["id"]) == 1


def test_the_gateway_refuses_event_text_wider_than_the_inbox_keeps() -> None:
    from addon.gateway import EVENT_TEXT_MAX
    from addon.models import StripeEventInbox

    widths = [StripeEventInbox.__table__.c[name].type.length for name in ("id", "type", "account")]
    assert all(width is not None and width >= EVENT_TEXT_MAX for width in widths), widths
