"""Many checkouts while a fifth of every Stripe call fails, as Stripe fails (sandbox/stripe/faults.py: 500s and
503s, 429 rate_limit and lock_timeout, connections dropped before, after or half way through the answer, answers
stalled past the timeout), on SQLite and on PostgreSQL.

What each patient meets is checked on every attempt: the checkout works, or it answers 502
``payment_provider_error`` in plain words asking them to try again (what the widget shows), never anything else; a
patient who tries again gets there. At the end, counted at the sandbox with the faults off: each request has
exactly one PaymentIntent, the one Callpay holds, and it ends paid with one receipt.

Quick profile: 12 checkouts, 4 pay-later links and 3 Pay alls per database; ``CALLPAY_FUZZ=full``: 60, 20, 15.
``CALLPAY_FAULT_SEED`` repeats a run's dice.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from addon.appkeys import DB
from addon.models import PaymentLink
from addon.services.stripe_errors import UNREACHABLE
from sandbox.stripe import RunningSandbox
from tests.support.chaos import FULL, TALLY, examples
from tests.support.payflow import PayStack, build_stack, receipts_queued, request_row

from .test_stripe_faults import clear_faults, intents_for

RATE = 0.2
KINDS = ["500", "503", "429", "lock_timeout", "drop", "drop_after", "drop_body", "stall"]
TIMEOUT = "1.0"  # CALLPAY_STRIPE_TIMEOUT_SECONDS for the run: a stalled answer (3 s) is given up after 1 s
STALL_MS = 3000
PATIENT_TRIES = 8  # a patient who reads "try again" presses Pay again, a few times at most
CONCURRENT = 4


@dataclass
class Seen:
    ok: int = 0
    try_again: int = 0
    other: list[tuple[str, int, Any]] = field(default_factory=list)


@pytest.fixture
async def faulty_stack(
    sandbox: RunningSandbox, any_database: str, aiohttp_client: Callable[..., Any], http: aiohttp.ClientSession
) -> AsyncIterator[PayStack]:
    built = await build_stack(
        sandbox, any_database, aiohttp_client, http, stripe_timeout_seconds=TIMEOUT, rate_limits="off"
    )
    await built.connect_clinic()
    yield built
    for user in built.sockets:
        await user.close()


async def as_browser(stack: PayStack, method: str, path: str, data: dict[str, str] | None = None) -> Any:
    """Stripe.js's calls, which meet the same faults: resent under one idempotency key until Stripe answers."""
    key = secrets.token_hex(12)
    headers = {"Authorization": f"Bearer {stack.platform_key}", "Idempotency-Key": key}
    assert stack.account is not None
    headers["Stripe-Account"] = stack.account
    for _ in range(20):
        try:
            async with stack.http.request(
                method,
                f"{stack.sandbox.url}{path}",
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=float(TIMEOUT)),
            ) as answer:
                if answer.status < 500 and answer.status != 429:
                    return await answer.json()
        except (aiohttp.ClientError, TimeoutError):
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"the browser never got an answer to {method} {path}")


def judge(seen: Seen, what: str, status: int, body: Any) -> bool:
    """True when it worked; a plain try-again is counted; anything else is recorded as wrong."""
    if status == 200:
        seen.ok += 1
        return True
    error = body.get("error", {}) if isinstance(body, dict) else {}
    if status == 502 and error.get("code") == "payment_provider_error" and error.get("message") == UNREACHABLE:
        seen.try_again += 1
    else:
        seen.other.append((what, status, body))
    return False


async def pay_one(stack: PayStack, pr_id: str, patient: dict[str, Any] | None, seen: Seen, *, link: str = "") -> str:
    """One patient paying one request (or, with ``link``, a pay-later link's token, signed out) as they would: Pay
    (again, when asked), confirm in Stripe's frame, and the page telling Callpay. Returns the intent handed out."""
    base = f"/api/v1/pay/{link}" if link else f"/api/v1/payment-requests/{pr_id}"
    for _ in range(PATIENT_TRIES):
        status, body = await stack.api("POST", f"{base}/checkout", patient, json={"email": "pat@example.com"})
        if judge(seen, "checkout", status, body):
            break
        await asyncio.sleep(0.3)
    else:
        raise AssertionError(f"{pr_id}: no checkout in {PATIENT_TRIES} tries")
    intent_id: str = body["client_secret"].split("_secret_")[0]
    confirmed = await as_browser(
        stack, "POST", f"/v1/payment_intents/{intent_id}/confirm", {"payment_method": "pm_card_visa"}
    )
    if confirmed.get("status") != "succeeded":  # the first confirm worked but its answer was lost
        again = await as_browser(stack, "GET", f"/v1/payment_intents/{intent_id}")
        assert again["status"] == "succeeded", (confirmed, again)
    for _ in range(PATIENT_TRIES):
        status, body = await stack.api("POST", f"{base}/confirmation", patient)
        if judge(seen, "confirmation", status, body):
            assert body["status"] == "paid", body
            break
        await asyncio.sleep(0.3)
    else:
        raise AssertionError(f"{pr_id}: the payment page never heard back in {PATIENT_TRIES} tries")
    return intent_id


