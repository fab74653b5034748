"""Signing out on one ``callpay serve`` process disconnects that session's sockets held by another, behind nginx,
through the Redis the processes share; everyone else's sockets stay."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sandbox.mailbox import RunningMailbox
from sandbox.stripe import RunningSandbox
from tests.support.cluster import ClusterClient, cluster_env, free_port, running_cluster, sandbox_platform
from tests.support.payflow import SocketUser


def watch_disconnects(user: SocketUser) -> list[Any]:
    reasons: list[Any] = []

    def record(reason: Any = None) -> None:
        reasons.append(reason)
        user.changed.set()

    user.client.on("disconnect", record)
    return reasons


@pytest.mark.postgres
async def test_signing_out_on_one_worker_disconnects_the_sessions_sockets_on_the_other(
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
    # Sweeps an hour apart: a disconnect within seconds is the sign-out's, carried by Redis.
    env["CALLPAY_SESSION_SWEEP_SECONDS"] = "3600"
    async with running_cluster(tmp_path / "cluster", env=env, workers=2, listen=listen) as cluster:
        client = ClusterClient(cluster, http, sandbox.url, platform)
        try:
            leaving = await client.session(via="w1", role="team_member", sub="dr-ada", name="Dr Ada Lovelace")
            staying = await client.session(via="w1", role="patient", sub="patient-1", name=None)
            on_w2 = await client.socket(leaving["token"], via="w2")
            on_w1 = await client.socket(leaving["token"], via="w1")
            patient = await client.socket(staying["token"], via="w2")
            reasons = [watch_disconnects(user) for user in (on_w2, on_w1, patient)]
            for user in (on_w2, on_w1, patient):
                await user.wait_count("payment_requests", 1, wait=10)

            status, _ = await client.api("DELETE", "/api/v1/sessions/current", via="w1", token=leaving["token"])
            assert status == 204
            for user, heard in zip((on_w2, on_w1), reasons, strict=False):
                await user.wait_for(lambda _user, heard=heard: bool(heard), wait=10)  # type: ignore[misc]
                assert heard == ["server disconnect"] and not user.client.connected
            await asyncio.sleep(0.5)
            assert patient.client.connected and reasons[2] == []
            for via in ("w1", "w2"):
                status, body = await client.api("GET", "/api/v1/profile", via=via, token=leaving["token"])
                assert status == 401 and body["error"]["code"] == "session_invalid"
        except BaseException:
            print(cluster.logs())
            raise
        finally:
            await client.close()
    assert set(cluster.exit_codes.values()) == {0}, cluster.logs()
