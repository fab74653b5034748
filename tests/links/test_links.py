"""A link's life: made, paid once (however many tabs), expired on time, canceled, reminded at most hourly."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from addon.appkeys import DB, GATEWAY
from addon.background import sweep_links_once
from addon.clock import ManualClock
from addon.models import Clinic, OutboxEmail, PaymentLink
from addon.outbound import Outbound
from addon.services import payment_links
from tests.support.payflow import PayStack, request_row


def _data(event: Outbound) -> dict[str, Any]:
    data = event.data
    return data if isinstance(data, dict) else data.model_dump(mode="json")  # type: ignore[no-any-return]


async def make_link(stack: PayStack, staff: dict[str, Any], **body: Any) -> dict[str, Any]:
    body.setdefault("description", "Consultation")
    status, link = await stack.api("POST", "/api/v1/payment-links", staff, json=body)
    assert status == 201, link
    return link  # type: ignore[no-any-return]


def token_of(link: dict[str, Any]) -> str:
    return str(link["url"].rsplit("/", 1)[1])


async def pay_link(
    stack: PayStack, link: dict[str, Any], *, amount: Any = None, pm: str = "pm_card_visa"
) -> tuple[int, Any]:
    body: dict[str, Any] = {"email": "pat@example.com"}
    if amount is not None:
        body["amount"] = amount
    status, session = await stack.api("POST", f"/api/v1/pay/{token_of(link)}/checkout", None, json=body)
    if status != 200:
        return status, session
    intent = await stack.confirm_intent(session["client_secret"].split("_secret_")[0], pm)
    assert intent["status"] == "succeeded", intent
    return await stack.api("POST", f"/api/v1/pay/{token_of(link)}/confirmation", None)


async def link_row(stack: PayStack, link_id: str) -> PaymentLink:
    async with stack.app[DB]() as db:
        return await db.get_one(PaymentLink, link_id)


async def test_create_then_pay_notifies_staff_once(connected: PayStack, clock: ManualClock) -> None:
    admin = await connected.session(role="team_admin", sub="admin-1", call=None)
    staff = await connected.socket(admin)
    link = await make_link(connected, admin, amount="80.00", email="pat@example.com", name="Sam Patient")
    assert link["status"] == "active" and link["amount"] == 8000 and link["amount_display"] == "A$80.00"
    assert link["expires_at"] == (clock.now() + timedelta(days=7)).isoformat().replace("+00:00", "Z")
    status, view = await connected.api("GET", f"/api/v1/pay/{token_of(link)}", None)
    assert status == 200 and view["clinic_name"] == "Harbour Physio" and view["amount"] == 8000
    status, pr = await pay_link(connected, link)
    assert status == 200 and pr["status"] == "paid" and pr["receipt_available"]
    row = await link_row(connected, link["id"])
    assert row.status == "paid" and row.payment_request_id == pr["id"]
    await staff.wait_for(lambda u: any(e["status"] == "paid" for e in u.of("payment_link")))
    paid_events = [e for e in staff.of("payment_link") if e["status"] == "paid"]
    assert len(paid_events) == 1 and "paid A$80.00" in paid_events[0]["notice"]
    # Paid: the public view and checkout say so (409 link_paid), and the receipt can be downloaded.
    status, body = await connected.api("GET", f"/api/v1/pay/{token_of(link)}", None)
    assert status == 409 and body["error"]["code"] == "link_paid"
    response = await connected.client.get(f"/api/v1/pay/{token_of(link)}/receipt.pdf")
    assert response.status == 200 and (await response.read()).startswith(b"%PDF")
    # The webhook arriving later changes nothing more.
    intent_id = (await request_row(connected, pr["id"])).stripe_payment_intent_id
    assert intent_id is not None
    await connected.deliver(await connected.event(intent_id, "payment_intent.succeeded"))
    assert len([e for e in connected.published.of("payment_link") if _data(e)["status"] == "paid"]) == 1


async def test_patient_chosen_amount_at_and_beyond_the_range(connected: PayStack, clock: ManualClock) -> None:
    admin = await connected.session(role="team_admin", sub="admin-1", call=None)
    link = await make_link(connected, admin, min_amount="20.00", max_amount="200.00")
    assert link["amount"] is None and (link["min_amount"], link["max_amount"]) == (2000, 20000)
    for too in ("19.99", "200.01"):
        status, body = await connected.api(
            "POST", f"/api/v1/pay/{token_of(link)}/checkout", None, json={"email": "p@example.com", "amount": too}
        )
        assert status == 400 and body["error"]["field"] == "amount", body
    status, body = await connected.api(
        "POST", f"/api/v1/pay/{token_of(link)}/checkout", None, json={"email": "p@example.com"}
    )
    assert status == 400 and body["error"]["field"] == "amount"
    # At the bottom of the range first, then the patient changes their mind to the top: one request, new amount.
    status, first = await connected.api(
        "POST", f"/api/v1/pay/{token_of(link)}/checkout", None, json={"email": "p@example.com", "amount": "20.00"}
    )
    assert status == 200 and first["amount"] == 2000
    status, pr = await pay_link(connected, link, amount="200.00")
    assert status == 200 and pr["amount"] == 20000 and pr["status"] == "paid"
    # The clinic's range bounds what staff may offer.
    async with connected.app[DB].begin() as db:
        await db.execute(update(Clinic).values(link_min_amount=1000, link_max_amount=50000))
    status, body = await connected.api(
        "POST", "/api/v1/payment-links", admin, json={"description": "x", "min_amount": "5.00"}
    )
    assert status == 400 and body["error"]["field"] == "min_amount", body


async def test_two_tabs_pay_one_link_once(connected: PayStack, clock: ManualClock) -> None:
    admin = await connected.session(role="team_admin", sub="admin-1", call=None)
    link = await make_link(connected, admin, amount="80.00")
    path = f"/api/v1/pay/{token_of(link)}/checkout"
    both = await asyncio.gather(
        connected.api("POST", path, None, json={"email": "a@example.com"}),
        connected.api("POST", path, None, json={"email": "a@example.com"}),
    )
    assert [s for s, _ in both] == [200, 200]
    secrets = {body["client_secret"] for _, body in both}
    assert len(secrets) == 1, "both tabs pay the same PaymentIntent"
    intent_id = secrets.pop().split("_secret_")[0]
    first = await connected.confirm_intent(intent_id)
    assert first["status"] == "succeeded"
    second = await connected.confirm_intent(intent_id, "pm_card_mastercard")
    assert "error" in second, "an intent already paid can't be paid again"
    status, _ = await connected.api("POST", f"/api/v1/pay/{token_of(link)}/confirmation", None)
    assert status == 200
    status, body = await connected.api("POST", path, None, json={"email": "a@example.com"})
    assert status == 409 and body["error"]["code"] == "link_paid"


async def test_expiry_at_the_boundary_and_a_stale_tab(connected: PayStack, clock: ManualClock) -> None:
    admin = await connected.session(role="team_admin", sub="admin-1", call=None)
    staff = await connected.socket(admin)
    async with connected.app[DB].begin() as db:
        await db.execute(update(Clinic).values(link_notice_email="front-desk@example.com"))
    link = await make_link(
        connected, admin, amount="80.00", expires_at=(clock.now() + timedelta(minutes=5)).isoformat()
    )
    # A tab opened before expiry has its intent.
    status, session = await connected.api(
        "POST", f"/api/v1/pay/{token_of(link)}/checkout", None, json={"email": "a@example.com"}
    )
    assert status == 200
    row = await link_row(connected, link["id"])
    clock.set(row.expires_at - timedelta(microseconds=1))
    status, _ = await connected.api("GET", f"/api/v1/pay/{token_of(link)}", None)
    assert status == 200, "still payable a moment before its expiry"
    swept = await payment_links.sweep(connected.app[DB], connected.app[GATEWAY], clock=clock)
    assert swept.expired == []
    clock.set(row.expires_at)
    status, body = await connected.api("GET", f"/api/v1/pay/{token_of(link)}", None)
    assert status == 410 and body["error"]["code"] == "link_unavailable", "over at expires_at exactly"
    swept = await sweep_links_once(connected.app)
    assert swept.expired == [link["id"]]
    assert (await link_row(connected, link["id"])).status == "expired"
    # Its intent was canceled at Stripe: the stale tab can't pay it.
    intent_id = session["client_secret"].split("_secret_")[0]
    stale = await connected.confirm_intent(intent_id)
    assert "error" in stale, stale
    request = await request_row(connected, row.payment_request_id or "")
    assert request.status == "canceled"
    # The notice went once: live and by email.
    await staff.wait_for(lambda u: any(e["status"] == "expired" and e["notice"] for e in u.of("payment_link")))
    again = await payment_links.sweep(connected.app[DB], connected.app[GATEWAY], clock=clock)
    assert again.expired == []
    async with connected.app[DB]() as db:
        notices = await db.scalar(
            select(func.count()).select_from(OutboxEmail).where(OutboxEmail.kind == "link_notice")
        )
    assert notices == 1
    # The page says so plainly and names the clinic.
    page = await connected.client.get(f"/pay/{token_of(link)}")
    text = await page.text()
    assert page.status == 410 and "has expired" in text and "Harbour Physio" in text
    assert 'data-testid="pay-submit"' not in text


async def test_sweeper_on_two_workers_expires_each_link_once(connected: PayStack, clock: ManualClock) -> None:
    admin = await connected.session(role="team_admin", sub="admin-1", call=None)
    ids = [
        (await make_link(connected, admin, amount=f"{10 + i}.00", email=f"p{i}@example.com"))["id"] for i in range(6)
    ]
    clock.advance(timedelta(days=8))
    first, second = await asyncio.gather(
        payment_links.sweep(connected.app[DB], connected.app[GATEWAY], clock=clock),
        payment_links.sweep(connected.app[DB], connected.app[GATEWAY], clock=clock),
    )
    assert sorted(first.expired + second.expired) == sorted(ids)
    assert not set(first.expired) & set(second.expired)
    notices = [e for e in first.events + second.events if e.event == "payment_link" and _data(e)["notice"]]
    assert len(notices) == len(ids)


async def test_cancel_and_remind_limits(connected: PayStack, clock: ManualClock) -> None:
    admin = await connected.session(role="team_admin", sub="admin-1", call=None)
    link = await make_link(connected, admin, amount="80.00")
    remind = f"/api/v1/payment-links/{link['id']}/remind"
    status, body = await connected.api("POST", remind, admin, json={})
    assert status == 400 and body["error"]["field"] == "email", "no address yet"
    status, body = await connected.api("POST", remind, admin, json={"email": "pat@example.com"})
    assert status == 200 and body["last_reminded_at"] is not None and body["reminders_sent"] == 1
    clock.advance(timedelta(minutes=59))
    response = await connected.client.post(remind, headers={"Authorization": f"Bearer {admin['token']}"}, json={})
    assert response.status == 429
    assert (await response.json())["error"]["code"] == "rate_limited"
    assert 55 <= int(response.headers["Retry-After"]) <= 61
    clock.advance(timedelta(minutes=1))
    status, body = await connected.api("POST", remind, admin, json={})
    assert status == 200 and body["reminders_sent"] == 2
    async with connected.app[DB]() as db:
        sent = await db.scalar(select(func.count()).select_from(OutboxEmail).where(OutboxEmail.kind == "payment_link"))
    assert sent == 2
    status, body = await connected.api("POST", f"/api/v1/payment-links/{link['id']}/cancel", admin)
    assert status == 200 and body["status"] == "canceled"
    status, body = await connected.api("POST", f"/api/v1/payment-links/{link['id']}/cancel", admin)
    assert status == 409
    status, body = await connected.api("GET", f"/api/v1/pay/{token_of(link)}", None)
    assert status == 410 and body["error"]["message"] == payment_links.UNAVAILABLE
    status, listed = await connected.api("GET", "/api/v1/payment-links?status=canceled", admin)
    assert [x["id"] for x in listed["data"]] == [link["id"]] and listed["counts"]["canceled"] == 1


async def test_expiry_window_is_one_minute_to_thirty_days(connected: PayStack, clock: ManualClock) -> None:
    admin = await connected.session(role="team_admin", sub="admin-1", call=None)
    for ahead, ok in (
        (timedelta(seconds=59), False),
        (timedelta(seconds=61), True),
        (timedelta(days=30, seconds=1), False),
    ):
        status, body = await connected.api(
            "POST",
            "/api/v1/payment-links",
            admin,
            json={"description": "x", "amount": 5000, "expires_at": (clock.now() + ahead).isoformat()},
        )
        assert (status == 201) is ok, (ahead, body)


async def test_the_page_reveals_nothing_and_is_never_cached(connected: PayStack, clock: ManualClock) -> None:
    admin = await connected.session(role="team_admin", sub="admin-1", call=None)
    link = await make_link(connected, admin, amount="80.00")
    good = await connected.client.get(f"/pay/{token_of(link)}")
    assert good.status == 200 and "A$80.00" in await good.text()
    # Its dates are shown in the clinic's time zone (as the link's email and the receipt write them).
    assert 'data-timezone="Australia/Sydney"' in await good.text()
    assert good.headers["Referrer-Policy"] == "no-referrer" and "no-store" in good.headers["Cache-Control"]
    wrong = token_of(link)[:-2] + ("AA" if not token_of(link).endswith("AA") else "BB")
    pages = [await connected.client.get(f"/pay/{t}") for t in (wrong, "x" * 32, "short")]
    texts = {await p.text() for p in pages}
    assert len(texts) == 1 and {p.status for p in pages} == {404}
    assert "Harbour Physio" not in (unknown := texts.pop()) and "data-timezone" not in unknown
    for p in pages:
        assert p.headers["Referrer-Policy"] == "no-referrer" and "no-store" in p.headers["Cache-Control"]


async def test_the_page_and_checkout_are_rate_limited(connected: PayStack, clock: ManualClock) -> None:
    admin = await connected.session(role="team_admin", sub="admin-1", call=None)
    link = await make_link(connected, admin, amount="80.00")
    statuses = [(await connected.client.get(f"/api/v1/pay/{token_of(link)}")).status for _ in range(31)]
    assert statuses[:30] == [200] * 30 and statuses[30] == 429
    page = await connected.client.get(f"/pay/{token_of(link)}")
    assert page.status == 429 and "Retry-After" in page.headers and "Wait" in await page.text()


async def test_a_canceled_link_page_names_the_clinic_and_a_chosen_amount_page_asks_for_it(
    connected: PayStack, clock: ManualClock
) -> None:
    admin = await connected.session(role="team_admin", sub="admin-1", call=None)
    chosen = await make_link(connected, admin, min_amount="20.00", max_amount="200.00")
    page = await connected.client.get(f"/pay/{token_of(chosen)}")
    text = await page.text()
    assert (
        page.status == 200
        and 'data-testid="link-amount"' in text
        and "A$20.00 to A$200.00" in text.replace("From A$20.00 to A$200.00", "A$20.00 to A$200.00")
    )
    status, _ = await connected.api("POST", f"/api/v1/payment-links/{chosen['id']}/cancel", admin)
    assert status == 200
    page = await connected.client.get(f"/pay/{token_of(chosen)}")
    text = await page.text()
    assert page.status == 410 and "was cancelled" in text and "Harbour Physio" in text
    assert 'data-testid="link-unavailable"' in text and 'data-testid="pay-submit"' not in text


async def test_automatic_reminders_go_once_before_expiry(connected: PayStack, clock: ManualClock) -> None:
    admin = await connected.session(role="team_admin", sub="admin-1", call=None)
    async with connected.app[DB].begin() as db:
        await db.execute(update(Clinic).values(link_reminder_hours=24))
    link = await make_link(connected, admin, amount="80.00", email="pat@example.com")
    clock.advance(timedelta(days=5, hours=23))
    swept = await payment_links.sweep(connected.app[DB], connected.app[GATEWAY], clock=clock)
    assert swept.reminded == []
    clock.advance(timedelta(hours=1, seconds=1))
    first, second = await asyncio.gather(
        payment_links.sweep(connected.app[DB], connected.app[GATEWAY], clock=clock),
        payment_links.sweep(connected.app[DB], connected.app[GATEWAY], clock=clock),
    )
    assert first.reminded + second.reminded == [link["id"]]
    row = await link_row(connected, link["id"])
    assert row.reminders_sent == 1 and row.last_reminded_at == clock.now()
    async with connected.app[DB]() as db:
        keys = (await db.scalars(select(OutboxEmail.dedupe_key).where(OutboxEmail.kind == "payment_link"))).all()
    assert sorted(keys) == sorted([f"link:{link['id']}:sent", f"link:{link['id']}:auto-remind"])