async def test_checkouts_with_a_fifth_of_stripe_calls_failing(faulty_stack: PayStack) -> None:
    stack = faulty_stack
    count = examples(12, 60)
    # Quick runs repeat (a fixed seed); full runs draw fresh dice and say which.
    seed = int(os.environ.get("CALLPAY_FAULT_SEED") or (random.randrange(2**32) if FULL else 20261202))
    doctor = await stack.socket(await stack.clinician())
    requests = [await stack.request_payment(doctor, amount=f"{40 + i}.00") for i in range(count)]
    patients = [await stack.patient(sub=f"patient-{i % 3}") for i in range(3)]

    async with stack.http.post(
        f"{stack.sandbox.url}/_sandbox/faults",
        json={"route_prefix": "/v1/", "kinds": KINDS, "rate": RATE, "latency_ms": STALL_MS, "seed": seed},
    ) as answer:
        assert answer.status == 201
    seen = Seen()
    gate = asyncio.Semaphore(CONCURRENT)

    async def one(i: int) -> str:
        async with gate:
            return await pay_one(stack, requests[i]["id"], patients[i % 3], seen)

    try:
        handed_out = await asyncio.gather(*(one(i) for i in range(count)))
    finally:
        injected = await clear_faults(stack)
    TALLY.cases += count
    TALLY.faults += sum(injected.values())
    TALLY.notes.append(
        f"checkouts under Stripe faults (seed {seed}): {count} paid, {seen.try_again} try-agains, "
        f"faults {dict(sorted(injected.items()))}"
    )

    assert seen.other == [], f"seed {seed}: answers that were neither a success nor a plain try-again"
    assert seen.ok == 2 * count
    assert sum(injected.values()) >= count // 2, injected  # the faults really fired
    for pr, intent_id in zip(requests, handed_out, strict=True):
        made = await intents_for(stack, pr["id"])
        assert [i["id"] for i in made] == [intent_id], f"seed {seed}: {pr['id']} has {len(made)} PaymentIntents"
        row = await request_row(stack, pr["id"])
        assert (row.status, row.stripe_payment_intent_id) == ("paid", intent_id)
        assert await receipts_queued(stack, pr["id"]) == 1


@pytest.mark.parametrize("kind", ["503", "drop_after", "stall"])
async def test_an_outage_asks_the_patient_to_try_again_and_the_retry_pays_once(
    faulty_stack: PayStack, kind: str
) -> None:
    """Every attempt of the create fails (a short outage): the patient reads a plain try-again, not an error page;
    pressing Pay again after it passes hands out one intent, the one a handled attempt may already have made."""
    stack = faulty_stack
    doctor = await stack.socket(await stack.clinician())
    pr = await stack.request_payment(doctor)
    patient = await stack.patient()
    async with stack.http.post(
        f"{stack.sandbox.url}/_sandbox/faults",
        json={
            "route_prefix": "/v1/payment_intents",
            "method": "POST",
            "kind": kind,
            "count": 3,
            "latency_ms": STALL_MS,
        },
    ) as answer:
        assert answer.status == 201
    status, body = await stack.checkout(pr["id"], patient)
    assert (status, body["error"]["code"], body["error"]["message"]) == (502, "payment_provider_error", UNREACHABLE)
    assert await clear_faults(stack) == {kind: 3}
    status, body = await stack.checkout(pr["id"], patient)
    assert status == 200, body
    intent_id = body["client_secret"].split("_secret_")[0]
    assert [i["id"] for i in await intents_for(stack, pr["id"])] == [intent_id]
    assert (await request_row(stack, pr["id"])).stripe_payment_intent_id == intent_id


