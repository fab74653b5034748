"""A request the patient is paying together with others (Pay all) can't be split into a plan: the set's payment
would still cover it, so it could be paid twice, once in the set and again by its instalments."""

from __future__ import annotations

from sqlalchemy import update

from addon.appkeys import DB
from addon.models import PaymentRequest
from tests.plans.conftest import offer, requested
from tests.support.payflow import PayStack, request_row


async def test_a_request_in_an_open_pay_all_is_not_split(clinic: PayStack) -> None:
    session = await clinic.clinician()
    doctor = await clinic.socket(session)
    patient = await clinic.patient()
    await clinic.socket(patient)
    course = await requested(clinic, doctor, "300.00")
    script = await clinic.request_payment(doctor, amount="40.00", description="Script")
    status, checkout = await clinic.api(
        "POST",
        f"/api/v1/calls/{patient['call']}/checkout",
        patient,
        json={"email": "pat@example.com", "payment_requests": [course["id"], script["id"]]},
    )
    assert status == 200, checkout
    # Even once the patient's page no longer says they are paying (closed without a word, or lapsed).
    async with clinic.app[DB].begin() as db:
        await db.execute(update(PaymentRequest).values(paying_step=None, paying_sub=None, paying_until=None))
    status, body = await offer(clinic, session, course["id"])
    assert status == 409 and body["error"]["code"] == "not_splittable", body
    assert (await request_row(clinic, course["id"])).status == "requested"

    # Paid together, as the patient meant.
    intent_id = str(checkout["client_secret"].split("_secret_")[0])
    assert (await clinic.confirm_intent(intent_id))["status"] == "succeeded"
    status, paid = await clinic.report(course["id"], patient)
    assert status == 200 and paid["status"] == "paid", paid
