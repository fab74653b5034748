"""Two web workers behind Debian's nginx (deploy/nginx.conf), sharing one fresh PostgreSQL database and Redis, with
a ``callpay worker`` for the background jobs: what a clinic sees is the same whichever worker answers.

Worker w1 runs requests and sockets only (background off); w2 and the worker process bg1 both run the jobs. So the
clinician's socket, pinned to w1 through nginx, hears every ``payment_received`` from another process through
Redis; and each Stripe event, receipt and pop-up happens once although two processes compete for them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from addon import db as dbmod
from addon.models import OutboxEmail, StripeEventInbox
from sandbox.mailbox import RunningMailbox
from sandbox.stripe import RunningSandbox
from tests.conftest import launch_token
from tests.support.cluster import (
    METRICS_TOKEN,
    ClusterClient,
    cluster_env,
    free_port,
    running_cluster,
    sandbox_platform,
)
from tests.support.prometheus import value

MORE = 4  # payments paid with the sandbox delivering through nginx, after the first


async def inbox_settled(database_url: str, within: float = 20.0) -> list[StripeEventInbox]:
    engine = dbmod.create_engine(database_url)
    try:
        sessions = dbmod.session_factory(engine)

        async def until() -> list[StripeEventInbox]:
            while True:
                async with sessions() as db:
                    rows = list((await db.scalars(select(StripeEventInbox))).all())
                if rows and all(row.processed_at is not None for row in rows):
                    return rows
                await asyncio.sleep(0.1)

        return await asyncio.wait_for(until(), within)
    finally:
        await engine.dispose()


async def outbox(database_url: str) -> list[tuple[str, str]]:
    engine = dbmod.create_engine(database_url)
    try:
        async with dbmod.session_factory(engine)() as db:
            rows = await db.execute(select(OutboxEmail.payment_request_id, OutboxEmail.status))
            return sorted((str(r[0]), str(r[1])) for r in rows.all())
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_two_workers_behind_nginx_serve_one_clinic(
    tmp_path: Path,
    migrated_postgres_url: str,
    redis_server: str,
    sandbox: RunningSandbox,
    mailbox: RunningMailbox,
    http: aiohttp.ClientSession,
) -> None:
    listen = free_port()
    platform = await sandbox_platform(http, sandbox.url, f"http://127.0.0.1:{listen}/stripe/webhook")
    env = cluster_env(platform, database_url=migrated_postgres_url, redis_url=redis_server, smtp_url=mailbox.smtp_url)
    async with running_cluster(
        tmp_path / "cluster", env=env, workers=2, background=[False, True], background_workers=1, listen=listen
    ) as cluster:
        w1, w2 = cluster.workers
        client = ClusterClient(cluster, http, sandbox.url, platform)
        try:
            # Stripe's events reach the cluster only as this test sends them, until it lets the sandbox send.
            await client.sandbox_delivers(False)

            # OAuth: the state made on w1 (Go to Stripe) is accepted on w2 (back from Stripe).
            await client.connect_clinic(start_via="w1", return_via="w2")

            # A launch is exchanged once, whichever worker sees it again; its session works on every worker.
            launch = launch_token(role="team_member", sub="dr-ada", name="Dr Ada Lovelace")
            status, doctor = await client.launch(launch, via="w1")
            assert status == 201, doctor
            status, replay = await client.launch(launch, via="w2")
            assert status == 401 and replay["error"]["code"] == "launch_rejected", replay
            status, profile = await client.api("GET", "/api/v1/profile", via="w2", token=doctor["token"])
            assert status == 200, profile

            clinician = await client.socket(doctor["token"], via="w1")
            patient_session = await client.session(via="w2", role="patient", sub="patient-1", name=None)
            patient = await client.socket(patient_session["token"], via="w2")

            # The first payment: its webhook goes to w2 only; the pop-up reaches the clinician held by w1.
            pr_id, intent_id = await client.request_and_pay(clinician, patient_session, via="w2", n=0)
            await patient.wait_for(lambda u: any(p["id"] == pr_id for p in u.of("payment_request")), 10)
            succeeded = await client.event(intent_id, "payment_intent.succeeded")
            assert await client.deliver(succeeded, w2) == 200
            received = await clinician.wait_count("payment_received", 1, wait=15)
            assert received[0]["id"] == pr_id

            # More payments, the sandbox now delivering every event as Stripe may (some twice, shuffled) to nginx,
            # which spreads them over both workers: each is still processed, announced and receipted once.
            await client.sandbox_delivers(True)
            paid = [pr_id]
            for n in range(1, MORE + 1):
                paid.append((await client.request_and_pay(clinician, patient_session, via=None, n=n))[0])
            await clinician.wait_count("payment_received", MORE + 1, wait=30)
            async with http.post(f"{sandbox.url}/_sandbox/webhooks/flush", json={"timeout": 20}) as answer:
                assert (await answer.json())["done"]
            rows = await inbox_settled(migrated_postgres_url)
            assert all(row.attempts >= 1 for row in rows)
            await mailbox.mailbox.wait_for(MORE + 1, within=30)
            await asyncio.sleep(1.5)  # room for a second announcement or receipt, were any claim not exclusive
            assert sorted(p["id"] for p in clinician.of("payment_received")) == sorted(paid)
            recipients = sorted(m.recipients[0] for m in mailbox.mailbox.messages)
            assert recipients == sorted(f"patient{n}@example.com" for n in range(MORE + 1))
            assert await outbox(migrated_postgres_url) == sorted((p, "sent") for p in paid)

            # Metrics: any worker answers for every process (multiprocess mode), so w1 and w2 say the same.
            scrapes = [await client.metrics(w.url, METRICS_TOKEN) for w in (w1, w2)]
            for text in scrapes:
                assert value(text, "callpay_payments_total", outcome="paid") == MORE + 1
                assert value(text, "callpay_payments_total", outcome="requested") == MORE + 1
                assert value(text, "callpay_socket_action_seconds_count", action="request_payment", outcome="ok") == (
                    MORE + 1
                )
                assert value(text, "callpay_connected_sockets") == 2.0
                assert value(text, "callpay_outbox_depth") == 0.0
                assert value(text, "callpay_webhook_lag_seconds_count") >= MORE + 1
                assert value(text, "callpay_reconciliation_fixes_total") == 0.0
            webhooks = value(
                scrapes[0], "callpay_http_request_seconds_count", route="/stripe/webhook", method="POST", status="200"
            )
            assert webhooks >= MORE + 2  # the one sent to w2 and at least one per payment through nginx
            assert scrapes[0].count("callpay_http_request_seconds_count") > 3

            # Through nginx, health checks and pages answer whichever worker gets them.
            for _ in range(4):
                async with http.get(f"{cluster.url}/readyz") as answer:
                    assert answer.status == 200
        except BaseException:
            print(cluster.logs())
            raise
        finally:
            await client.close()
    # SIGTERM stopped every process cleanly (nginx: SIGQUIT, its graceful stop).
    assert cluster.exit_codes == {"w1": 0, "w2": 0, "bg1": 0, "nginx": 0}, cluster.logs()
