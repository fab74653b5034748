"""A whole payment, as a clinic and a patient make it, with every log line and every Sentry event captured: none of
them carries the patient's email or name, a launch or session token, a client_secret, or a SQL statement's
parameters — including when the database fails in the middle of a checkout.

Logs are captured as production writes them (addon.logs: JSON lines, every ``extra`` field included), at DEBUG, the
most an operator can turn them up to;
Sentry is the real SDK set up by the app, with its transport swapped for one that keeps each envelope in memory
(the pattern of sentry-sdk's own tests), so every event passes the app's scrubbing exactly as it would on its way
to Sentry.
"""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport
from sqlalchemy import text

from addon import logs
from addon.appkeys import DB
from sandbox.mailbox import RunningMailbox, start_mailbox
from sandbox.stripe import RunningSandbox
from tests.conftest import bearer, launch_token, session_from_page
from tests.support.payflow import PayStack, build_stack, open_socket

PATIENT_NAME = "Wilhelmina Quokka-Smith"
PATIENT_EMAIL = "wilhelmina.quokka@example.com"
# The address a checkout sends when the database refuses it: it is bound into the failing UPDATE.
DB_ERROR_EMAIL = "db.error.canary@example.com"
DESCRIPTION = "Knee review canary-7781"
REFUND_REASON = "Refund canary-5512"


class RecordingTransport(Transport):
    """Keeps every envelope the SDK would send."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)

    def flush(self, timeout: float, callback: Any = None) -> None:
        return None

    def kill(self) -> None:
        return None

    def events(self) -> list[dict[str, Any]]:
        return [event for envelope in self.envelopes if (event := envelope.get_event()) is not None]

    def text(self) -> str:
        return "\n".join(envelope.serialize().decode(errors="replace") for envelope in self.envelopes)


@dataclass
class Captured:
    logs: io.StringIO = field(default_factory=io.StringIO)
    sentry: RecordingTransport | None = None

    def log_text(self) -> str:
        return self.logs.getvalue()


class NotTheSandbox(logging.Filter):
    """The Stripe stand-in and the mailbox run in this process too; what they log is not the product's."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith(("sandbox", "mail.log"))


@pytest.fixture
def captured() -> Iterator[Captured]:
    """Production's logging (addon.logs.configure: JSON lines) turned up to DEBUG, every line kept here."""
    root = logging.getLogger()
    quieted = ("aiohttp.access", "stripe")
    saved = (list(root.handlers), root.level, {name: logging.getLogger(name).level for name in quieted})
    logs.configure(logging.DEBUG)
    kept = Captured()
    handler = logging.StreamHandler(kept.logs)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(NotTheSandbox())
    root.addHandler(handler)
    try:
        yield kept
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture
async def mailbox() -> AsyncIterator[RunningMailbox]:
    running = await start_mailbox(http_port=None)
    try:
        yield running
    finally:
        await running.close()


@pytest.fixture
async def observed(
    sandbox: RunningSandbox,
    database_url: str,
    aiohttp_client: Callable[..., Any],
    http: aiohttp.ClientSession,
    mailbox: RunningMailbox,
    captured: Captured,
) -> AsyncIterator[PayStack]:
    """The payment stack sending receipts by SMTP and reporting to Sentry, both captured."""
    built = await build_stack(
        sandbox, database_url, aiohttp_client, http, smtp_url=mailbox.smtp_url,
        sentry_dsn="http://publickey@127.0.0.1:9/1",
    )  # fmt: skip
    client = sentry_sdk.get_client()
    assert client.is_active(), "the app set Sentry up"
    previous = client.transport
    captured.sentry = RecordingTransport(client.options)
    client.transport = captured.sentry
    if previous is not None:
        previous.kill()
    try:
        yield built
    finally:
        for user in built.sockets:
            await user.close()
        sentry_sdk.init()  # back to a disabled client for the rest of the run


async def page_session(stack: PayStack, path: str, launch: str) -> dict[str, Any]:
    """Open a surface with a launch in its address, as the host platform does; the session the page was given."""
    response = await stack.client.get(path, params={"launch": launch})
    assert response.status == 200, await response.text()
    return session_from_page(await response.text())


