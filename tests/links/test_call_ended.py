"""The call ends: each request still unpaid follows the clinic's setting (a pay-later link, kept, or canceled)."""

from __future__ import annotations

from sqlalchemy import select, update

from addon.appkeys import DB
from addon.models import Clinic, OutboxEmail, PaymentLink
from tests.links.conftest import end_call, platform_token
from tests.support.payflow import PayStack, request_row


async def _mixed_call(stack: PayStack) -> dict[str, str]:
    """A paid request, an unpaid one, a canceled one; the patient launched with an email."""
    doctor = await stack.socket(await stack.clinician())
    patient = await stack.patient(extra={"email": "sam@example.com"})
    paid = await stack.request_payment(doctor, amount="50.00", description="Paid in the call")
    intent, _ = await stack.pay(paid["id"], patient)
    assert intent["status"] == "succeeded"
    status, _ = await stack.report(paid["id"], patient)
    assert status == 200
    unpaid = await stack.request_payment(doctor, amount="80.00", description="Consultation")
    gone = await stack.request_payment(doctor, amount="20.00", description="Canceled one")
    ack = await doctor.call("cancel_payment_request", {"id": gone["id"]})
    assert ack["ok"], ack
    return {"paid": paid["id"], "unpaid": unpaid["id"], "canceled": gone["id"]}


async def test_unpaid_request_becomes_an_emailed_link_and_the_rest_stay(connected: PayStack) -> None:
    ids = await _mixed_call(connected)
    staff = await connected.socket(await connected.session(role="team_admin", sub="admin-1", call=None))
    status, body = await end_call(connected)
    assert status == 200, body
    by_id = {pr["id"]: pr for pr in body["payment_requests"]}
    assert by_id[ids["paid"]]["status"] == "paid"
    assert by_id[ids["canceled"]]["status"] == "canceled"
    assert by_id[ids["unpaid"]]["status"] == "requested"
    [link] = body["payment_links"]
    assert link["payment_request"] == ids["unpaid"]
    assert link["status"] == "active" and link["amount"] == 8000 and link["email"] == "sam@example.com"
    assert link["url"].startswith(f"{connected.url}/pay/") and len(link["url"].rsplit("/", 1)[1]) >= 22
    assert link["url"] in link["share_text"] and "A$80.00" in link["share_text"]
    async with connected.app[DB]() as db:
        emails = (await db.scalars(select(OutboxEmail).where(OutboxEmail.kind == "payment_link"))).all()
    assert [e.to_address for e in emails] == ["sam@example.com"]
    # The clinic's staff hear of the link live.
    seen = await staff.wait_count("payment_link", 1)
    assert seen[0]["id"] == link["id"]

    # Repeating it (a new token) changes nothing more; the same token again is refused.
    again_token = platform_token()
    status, again = await end_call(connected, token=again_token)
    assert status == 200 and [x["id"] for x in again["payment_links"]] == [link["id"]]
    status, replay = await end_call(connected, token=again_token)
    assert status == 401, replay
    async with connected.app[DB]() as db:
        assert len((await db.scalars(select(PaymentLink))).all()) == 1
        assert len((await db.scalars(select(OutboxEmail).where(OutboxEmail.kind == "payment_link"))).all()) == 1


async def test_without_an_email_the_link_waits_in_the_payment_centre(connected: PayStack) -> None:
    doctor = await connected.socket(await connected.clinician())
    await connected.patient()
    pr = await connected.request_payment(doctor)
    status, body = await end_call(connected)
    assert status == 200
    [link] = body["payment_links"]
    assert link["payment_request"] == pr["id"] and link["email"] is None
    async with connected.app[DB]() as db:
        assert (await db.scalars(select(OutboxEmail).where(OutboxEmail.kind == "payment_link"))).all() == []
    listed = await connected.api("GET", "/api/v1/payment-links?status=active", await connected.clinician())
    assert listed[0] == 200 and [x["id"] for x in listed[1]["data"]] == [link["id"]]


async def test_cancel_and_keep_settings(connected: PayStack) -> None:
    doctor = await connected.socket(await connected.clinician())
    await connected.patient()
    first = await connected.request_payment(doctor)
    async with connected.app[DB].begin() as db:
        await db.execute(update(Clinic).values(call_ended_action="cancel"))
    status, body = await end_call(connected)
    assert status == 200 and body["payment_links"] == []
    assert (await request_row(connected, first["id"])).status == "canceled"

    doctor2 = await connected.socket(await connected.clinician(call="call-2"))
    await connected.patient(call="call-2")
    second = await connected.request_payment(doctor2)
    async with connected.app[DB].begin() as db:
        await db.execute(update(Clinic).values(call_ended_action="keep_unpaid"))
    status, body = await end_call(connected, "call-2")
    assert status == 200 and body["payment_links"] == []
    assert (await request_row(connected, second["id"])).status == "requested"


async def test_wrong_clinic_is_forbidden_and_bad_tokens_are_refused(connected: PayStack) -> None:
    doctor = await connected.socket(await connected.clinician())
    await connected.request_payment(doctor)
    await connected.session(role="team_admin", sub="other-admin", clinic="clinic-2", call=None)
    status, body = await end_call(connected, token=platform_token(clinic="clinic-2"))
    assert status == 403, body
    status, body = await end_call(connected, token=platform_token(sub="dr-ada"))
    assert status == 401
    status, body = await end_call(connected, token=platform_token(exp=int(__import__("time").time()) + 900))
    assert status == 401
    status, body = await end_call(connected, "call-9", token=platform_token("call-1"))
    assert status == 401
