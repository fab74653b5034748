"""Hypothesis over the Socket.IO actions: ``request_payment``, ``cancel_payment_request``, ``capture_payment_request``
and ``release_payment_request`` with payloads of every shape (right fields with hostile values, wrong types, missing
and extra keys, any JSON at all), from a clinician and from a patient. Every ack is the contract's Ack (checked
against the published schema as it arrives): ok, or a refusal that says what to fix; never ``internal_error``.
On SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from tests.support.chaos import TALLY, fuzz_settings, given_on_loop
from tests.support.payflow import PayStack, SocketUser

from .strategies import json_values, nasty_text, numbers, shaped

ACTIONS = ["request_payment", "cancel_payment_request", "capture_payment_request", "release_payment_request"]
AMOUNT_TEXT = [
    "80.00",
    "A$80",
    "80,00",
    "1,234.50",
    "¥500",
    "US$80",
    "0.001",
    "-5",
    "1e5",
    "\u0668\u0660",
    "\uff18\uff10",
    "80.00.00",
]


def payloads(known_ids: list[str]) -> st.SearchStrategy[tuple[str, str, Any]]:
    ids = st.one_of(st.sampled_from(known_ids), nasty_text, numbers)
    amounts = st.one_of(st.sampled_from(AMOUNT_TEXT), nasty_text, numbers, st.integers(1, 10**9))
    request = shaped(
        amount=amounts,
        currency=st.one_of(st.sampled_from(["aud", "AUD", "jpy", "usd", "xxx"]), nasty_text),
        description=nasty_text,
        client_ref=nasty_text,
        capture=st.one_of(st.sampled_from(["now", "hold"]), nasty_text),
        payer=st.one_of(shaped(id=nasty_text), json_values),
        item_code=nasty_text,
        confirm=st.one_of(st.booleans(), json_values),
    )
    by_id = shaped(id=ids, amount=amounts)
    plain = st.text(st.characters(categories=["L", "N", "Zs", "P"]), min_size=1, max_size=30)
    good_amounts = st.one_of(st.sampled_from(["80.00", "A$80", "120", "1,234.50", "0.50"]), st.integers(50, 50_000))
    # Nearly right, so cases get past the models to the services, Stripe and the database.
    plausible_request = st.fixed_dictionaries(
        {
            "amount": st.one_of(good_amounts, amounts),
            "description": st.one_of(st.sampled_from(["Consultation", "Follow-up", "Zahnärztliche Kontrolle"]), plain),
        },
        optional={
            "currency": st.sampled_from(["aud", "AUD", "jpy", "usd"]),
            "client_ref": plain,
            "capture": st.sampled_from(["now", "hold"]),
            "confirm": st.booleans(),
            "item_code": plain,
            "payer": st.fixed_dictionaries({"id": st.sampled_from(["patient-1", "dr-ada", "nobody"])}),
        },
    )
    plausible_ref = st.fixed_dictionaries({"id": st.sampled_from(known_ids)}, optional={"amount": good_amounts})
    who = st.sampled_from(["clinician", "clinician", "clinician", "patient"])
    by_ref = st.sampled_from(ACTIONS[1:])
    branches = [
        *[st.tuples(who, st.just("request_payment"), plausible_request)] * 4,
        *[st.tuples(who, by_ref, plausible_ref)] * 3,
        st.tuples(who, st.just("request_payment"), request),
        st.tuples(who, by_ref, by_id),
        st.tuples(who, st.sampled_from(ACTIONS), json_values),
    ]
    # Weighted by hand: Hypothesis's one_of leans on its first branches when derandomized.
    return st.integers(0, len(branches) - 1).flatmap(lambda i: branches[i])


async def test_socket_actions_with_hostile_payloads_never_fail_inside(fuzz_stack: PayStack) -> None:
    stack = fuzz_stack
    clinician = await stack.socket(await stack.clinician())
    patient = await stack.socket(await stack.patient())
    # Real ids to aim at: an ordinary request and a card hold, so cancel, capture and release meet real rows.
    known = [
        (await stack.request_payment(clinician))["id"],
        (await stack.request_payment(clinician, capture="hold"))["id"],
    ]
    sockets: dict[str, SocketUser] = {"clinician": clinician, "patient": patient}
    outcomes: dict[str, int] = {}

    async def act(case: tuple[str, str, Any]) -> None:
        who, action, payload = case
        ack = await sockets[who].call(action, payload)
        TALLY.cases += 1
        assert isinstance(ack, dict), ack
        if ack.get("ok"):
            outcomes["ok"] = outcomes.get("ok", 0) + 1
            return
        code = ack["error"]["code"]
        outcomes[code] = outcomes.get(code, 0) + 1
        if code == "internal_error":
            TALLY.server_errors += 1
        assert code != "internal_error", (who, action, payload)
        assert ack["error"]["message"], ack

    await given_on_loop(payloads(known), act, fuzz_settings(quick=150, full=5000))
    TALLY.notes.append(f"socket actions: acks by outcome {dict(sorted(outcomes.items()))}")
    # Still connected and still answering: nothing the fuzz sent took the sockets down.
    assert clinician.client.connected and patient.client.connected
    assert (await clinician.call("cancel_payment_request", {"id": known[0]}))["ok"] in (True, False)