async def test_a_whole_payment_leaves_nothing_personal_in_logs_or_sentry(
    observed: PayStack, captured: Captured, mailbox: RunningMailbox
) -> None:
    stack = observed
    await stack.connect_clinic()
    launches = {
        "clinician": launch_token(role="team_member", sub="dr-ada", name="Dr Ada Lovelace"),
        "patient": launch_token(
            role="patient", sub="patient-1", name=PATIENT_NAME, extra={"email": PATIENT_EMAIL}
        ),
        "admin": launch_token(role="team_admin", sub="admin-1", name="Ann Admin", call=None),
    }
    # Launch: each opens their surface from the call.
    doctor_session = await page_session(stack, "/widget/clinician", launches["clinician"])
    patient_session = await page_session(stack, "/widget/patient", launches["patient"])
    admin_session = await page_session(stack, "/payment-centre", launches["admin"])
    doctor = await open_socket(stack.url, doctor_session["token"])
    patient = await open_socket(stack.url, patient_session["token"])
    stack.sockets += [doctor, patient]

    # Request, checkout, Stripe, the browser's report, the webhook.
    pr = await stack.request_payment(doctor, amount="95.00", description=DESCRIPTION)
    status, checkout = await stack.api(
        "POST", f"/api/v1/payment-requests/{pr['id']}/checkout", patient_session, json={"email": PATIENT_EMAIL}
    )
    assert status == 200, checkout
    client_secret = checkout["client_secret"]
    intent = await stack.confirm_intent(client_secret.split("_secret_")[0])
    await stack.report(pr["id"], patient_session)
    assert await stack.deliver(await stack.event(intent["id"], "payment_intent.succeeded")) == 200
    await doctor.wait_count("payment_received", 1, wait=15)

    # The receipt: emailed by SMTP, and downloaded.
    [sent] = await mailbox.mailbox.wait_for(1, within=20)
    assert list(sent.recipients) == [PATIENT_EMAIL]
    receipt = f"/api/v1/payment-requests/{pr['id']}/receipt.pdf"
    response = await stack.client.get(receipt, headers=bearer(patient_session))
    assert response.status == 200 and (await response.read()).startswith(b"%PDF")

    # A refund, by the clinic's admin.
    status, refunded = await stack.api(
        "POST", f"/api/v1/payment-requests/{pr['id']}/refunds", admin_session,
        json={"amount": 1500, "reason": REFUND_REASON},
    )  # fmt: skip
    assert status == 201, refunded
    await stack.webhooks_settled()

    # The database fails mid-checkout, with the patient's address bound into the statement it refuses.
    second = await stack.request_payment(doctor, amount="20.00", description="Second visit")
    async with stack.app[DB].begin() as db:
        await db.execute(
            text(
                "CREATE TRIGGER refuse_canary BEFORE UPDATE ON payment_requests "
                f"WHEN NEW.patient_email = '{DB_ERROR_EMAIL}' BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END"
            )
        )
    status, failed = await stack.api(
        "POST", f"/api/v1/payment-requests/{second['id']}/checkout", patient_session, json={"email": DB_ERROR_EMAIL}
    )
    assert status == 500 and failed["error"]["code"] == "internal_error", failed
    assert captured.sentry is not None
    sentry_sdk.flush(2)

    # What was captured is real, and says what happened ...
    logged = captured.log_text()
    assert "refused by a trigger" in logged and "unhandled error" in logged
    assert "stripe event processed" in logged
    events = captured.sentry.events()
    assert any("refused by a trigger" in str(event.get("exception")) for event in events), events
    # ... and nothing it shouldn't.
    secrets = {
        "the patient's email": PATIENT_EMAIL,
        "the email bound into the failing statement": DB_ERROR_EMAIL,
        "the patient's name": PATIENT_NAME,
        "the clinician's launch": launches["clinician"],
        "the patient's launch": launches["patient"],
        "the admin's launch": launches["admin"],
        "the clinician's session token": doctor_session["token"],
        "the patient's session token": patient_session["token"],
        "the admin's session token": admin_session["token"],
        "the client_secret": client_secret,
        "the description (a statement parameter)": DESCRIPTION,
        "the refund reason (a statement parameter)": REFUND_REASON,
    }
    sentry_text = captured.sentry.text()
    found = [f"{what} in the logs" for what, value in secrets.items() if value in logged]
    found += [f"{what} in Sentry" for what, value in secrets.items() if value in sentry_text]
    assert found == [], found
