"""Who pays: a request addressed to one participant is payable only by them; the clinician hears who is in the call."""

from __future__ import annotations

from tests.support.payflow import PayStack, request_row


async def test_an_addressed_request_is_payable_only_by_its_addressee(connected: PayStack) -> None:
    doctor = await connected.socket(await connected.clinician())
    patient = await connected.patient(sub="patient-1", name="Sam Patient")
    carer = await connected.patient(sub="carer-1", name="Alex Carer")
    await connected.socket(patient)
    await connected.socket(carer)
    await doctor.wait_for(lambda u: any(len(p) == 2 for p in u.of("participants")))
    assert doctor.of("participants")[-1] == [
        {"id": "patient-1", "name": "Sam Patient"},
        {"id": "carer-1", "name": "Alex Carer"},
    ]
    pr = await connected.request_payment(doctor, payer={"id": "carer-1"})
    assert pr["payer"] == {"id": "carer-1", "name": "Alex Carer"}
    status, body = await connected.checkout(pr["id"], patient)
    assert status == 403 and body["error"]["code"] == "not_payer", body
    assert "Alex Carer" in body["error"]["message"]
    assert (await request_row(connected, pr["id"])).stripe_payment_intent_id is None
    intent, _ = await connected.pay(pr["id"], carer)
    assert intent["status"] == "succeeded"
    # Anyone in the call (the default) may pay an unaddressed one.
    open_one = await connected.request_payment(doctor, amount="20.00", description="Report")
    assert open_one["payer"] is None
    status, _ = await connected.checkout(open_one["id"], patient)
    assert status == 200


async def test_a_payer_not_in_the_call_is_refused(connected: PayStack) -> None:
    doctor = await connected.socket(await connected.clinician())
    body = {"amount": "80.00", "description": "Consultation", "payer": {"id": "nobody"}}
    ack = await doctor.call("request_payment", body)
    assert not ack["ok"] and ack["error"]["code"] == "payer_not_in_call" and ack["error"]["field"] == "payer"