async def test_pay_later_links_with_a_fifth_of_stripe_calls_failing(faulty_stack: PayStack) -> None:
    """The same for pay-later links, paid signed out with the link's token: one intent per link, each paid."""
    stack = faulty_stack
    count = examples(4, 20)
    seed = int(os.environ.get("CALLPAY_FAULT_SEED") or (random.randrange(2**32) if FULL else 20261203))
    admin = await stack.session(role="team_admin", sub="admin-1", call=None)
    links = []
    for i in range(count):
        status, link = await stack.api(
            "POST", "/api/v1/payment-links", admin, json={"amount": f"{30 + i}.00", "description": "Consultation"}
        )
        assert status == 201, link
        links.append(link)
    async with stack.http.post(
        f"{stack.sandbox.url}/_sandbox/faults",
        json={"route_prefix": "/v1/", "kinds": KINDS, "rate": RATE, "latency_ms": STALL_MS, "seed": seed},
    ) as answer:
        assert answer.status == 201
    seen = Seen()
    gate = asyncio.Semaphore(CONCURRENT)

    async def one(link: dict[str, Any]) -> str:
        async with gate:
            return await pay_one(stack, link["id"], None, seen, link=link["url"].rsplit("/", 1)[1])

    try:
        handed_out = await asyncio.gather(*(one(link) for link in links))
    finally:
        injected = await clear_faults(stack)
    TALLY.cases += count
    TALLY.faults += sum(injected.values())
    TALLY.notes.append(
        f"pay-later links under Stripe faults (seed {seed}): {count} paid, {seen.try_again} try-agains, "
        f"faults {dict(sorted(injected.items()))}"
    )
    assert seen.other == [], f"seed {seed}: answers that were neither a success nor a plain try-again"
    for link, intent_id in zip(links, handed_out, strict=True):
        made = [i for i in await intents_for_link(stack, link["id"])]
        assert [i["id"] for i in made] == [intent_id], f"seed {seed}: link {link['id']} has {len(made)} intents"
        async with stack.app[DB]() as db:
            assert (await db.get_one(PaymentLink, link["id"])).status == "paid"


async def intents_for_link(stack: PayStack, link_id: str) -> list[dict[str, Any]]:
    page = await stack.stripe("GET", "/v1/payment_intents?limit=100")
    assert not page["has_more"]
    return [i for i in page["data"] if i["metadata"].get("payment_link") == link_id]


async def test_pay_all_with_a_fifth_of_stripe_calls_failing(faulty_stack: PayStack) -> None:
    """Pay all (several requests, one intent) in several calls at once: one intent per set, every request paid."""
    stack = faulty_stack
    count = examples(3, 15)
    seed = int(os.environ.get("CALLPAY_FAULT_SEED") or (random.randrange(2**32) if FULL else 20261204))
    sets: list[tuple[dict[str, Any], list[str]]] = []
    for n in range(count):
        doctor = await stack.socket(await stack.clinician(call=f"call-all-{n}"))
        made = [await stack.request_payment(doctor, amount=f"{20 + k}.00") for k in range(2)]
        sets.append((await stack.patient(call=f"call-all-{n}", sub=f"patient-all-{n}"), [pr["id"] for pr in made]))
    async with stack.http.post(
        f"{stack.sandbox.url}/_sandbox/faults",
        json={"route_prefix": "/v1/", "kinds": KINDS, "rate": RATE, "latency_ms": STALL_MS, "seed": seed},
    ) as answer:
        assert answer.status == 201
    seen = Seen()

    async def one(patient: dict[str, Any], ids: list[str]) -> str:
        body = {"email": "pat@example.com", "payment_requests": ids}
        for _ in range(PATIENT_TRIES):
            status, session = await stack.api("POST", f"/api/v1/calls/{patient['call']}/checkout", patient, json=body)
            if judge(seen, "pay all", status, session):
                break
            await asyncio.sleep(0.3)
        else:
            raise AssertionError(f"{ids}: no Pay all checkout in {PATIENT_TRIES} tries")
        intent_id: str = session["client_secret"].split("_secret_")[0]
        confirmed = await as_browser(
            stack, "POST", f"/v1/payment_intents/{intent_id}/confirm", {"payment_method": "pm_card_visa"}
        )
        if confirmed.get("status") != "succeeded":
            assert (await as_browser(stack, "GET", f"/v1/payment_intents/{intent_id}"))["status"] == "succeeded"
        for _ in range(PATIENT_TRIES):
            status, shown = await stack.api("POST", f"/api/v1/payment-requests/{ids[0]}/confirmation", patient)
            if judge(seen, "pay all confirmation", status, shown):
                break
            await asyncio.sleep(0.3)
        return intent_id

    try:
        handed_out = await asyncio.gather(*(one(patient, ids) for patient, ids in sets))
    finally:
        injected = await clear_faults(stack)
    TALLY.cases += count
    TALLY.faults += sum(injected.values())
    TALLY.notes.append(
        f"Pay all under Stripe faults (seed {seed}): {count} sets of 2 paid, {seen.try_again} try-agains, "
        f"faults {dict(sorted(injected.items()))}"
    )
    assert seen.other == [], f"seed {seed}: answers that were neither a success nor a plain try-again"
    page = await stack.stripe("GET", "/v1/payment_intents?limit=100")
    for (_, ids), intent_id in zip(sets, handed_out, strict=True):
        made = [i["id"] for i in page["data"] if i["metadata"].get("payment_requests") == ",".join(ids)]
        assert made == [intent_id], f"seed {seed}: the set {ids} has {len(made)} PaymentIntents"
        assert [(await request_row(stack, i)).status for i in ids] == ["paid", "paid"]
