"""A worker stopped with SIGTERM while a webhook is being stored and a clinician's socket is open: the webhook is
stored, answered and processed once, the clinician reconnects through nginx to the worker still running, and a
payment whose webhook never came is put right by reconciliation, once, in whichever worker gets to it."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from sqlalchemy import select

from addon import db as dbmod
from addon.models import PaymentRequest, StripeEventInbox
from sandbox.mailbox import RunningMailbox
from sandbox.stripe import RunningSandbox
from tests.support.cluster import (
    METRICS_TOKEN,
    ClusterClient,
    Worker,
    cluster_env,
    free_port,
    running_cluster,
    sandbox_platform,
)
from tests.support.prometheus import value


async def row(database_url: str, model: type, key: str) -> object:
    engine = dbmod.create_engine(database_url)
    try:
        async with dbmod.session_factory(engine)() as db:
            return await db.get(model, key)
    finally:
        await engine.dispose()


async def statuses(database_url: str) -> dict[str, str]:
    engine = dbmod.create_engine(database_url)
    try:
        async with dbmod.session_factory(engine)() as db:
            return {str(r[0]): str(r[1]) for r in await db.execute(select(PaymentRequest.id, PaymentRequest.status))}
    finally:
        await engine.dispose()


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    async def until() -> None:
        while True:
            if await check():
                return
            await asyncio.sleep(0.1)

    await asyncio.wait_for(until(), within)


async def refuses_connections(port: int) -> bool:
    try:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.close()
    return False


async def holding_the_socket(client: ClusterClient, workers: list[Worker]) -> Worker:
    """The worker nginx gave the clinician's socket to (each worker's own figures: multiprocess mode is off)."""
    for worker in workers:
        if value(await client.metrics(worker.url, METRICS_TOKEN), "callpay_connected_sockets") == 1.0:
            return worker
    raise AssertionError("no worker holds the socket")


@pytest.mark.postgres
async def test_sigterm_finishes_a_webhook_in_flight_and_sends_sockets_to_another_worker(
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
        tmp_path / "cluster", env=env, workers=2, listen=listen, multiprocess_metrics=False
    ) as cluster:
        client = ClusterClient(cluster, http, sandbox.url, platform)
        try:
            await client.sandbox_delivers(False)
            await client.connect_clinic(start_via="w1", return_via="w2")
            doctor = await client.session(via=None, role="team_member", sub="dr-ada", name="Dr Ada Lovelace")
            patient = await client.session(via=None, role="patient", sub="patient-1", name=None)
            # Through nginx as a browser connects: nginx picks the worker, and picks again on reconnecting.
            clinician = await client.socket(doctor["token"], via=None, reconnection=True)
            await clinician.wait_count("payment_requests", 1)
            first, first_intent = await client.request_and_pay(clinician, patient, via=None, n=0)
            second, _ = await client.request_and_pay(clinician, patient, via=None, n=1)  # its webhook never comes
            stopping = await holding_the_socket(client, cluster.workers)
            staying = next(w for w in cluster.workers if w is not stopping)

            # Stripe's webhook reaches the worker through nginx and is held mid-write: the test holds a lock on the
            # inbox table, as a slow database would. Then the worker is told to stop.
            payload, headers = client.signed(await client.event(first_intent, "payment_intent.succeeded"))
            locker = await asyncpg.connect(_plain(migrated_postgres_url))
            lock = locker.transaction()
            await lock.start()
            await locker.execute("LOCK TABLE stripe_event_inbox IN EXCLUSIVE MODE")
            webhook = asyncio.create_task(
                _post(http, f"{cluster.url}/stripe/webhook", payload, {**headers, **cluster.pin(stopping.name)})
            )
            await eventually(lambda: _waiting_on_inbox(locker), 10)
            stopping.process.send_signal(signal.SIGTERM)

            # It stops taking connections and drops the socket; the clinician is back, on the other worker.
            await eventually(lambda: refuses_connections(stopping.port), 10)
            await clinician.wait_count("payment_requests", 2, wait=15)
            assert clinician.client.connected
            assert value(await client.metrics(staying.url, METRICS_TOKEN), "callpay_connected_sockets") == 1.0
            assert not webhook.done() and stopping.process.returncode is None  # still waiting on its write

            # The database answers again: the webhook is stored and answered before the worker exits.
            await lock.rollback()
            await locker.close()
            status, body = await asyncio.wait_for(webhook, 20)
            assert (status, body) == (200, {"received": True})
            assert await asyncio.wait_for(stopping.process.wait(), 30) == 0, stopping.output()

            # Processed once, by the stopping worker on its way out or by the other: the request is paid, its
            # receipt sent once, and the reconnected clinician sees it paid.
            async def processed() -> bool:
                inbox = await row(migrated_postgres_url, StripeEventInbox, str(await _event_id(client, first_intent)))
                return inbox is not None and getattr(inbox, "processed_at", None) is not None

            await eventually(processed)
            assert (await statuses(migrated_postgres_url))[first] == "paid"
            await mailbox.mailbox.wait_for(1, within=20)

            # The request whose webhook never came: reconciliation on a new worker's start-up (or the other's
            # round) finds it paid at Stripe, fixes it once and announces it to the clinician.
            late = await cluster.start_worker("w3")
            await clinician.wait_for(lambda u: second in {p["id"] for p in u.of("payment_received")}, 30)
            assert (await statuses(migrated_postgres_url)) == {first: "paid", second: "paid"}
            fixes = [
                value(await client.metrics(w.url, METRICS_TOKEN), "callpay_reconciliation_fixes_total")
                for w in (staying, late)
            ]
            assert sum(fixes) == 1.0, fixes
            await mailbox.mailbox.wait_for(2, within=20)
            await asyncio.sleep(1.0)
            assert sorted(m.recipients[0] for m in mailbox.mailbox.messages) == [
                "patient0@example.com",
                "patient1@example.com",
            ]
            # nginx sends everything to the worker left.
            for _ in range(4):
                async with http.get(f"{cluster.url}/readyz") as health:
                    assert health.status == 200
        except BaseException:
            print(cluster.logs())
            raise
        finally:
            await client.close()
    assert cluster.exit_codes == {"w1": 0, "w2": 0, "w3": 0, "nginx": 0}, cluster.logs()


async def _post(http: aiohttp.ClientSession, url: str, payload: bytes, headers: dict[str, str]) -> tuple[int, object]:
    async with http.post(url, data=payload, headers=headers) as answer:
        return answer.status, await answer.json()


async def _waiting_on_inbox(connection: asyncpg.Connection) -> bool:
    """Whether a worker's write to the inbox is waiting for the test's lock."""
    waiting = await connection.fetchval(
        "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'stripe_event_inbox'::regclass"
    )
    return bool(waiting)


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _event_id(client: ClusterClient, intent_id: str) -> str:
    return str((await client.event(intent_id, "payment_intent.succeeded"))["id"])
