"""The Pay all offer: what this patient may pay at once in the call (``GET /api/v1/calls/{call}/pay-all``).

Against the Stripe sandbox, with a patient and a carer in the call: the offer counts only what this participant
could pay together now, and the ids it names are the ones the call's checkout accepts.
"""

from __future__ import annotations

from typing import Any

from tests.support.payflow import PayStack, SocketUser


async def offered(stack: PayStack, who: dict[str, Any]) -> dict[str, Any]:
    status, body = await stack.api("GET", f"/api/v1/calls/{who['call']}/pay-all", who)
    assert status == 200, body
    return dict(body)


async def two_in_the_call(stack: PayStack) -> tuple[SocketUser, dict[str, Any], dict[str, Any]]:
    doctor = await stack.socket(await stack.clinician())
    patient = await stack.patient(sub="patient-1", name="Sam Patient")
    carer = await stack.patient(sub="carer-1", name="Alex Carer")
    await stack.socket(patient)
    await stack.socket(carer)
    await doctor.wait_for(lambda u: any(len(p) == 2 for p in u.of("participants")))
    return doctor, patient, carer


async def test_the_offer_counts_only_what_this_participant_may_pay_now(connected: PayStack) -> None:
    stack = connected
    doctor, patient, carer = await two_in_the_call(stack)
    nothing = await offered(stack, patient)
    assert nothing == {"payment_requests": [], "count": 0, "amount": 0, "currency": None, "amount_display": None}

    consult = await stack.request_payment(doctor, amount="80.00", description="Consultation")
    one = await offered(stack, patient)
    assert (one["count"], one["amount"], one["amount_display"]) == (1, 8000, "A$80.00")

    script = await stack.request_payment(doctor, amount="40.00", description="Script")
    for_carer = await stack.request_payment(doctor, amount="20.00", description="Report", payer={"id": "carer-1"})
    await stack.request_payment(doctor, amount="50.00", description="Deposit", capture="hold")
    gone = await stack.request_payment(doctor, amount="15.00", description="Letter")
    ack = await doctor.call("cancel_payment_request", {"id": gone["id"]})
    assert ack["ok"], ack
    # Elsewhere: another call's request is never counted.
    other_doctor = await stack.socket(await stack.clinician(call="call-2"))
    await stack.request_payment(other_doctor, amount="30.00", description="Other call")

    mine = await offered(stack, patient)
    assert mine == {
        "payment_requests": [consult["id"], script["id"]],  # oldest first; not the carer's, the hold or the cancelled
        "count": 2,
        "amount": 12000,
        "currency": "aud",
        "amount_display": "A$120.00",
    }
    theirs = await offered(stack, carer)
    assert theirs["payment_requests"] == [consult["id"], script["id"], for_carer["id"]]
    assert (theirs["amount"], theirs["amount_display"]) == (14000, "A$140.00")

    # What the offer names is what the call's checkout takes, for the same sum.
    status, session = await stack.api(
        "POST",
        f"/api/v1/calls/{patient['call']}/checkout",
        patient,
        json={"email": "pat@example.com", "payment_requests": mine["payment_requests"]},
    )
    assert status == 200 and (session["amount"], session["currency"]) == (12000, "aud"), session
    # The patient started paying those two together: the carer's offer is left with their own one.
    left = await offered(stack, carer)
    assert left["payment_requests"] == [for_carer["id"]] and left["count"] == 1
    # The patient's own open set is still theirs to pay.
    assert (await offered(stack, patient))["payment_requests"] == [consult["id"], script["id"]]

    # Paid: nothing left for the patient, and the offer never names a paid request.
    intent_id = str(session["client_secret"].split("_secret_")[0])
    assert (await stack.confirm_intent(intent_id))["status"] == "succeeded"
    status, body = await stack.report(consult["id"], patient)
    assert status == 200 and body["status"] == "paid", body
    assert (await offered(stack, patient))["count"] == 0
    assert (await offered(stack, carer))["payment_requests"] == [for_carer["id"]]


async def test_a_request_someone_else_is_paying_on_its_own_is_not_offered(connected: PayStack) -> None:
    stack = connected
    doctor, patient, carer = await two_in_the_call(stack)
    first = await stack.request_payment(doctor, amount="80.00", description="Consultation")
    second = await stack.request_payment(doctor, amount="40.00", description="Script")
    third = await stack.request_payment(doctor, amount="25.50", description="Report")
    status, _ = await stack.checkout(first["id"], carer)
    assert status == 200
    mine = await offered(stack, patient)
    assert mine["payment_requests"] == [second["id"], third["id"]] and mine["amount_display"] == "A$65.50"
    # The carer who opened it may still pay it with the rest.
    assert (await offered(stack, carer))["payment_requests"] == [first["id"], second["id"], third["id"]]


async def test_only_a_patient_of_that_call_is_offered_anything(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    patient = await stack.patient()
    await stack.request_payment(doctor, amount="80.00", description="Consultation")
    status, body = await stack.api("GET", "/api/v1/calls/call-2/pay-all", patient)
    assert status == 404 and body["error"]["code"] == "not_found", body
    clinician = await stack.clinician()
    status, body = await stack.api("GET", f"/api/v1/calls/{clinician['call']}/pay-all", clinician)
    assert status == 403 and set(body["error"]) >= {"code", "message"}, body
    status, body = await stack.api("GET", f"/api/v1/calls/{patient['call']}/pay-all", None)
    assert status == 401, body


async def test_one_currency_is_offered_the_one_most_of_them_are_in(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    patient = await stack.patient()
    await stack.socket(patient)
    usd = await stack.request_payment(doctor, amount=5000, currency="usd", description="Overseas report")
    aud = [
        await stack.request_payment(doctor, amount="80.00", description="Consultation"),
        await stack.request_payment(doctor, amount="40.00", description="Script"),
    ]
    offer = await offered(stack, patient)
    assert (offer["payment_requests"], offer["currency"], offer["amount_display"]) == (
        [pr["id"] for pr in aud], "aud", "A$120.00"
    )
    # A tie goes to the currency of the oldest request.
    ack = await doctor.call("cancel_payment_request", {"id": aud[1]["id"]})
    assert ack["ok"], ack
    offer = await offered(stack, patient)
    assert (offer["payment_requests"], offer["currency"], offer["count"]) == ([usd["id"]], "usd", 1)
