"""Who is paying now: the clinician sees the patient paying (checkout open, confirming, 3-D Secure), it ends with
the outcome or by itself, and a cancel meanwhile leaves the patient uncharged, unless Stripe already took it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import aiohttp
from sqlalchemy import update

from addon.appkeys import DB
from addon.models import PaymentRequest, utcnow
from addon.services.paying import TTL
from addon.services.paying_state import paying_json
from sandbox.stripe import RunningSandbox
from tests.support.payflow import PayStack, SocketUser, build_stack, receipts_queued, request_row


async def say(stack: PayStack, pr_id: str, session: dict[str, Any], step: str) -> tuple[int, Any]:
    return await stack.api("POST", f"/api/v1/payment-requests/{pr_id}/paying", session, json={"step": step})


def paying_of(user: SocketUser, pr_id: str) -> Any:
    return [p for p in user.of("payment_request") if p["id"] == pr_id][-1]["paying"]


async def test_the_clinician_sees_each_step_and_the_end(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    sam = await stack.patient(sub="patient-1", name="Sam Lee")
    await stack.socket(sam)
    pr = await stack.request_payment(doctor)
    assert pr["paying"] is None

    status, body = await say(stack, pr["id"], sam, "checkout")
    assert status == 200 and body["paying"]["step"] == "checkout", body
    await doctor.wait_for(lambda u: paying_of(u, pr["id"]) is not None)
    paying = paying_of(doctor, pr["id"])
    assert paying["by"] == {"id": "patient-1", "name": "Sam Lee"}
    assert paying["words"] == "Sam Lee is paying now: checkout is open."
    assert body["status"] == "requested" and body["cancelable"]  # the lifecycle is untouched

    # The checkout call says the same (quietly: nothing new to tell), then Pay pressed: confirming.
    sent = len(stack.published.of("payment_request"))
    status, _ = await stack.checkout(pr["id"], sam)
    assert status == 200 and len(stack.published.of("payment_request")) == sent
    status, body = await say(stack, pr["id"], sam, "confirming")
    assert body["paying"]["step"] == "confirming" and body["paying"]["since"] == paying["since"]
    await doctor.wait_for(lambda u: paying_of(u, pr["id"])["step"] == "confirming")

    # The patient goes back without paying.
    status, body = await say(stack, pr["id"], sam, "closed")
    assert status == 200 and body["paying"] is None
    await doctor.wait_for(lambda u: paying_of(u, pr["id"]) is None)


async def test_the_payment_ends_it_and_a_late_report_changes_nothing(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    sam = await stack.patient(sub="patient-1", name="Sam Lee")
    pr = await stack.request_payment(doctor)
    intent, _ = await stack.pay(pr["id"], sam)  # checkout says Sam is paying
    assert (await request_row(stack, pr["id"])).paying_step == "checkout"
    assert intent["status"] == "succeeded"
    status, body = await stack.report(pr["id"], sam)
    assert body["status"] == "paid" and body["paying"] is None
    row = await request_row(stack, pr["id"])
    assert (row.paying_step, row.paying_sub, row.paying_until) == (None, None, None)

    sent = len(stack.published.of("payment_request"))
    status, body = await say(stack, pr["id"], sam, "confirming")  # the page's renewal, a moment too late
    assert status == 409 and body["error"]["code"] == "already_paid"
    assert len(stack.published.of("payment_request")) == sent
    assert (await request_row(stack, pr["id"])).paying_step is None


async def test_a_decline_ends_it_until_the_page_says_it_again(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    sam = await stack.patient(sub="patient-1", name="Sam Lee")
    pr = await stack.request_payment(doctor)
    await stack.pay(pr["id"], sam, "pm_card_chargeDeclined")
    status, body = await stack.report(pr["id"], sam)
    assert body["status"] == "failed" and body["paying"] is None
    status, body = await say(stack, pr["id"], sam, "checkout")  # the card form is still open for another card
    assert status == 200 and body["paying"]["step"] == "checkout"


async def test_it_lapses_when_the_page_stops_saying_it(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    sam = await stack.patient(sub="patient-1", name="Sam Lee")
    pr = await stack.request_payment(doctor)
    await say(stack, pr["id"], sam, "checkout")
    row = await request_row(stack, pr["id"])
    assert row.paying_until is not None and row.paying_since is not None
    assert paying_json(row, row.paying_until - timedelta(seconds=1)) is not None
    assert paying_json(row, row.paying_until) is None
    assert row.paying_until - row.paying_since == TTL

    # The patient walked away: the time passed (written as it would stand then), and a clinician who opens the
    # panel now sees nobody paying, and may cancel without being asked twice.
    async with stack.app[DB].begin() as db:
        await db.execute(
            update(PaymentRequest)
            .where(PaymentRequest.id == pr["id"])
            .values(paying_until=utcnow() - timedelta(seconds=1))
        )
    again = await stack.socket(await stack.clinician())
    [snapshot] = await again.wait_count("payment_requests", 1)
    assert snapshot[0]["paying"] is None


async def test_only_the_payer_says_they_are_paying(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    sam = await stack.patient(sub="patient-1", name="Sam Lee")
    alex = await stack.patient(sub="carer-1", name="Alex Carer")
    await stack.socket(sam)
    await stack.socket(alex)
    await doctor.wait_for(lambda u: len(u.of("participants")[-1]) == 2)
    pr = await stack.request_payment(doctor, payer={"id": "patient-1"})
    status, body = await say(stack, pr["id"], alex, "checkout")
    assert status == 403 and body["error"]["code"] == "not_payer"
    status, body = await stack.api("POST", f"/api/v1/payment-requests/{pr['id']}/paying", alex, json={"step": "x"})
    assert status == 400 and body["error"]["field"] == "step"
    status, body = await say(stack, pr["id"], await stack.clinician(), "checkout")
    assert status == 403

    # On a request for anyone in the call, one closing their checkout doesn't hide the other paying.
    open_one = await stack.request_payment(doctor, amount="20.00", description="Report")
    await say(stack, open_one["id"], sam, "checkout")
    status, body = await say(stack, open_one["id"], alex, "closed")
    assert status == 200 and body["paying"]["by"]["id"] == "patient-1"
    # Once Sam's checkout made its payment, Sam is the one paying it: Alex can't say otherwise.
    assert (await stack.checkout(open_one["id"], sam))[0] == 200
    status, body = await say(stack, open_one["id"], alex, "checkout")
    assert status == 409 and body["error"]["code"] == "paid_by_someone_else"
    assert (await request_row(stack, open_one["id"])).paying_sub == "patient-1"


async def test_three_d_secure_is_said_from_stripes_word(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    sam = await stack.patient(sub="patient-1", name="Sam Lee")
    pr = await stack.request_payment(doctor)
    intent, session = await stack.pay(pr["id"], sam, "pm_card_authenticationRequired")
    await say(stack, pr["id"], sam, "confirming")
    assert intent["status"] == "requires_action"
    await stack.deliver(await stack.event(intent["id"], "payment_intent.requires_action"))
    await doctor.wait_for(lambda u: (paying_of(u, pr["id"]) or {}).get("step") == "authenticating")
    words = paying_of(doctor, pr["id"])["words"]
    assert words == "Sam Lee is paying now: their bank is checking the card (3-D Secure)."
    # The page renewing "confirming" keeps what Stripe said.
    await stack.api("POST", f"/api/v1/payment-requests/{pr['id']}/paying", sam, json={"step": "confirming"})
    assert (await request_row(stack, pr["id"])).paying_step == "authenticating"

    await stack.complete_3ds(intent["id"], session["client_secret"])
    _, body = await stack.report(pr["id"], sam)
    assert body["status"] == "paid" and body["paying"] is None


async def test_cancel_while_paying_leaves_the_patient_uncharged(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    sam = await stack.patient(sub="patient-1", name="Sam Lee")
    patient = await stack.socket(sam)
    pr = await stack.request_payment(doctor)
    status, session = await stack.checkout(pr["id"], sam)
    assert status == 200
    await say(stack, pr["id"], sam, "confirming")
    await doctor.wait_for(lambda u: (paying_of(u, pr["id"]) or {}).get("step") == "confirming")

    ack = await doctor.call("cancel_payment_request", {"id": pr["id"]})
    assert ack["ok"], ack
    assert ack["payment_request"]["status"] == "canceled" and ack["payment_request"]["paying"] is None
    # The patient's page hears it at once (and says they weren't charged); the card can't be charged now.
    await patient.wait_for(lambda u: any(p["status"] == "canceled" for p in u.of("payment_request")))
    intent_id = session["client_secret"].split("_secret_")[0]
    confirmed = await stack.confirm_intent(intent_id)
    assert "error" in confirmed, confirmed
    assert (await stack.stripe("GET", f"/v1/payment_intents/{intent_id}"))["status"] == "canceled"
    await stack.webhooks_settled()
    assert (await request_row(stack, pr["id"])).status == "canceled"
    assert await receipts_queued(stack, pr["id"]) == 0


async def test_paid_wins_when_stripe_took_it_before_the_cancel(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    sam = await stack.patient(sub="patient-1", name="Sam Lee")
    pr = await stack.request_payment(doctor)
    intent, _ = await stack.pay(pr["id"], sam)  # paid at Stripe; Callpay hasn't heard yet
    assert intent["status"] == "succeeded"

    ack = await doctor.call("cancel_payment_request", {"id": pr["id"]})
    assert not ack["ok"] and ack["error"]["code"] == "not_cancelable", ack
    assert "can't be cancelled" in ack["error"]["message"]
    await stack.webhooks_settled()
    row = await request_row(stack, pr["id"])
    assert row.status == "paid" and row.paying_step is None
    assert await receipts_queued(stack, pr["id"]) == 1
    assert len(await doctor.wait_count("payment_received", 1)) == 1


async def test_a_page_saying_it_too_often_is_slowed_down(
    sandbox: RunningSandbox, database_url: str, aiohttp_client: Callable[..., Any], http: aiohttp.ClientSession
) -> None:
    stack = await build_stack(sandbox, database_url, aiohttp_client, http, rate_limits="paying-user=3/minute")
    await stack.connect_clinic()
    doctor = await stack.socket(await stack.clinician())
    sam = await stack.patient(sub="patient-1", name="Sam Lee")
    pr = await stack.request_payment(doctor)
    try:
        for step in ("checkout", "confirming", "closed"):
            assert (await say(stack, pr["id"], sam, step))[0] == 200
        status, body = await say(stack, pr["id"], sam, "checkout")
        assert status == 429 and body["error"]["code"] == "rate_limited"
        assert (await request_row(stack, pr["id"])).paying_step is None
    finally:
        await doctor.close()


async def test_paying_several_at_once_shows_the_patient_paying_each_until_it_lands(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    sam = await stack.patient(sub="patient-1", name="Sam Lee")
    await stack.socket(sam)
    first = await stack.request_payment(doctor, amount="80.00", description="Consultation")
    second = await stack.request_payment(doctor, amount="40.00", description="Script")
    ids = [first["id"], second["id"]]
    status, session = await stack.api(
        "POST",
        f"/api/v1/calls/{sam['call']}/checkout",
        sam,
        json={"email": "sam@example.com", "payment_requests": ids},
    )
    assert status == 200, session
    await doctor.wait_for(lambda u: all(paying_of(u, i) is not None for i in ids))
    assert [paying_of(doctor, i)["words"] for i in ids] == ["Sam Lee is paying now: checkout is open."] * 2
    # The page says "confirming" for each as Pay is pressed; the payment ends it for both.
    for pr_id in ids:
        status, body = await say(stack, pr_id, sam, "confirming")
        assert status == 200 and body["paying"]["step"] == "confirming", body
    intent_id = str(session["client_secret"].split("_secret_")[0])
    assert (await stack.confirm_intent(intent_id))["status"] == "succeeded"
    status, body = await stack.report(ids[0], sam)
    assert status == 200 and body["status"] == "paid"
    await stack.webhooks_settled()
    rows = [await request_row(stack, i) for i in ids]
    assert [(r.status, r.paying_step, r.paying_sub) for r in rows] == [("paid", None, None)] * 2


async def test_three_d_secure_for_several_at_once_is_said_for_each(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    sam = await stack.patient(sub="patient-1", name="Sam Lee")
    await stack.socket(sam)
    visit = await stack.request_payment(doctor, amount="80.00", description="Visit")
    script = await stack.request_payment(doctor, amount="40.00", description="Script")
    ids = [visit["id"], script["id"]]
    status, session = await stack.api(
        "POST", f"/api/v1/calls/{sam['call']}/checkout", sam, json={"email": "sam@example.com", "payment_requests": ids}
    )
    assert status == 200, session
    intent_id = str(session["client_secret"].split("_secret_")[0])
    intent = await stack.confirm_intent(intent_id, "pm_card_authenticationRequired")
    assert intent["status"] == "requires_action"
    await stack.deliver(await stack.event(intent_id, "payment_intent.requires_action"))
    await doctor.wait_for(lambda u: all((paying_of(u, i) or {}).get("step") == "authenticating" for i in ids))
    assert {paying_of(doctor, i)["words"] for i in ids} == {
        "Sam Lee is paying now: their bank is checking the card (3-D Secure)."
    }
    await stack.complete_3ds(intent_id, session["client_secret"])
    _, body = await stack.report(ids[1], sam)
    assert body["status"] == "paid" and body["paying"] is None
    await stack.webhooks_settled()
    assert [(await request_row(stack, i)).status for i in ids] == ["paid", "paid"]
