"""Pay all: several open requests of a call paid with one PaymentIntent, against the Stripe sandbox.

The sandbox delivers webhooks as Stripe may (duplicated, out of order, a little late), so every flow here also meets
at-least-once, unordered delivery; counts are taken after ``webhooks_settled()``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from addon.appkeys import DB
from addon.models import OutboxEmail, PayAll, PayAllItem
from addon.services import receipts
from tests.support.payflow import PayStack, SocketUser, request_row


def intent_of(session: dict[str, Any]) -> str:
    return str(session["client_secret"].split("_secret_")[0])


async def pay_all(
    stack: PayStack, patient: dict[str, Any], ids: list[str], email: str = "pat@example.com", **extra: Any
) -> tuple[int, Any]:
    body = {"email": email, "payment_requests": ids, **extra}
    return await stack.api("POST", f"/api/v1/calls/{patient['call']}/checkout", patient, json=body)


async def three_requests(stack: PayStack) -> tuple[SocketUser, dict[str, Any], list[dict[str, Any]]]:
    doctor = await stack.socket(await stack.clinician())
    patient = await stack.patient(name="Sam Patient")
    await stack.socket(patient)
    made = [
        await stack.request_payment(doctor, amount="80.00", description="Consultation"),
        await stack.request_payment(doctor, amount="40.00", description="Script"),
        await stack.request_payment(doctor, amount="25.50", description="Report"),
    ]
    return doctor, patient, made


async def receipt_emails(stack: PayStack) -> list[OutboxEmail]:
    async with stack.app[DB]() as db:
        return list((await db.scalars(select(OutboxEmail).where(OutboxEmail.kind == "receipt"))).all())


async def test_pay_all_of_three_is_one_payment_one_receipt_and_a_pop_up_per_request(connected: PayStack) -> None:
    stack = connected
    doctor, patient, made = await three_requests(stack)
    ids = [pr["id"] for pr in made]
    status, session = await pay_all(stack, patient, ids)
    assert status == 200, session
    assert (session["amount"], session["currency"]) == (14550, "aud")
    intent_id = intent_of(session)
    at_stripe = await stack.stripe("GET", f"/v1/payment_intents/{intent_id}")
    assert at_stripe["amount"] == 14550
    # Ids only at Stripe: nothing the clinician wrote.
    assert at_stripe["metadata"]["payment_requests"] == ",".join(ids)
    assert "Consultation" not in str(at_stripe["metadata"]) and "Script" not in at_stripe["description"]

    confirmed = await stack.confirm_intent(intent_id)
    assert confirmed["status"] == "succeeded"
    status, body = await stack.report(ids[1], patient)
    assert status == 200 and body["status"] == "paid", body
    await stack.webhooks_settled()

    rows = [await request_row(stack, i) for i in ids]
    assert [r.status for r in rows] == ["paid", "paid", "paid"]
    assert len({r.pay_all_id for r in rows}) == 1 and rows[0].pay_all_id is not None
    assert len({r.receipt_number for r in rows}) == 3
    assert all(r.paid_by_name == "Sam Patient" and r.card_last4 == "4242" for r in rows)
    # Exactly one pop-up per request, as the contract has it; each says it was paid with the others.
    received = stack.published.of("payment_received")
    assert sorted(e.data["id"] for e in received) == sorted(ids)
    assert {e.data["pay_all"] for e in received} == {rows[0].pay_all_id}
    await doctor.wait_count("payment_received", 3)
    # One receipt email, listing each item on its own line.
    emails = await receipt_emails(stack)
    assert len(emails) == 1 and emails[0].to_address == "pat@example.com"
    async with stack.app[DB]() as db:
        receipt = await receipts.load_receipt(db, ids[2])
    assert receipt is not None
    assert [(i.description, i.amount) for i in receipt.items] == [("Consultation", 8000), ("Script", 4000),
                                                                   ("Report", 2550)]  # fmt: skip
    assert receipt.amount == 14550 and receipt.paid_display == "A$145.50"
    assert receipt.receipt_number == f"{rows[0].receipt_number}-{rows[2].receipt_number}"
    message = receipts.build_receipt_email(receipt, to_address="pat@example.com", mail_from="Callpay <r@x.test>")
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    for line in ("Consultation — A$80.00", "Script — A$40.00", "Report — A$25.50"):
        assert line in text
    # The receipt JSON the patient's confirmation shows lists them too.
    status, shown = await stack.api("GET", f"/api/v1/payment-requests/{ids[0]}/receipt", patient)
    assert status == 200 and [i["amount_display"] for i in shown["items"]] == ["A$80.00", "A$40.00", "A$25.50"]


async def test_the_same_set_again_is_the_same_intent_and_another_set_replaces_it(connected: PayStack) -> None:
    stack = connected
    _, patient, made = await three_requests(stack)
    ids = [pr["id"] for pr in made]
    _, first = await pay_all(stack, patient, ids)
    status, again = await pay_all(stack, patient, [*reversed(ids), ids[0]], email="new@example.com")
    assert status == 200 and again["client_secret"] == first["client_secret"]
    # Callpay sends the receipt, to the newest address; Stripe never holds it.
    assert (await stack.stripe("GET", f"/v1/payment_intents/{intent_of(first)}"))["receipt_email"] is None
    async with stack.app[DB]() as db:
        assert (await db.scalar(select(PayAll.patient_email))) == "new@example.com"

    status, fewer = await pay_all(stack, patient, ids[:2])
    assert status == 200 and fewer["client_secret"] != first["client_secret"] and fewer["amount"] == 12000
    old = await stack.stripe("GET", f"/v1/payment_intents/{intent_of(first)}")
    assert old["status"] == "canceled"
    await stack.webhooks_settled()
    # The old set's cancellation cancels no request: they are all still to pay.
    assert [(await request_row(stack, i)).status for i in ids] == ["requested"] * 3

    # Pay now on one of them afterwards: the set's intent goes, so the request can't be paid twice.
    status, single = await stack.checkout(ids[0], patient)
    assert status == 200
    assert (await stack.stripe("GET", f"/v1/payment_intents/{intent_of(fewer)}"))["status"] == "canceled"
    # And Pay all after Pay now: the request's own intent is canceled, the request is not.
    status, back = await pay_all(stack, patient, ids)
    assert status == 200
    assert (await stack.stripe("GET", f"/v1/payment_intents/{intent_of(single)}"))["status"] == "canceled"
    await stack.confirm_intent(intent_of(back))
    await stack.webhooks_settled()
    rows = [await request_row(stack, i) for i in ids]
    assert [r.status for r in rows] == ["paid"] * 3
    assert all(r.stripe_payment_intent_id is None for r in rows)
    assert len(stack.published.of("payment_received")) == 3
    async with stack.app[DB]() as db:
        sets = (await db.scalars(select(PayAll).order_by(PayAll.created_at))).all()
    assert [s.status for s in sets] == ["superseded", "superseded", "paid"]


async def test_a_request_cancelled_while_paying_all_is_not_charged(connected: PayStack) -> None:
    stack = connected
    doctor, patient, made = await three_requests(stack)
    ids = [pr["id"] for pr in made]
    status, session = await pay_all(stack, patient, ids)
    assert status == 200
    ack = await doctor.call("cancel_payment_request", {"id": ids[1]})
    assert ack["ok"], ack
    # The intent at Stripe no longer covers it.
    at_stripe = await stack.stripe("GET", f"/v1/payment_intents/{intent_of(session)}")
    assert at_stripe["amount"] == 10550 and at_stripe["metadata"]["payment_requests"] == f"{ids[0]},{ids[2]}"

    # The patient's page asks again before confirming: the stale set is refused, naming what changed.
    status, body = await pay_all(stack, patient, ids)
    assert status == 409, body
    error = body["error"]
    assert error["code"] == "set_changed" and error["payment_requests"] == [ids[1]]
    assert error["remaining"] == [ids[0], ids[2]] and error["amount"] == 10550
    assert "A$40.00 for Script" in error["message"] and "A$105.50" in error["message"]
    status, fresh = await pay_all(stack, patient, error["remaining"])
    assert status == 200 and fresh["client_secret"] == session["client_secret"] and fresh["amount"] == 10550

    confirmed = await stack.confirm_intent(intent_of(fresh))
    assert confirmed["status"] == "succeeded" and confirmed["amount_received"] == 10550
    await stack.webhooks_settled()
    assert [(await request_row(stack, i)).status for i in ids] == ["paid", "canceled", "paid"]
    assert sorted(e.data["id"] for e in stack.published.of("payment_received")) == sorted([ids[0], ids[2]])
    async with stack.app[DB]() as db:
        receipt = await receipts.load_receipt(db, ids[0])
    assert receipt is not None and [i.description for i in receipt.items] == ["Consultation", "Report"]


async def test_a_cancel_after_the_patient_confirmed_is_refused_and_the_payment_stands(connected: PayStack) -> None:
    stack = connected
    doctor, patient, made = await three_requests(stack)
    ids = [pr["id"] for pr in made]
    _, session = await pay_all(stack, patient, ids)
    # The patient confirmed a moment before the clinician pressed Cancel: the money is moving.
    assert (await stack.confirm_intent(intent_of(session)))["status"] == "succeeded"
    ack = await doctor.call("cancel_payment_request", {"id": ids[1]})
    assert not ack["ok"] and ack["error"]["code"] == "not_cancelable", ack
    assert "paying" in ack["error"]["message"]
    await stack.webhooks_settled()
    assert [(await request_row(stack, i)).status for i in ids] == ["paid"] * 3


async def test_refund_of_one_item_refunds_its_share_of_the_shared_charge(connected: PayStack) -> None:
    stack = connected
    _, patient, made = await three_requests(stack)
    ids = [pr["id"] for pr in made]
    _, session = await pay_all(stack, patient, ids)
    await stack.confirm_intent(intent_of(session))
    await stack.report(ids[0], patient)
    boss = await stack.session(role="team_admin", sub="admin-1", name="Grace Hopper", call=None)
    status, body = await stack.api(
        "POST", f"/api/v1/payment-requests/{ids[1]}/refunds", boss, json={"reason": "Script not needed"}
    )
    assert status == 201, body
    assert body["refund"]["amount"] == 4000 and body["payment_request"]["status"] == "refunded"
    status, body = await stack.api("POST", f"/api/v1/payment-requests/{ids[0]}/refunds", boss, json={"amount": 1000})
    assert status == 201 and body["payment_request"]["status"] == "partially_refunded"
    # More than the item's own amount is refused, though the shared charge has more left.
    status, body = await stack.api("POST", f"/api/v1/payment-requests/{ids[2]}/refunds", boss, json={"amount": 2551})
    assert status == 409 and body["error"]["code"] == "refund_too_large"
    await stack.webhooks_settled()
    rows = [await request_row(stack, i) for i in ids]
    assert [(r.status, r.amount_refunded) for r in rows] == [
        ("partially_refunded", 1000),
        ("refunded", 4000),
        ("paid", 0),
    ]
    at_stripe = await stack.stripe("GET", f"/v1/refunds?payment_intent={intent_of(session)}")
    assert sorted(r["amount"] for r in at_stripe["data"]) == [1000, 4000]
    async with stack.app[DB]() as db:
        refund_emails = await db.scalar(
            select(func.count()).select_from(OutboxEmail).where(OutboxEmail.kind == "refund")
        )
        receipt = await receipts.load_receipt(db, ids[2])
    assert refund_emails == 2
    assert receipt is not None and receipt.amount_refunded == 5000 and receipt.status == "partially_refunded"
    assert sorted(receipt.refund_words(line).split(" for ")[-1] for line in receipt.refunds) == ["Consultation",
                                                                                                 "Script"]  # fmt: skip
    # The payment centre shows each item with its own refund.
    status, page = await stack.api("GET", "/api/v1/payments", boss)
    shown = {row["id"]: row for row in page["data"]}
    assert [shown[i]["amount_refunded"] for i in ids] == [1000, 4000, 0]


async def test_ids_this_patient_cant_pay_here_are_refused_by_name_and_nothing_is_charged(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    patient = await stack.patient(sub="patient-1", name="Sam Patient")
    carer = await stack.patient(sub="carer-1", name="Alex Carer")
    await stack.socket(patient)
    await stack.socket(carer)
    await doctor.wait_for(lambda u: any(len(p) == 2 for p in u.of("participants")))
    mine = await stack.request_payment(doctor, amount="80.00", description="Consultation")
    for_carer = await stack.request_payment(doctor, amount="20.00", description="Report", payer={"id": "carer-1"})
    hold = await stack.request_payment(doctor, amount="50.00", description="Deposit", capture="hold")
    other_doctor = await stack.socket(await stack.clinician(call="call-2"))
    elsewhere = await stack.request_payment(other_doctor, amount="30.00", description="Other call")

    status, body = await pay_all(stack, patient, [mine["id"], elsewhere["id"]])
    assert status == 409 and body["error"]["code"] == "not_in_call"
    assert body["error"]["payment_requests"] == [elsewhere["id"]] and body["error"]["field"] == "payment_requests"
    status, body = await pay_all(stack, patient, [mine["id"], "pr_nosuchrequest"])
    assert status == 409 and body["error"]["payment_requests"] == ["pr_nosuchrequest"]
    status, body = await pay_all(stack, patient, [mine["id"], for_carer["id"]])
    assert (
        status == 409
        and body["error"]["code"] == "not_payer"
        and body["error"]["payment_requests"] == [for_carer["id"]]
    )
    assert "Alex Carer" in body["error"]["message"]
    status, body = await pay_all(stack, patient, [mine["id"], hold["id"]])
    assert status == 409 and body["error"]["payment_requests"] == [hold["id"]]
    # The wrong call in the address, bad input: clear errors, never a 500.
    status, body = await stack.api(
        "POST", "/api/v1/calls/call-2/checkout", patient, json={"email": "a@b.co", "payment_requests": [mine["id"]]}
    )
    assert status == 404
    status, body = await pay_all(stack, patient, [mine["id"]], email="not an email")
    assert status == 400 and body["error"]["field"] == "email"
    status, body = await stack.api(
        "POST", f"/api/v1/calls/{patient['call']}/checkout", patient, json={"email": "a@b.co", "payment_requests": []}
    )
    assert status == 400 and body["error"]["field"] == "payment_requests"
    clinician_session = await stack.clinician()
    status, body = await stack.api(
        "POST", "/api/v1/calls/call-1/checkout", clinician_session, json={"email": "a@b.co", "payment_requests": []}
    )
    assert status in (400, 403)

    # Nothing was charged, nothing started.
    async with stack.app[DB]() as db:
        assert await db.scalar(select(func.count()).select_from(PayAll)) == 0
        assert await db.scalar(select(func.count()).select_from(PayAllItem)) == 0
    intents = await stack.stripe("GET", "/v1/payment_intents?limit=100")
    assert intents["data"] == []
    # The carer pays theirs and the open one together; then that payment is theirs to finish.
    status, session = await pay_all(stack, carer, [mine["id"], for_carer["id"]])
    assert status == 200 and session["amount"] == 10000
    status, body = await pay_all(stack, patient, [mine["id"]])
    assert status == 409 and body["error"]["code"] == "paid_by_someone_else"
    assert body["error"]["payment_requests"] == [mine["id"]]
    status, body = await stack.checkout(mine["id"], patient)
    assert status == 409 and body["error"]["code"] == "paid_by_someone_else"
    assert (await stack.stripe("GET", f"/v1/payment_intents/{intent_of(session)}"))["status"] != "canceled"


async def test_duplicate_and_out_of_order_webhooks_change_nothing_more(connected: PayStack) -> None:
    stack = connected
    _, patient, made = await three_requests(stack)
    ids = [pr["id"] for pr in made]
    _, session = await pay_all(stack, patient, ids)
    intent_id = intent_of(session)
    await stack.confirm_intent(intent_id)
    await stack.webhooks_settled()
    succeeded = await stack.event(intent_id, "payment_intent.succeeded")
    created = await stack.event(intent_id, "payment_intent.created")
    for event in (succeeded, created, succeeded):
        assert await stack.deliver({**event, "id": event["id"] + "_again"} if event is created else event) == 200
    await stack.webhooks_settled()
    assert [(await request_row(stack, i)).status for i in ids] == ["paid"] * 3
    assert len(stack.published.of("payment_received")) == 3
    assert len(await receipt_emails(stack)) == 1
    # The reconciler finds nothing left to do.
    from addon.appkeys import DB_READ, GATEWAY
    from addon.services.reconciliation import reconcile

    report = await reconcile(stack.app[DB], stack.app[DB_READ], stack.app[GATEWAY])
    assert report.fixed == 0


async def test_reconciliation_records_a_pay_all_whose_webhooks_never_came(stack: PayStack) -> None:
    from addon.appkeys import DB_READ, GATEWAY
    from addon.services.reconciliation import reconcile

    # No webhooks at all: only reconciliation can find out.
    await stack.http.post(
        f"{stack.sandbox.url}/v1/webhook_endpoints/{stack.webhook_endpoint}",
        data={"disabled": "true"},
        headers={"Authorization": f"Bearer {stack.platform_key}"},
    )
    await stack.connect_clinic()
    _, patient, made = await three_requests(stack)
    ids = [pr["id"] for pr in made]
    _, session = await pay_all(stack, patient, ids)
    await stack.confirm_intent(intent_of(session))
    assert [(await request_row(stack, i)).status for i in ids] == ["requested"] * 3
    published: list[Any] = []

    async def publish(events: Any) -> None:
        published.extend(events)

    report = await reconcile(stack.app[DB], stack.app[DB_READ], stack.app[GATEWAY], publish=publish)
    assert report.fixed == 1
    assert [(await request_row(stack, i)).status for i in ids] == ["paid"] * 3
    assert sum(1 for e in published if e.event == "payment_received") == 3
    again = await reconcile(stack.app[DB], stack.app[DB_READ], stack.app[GATEWAY])
    assert again.fixed == 0
    assert len(await receipt_emails(stack)) == 1
