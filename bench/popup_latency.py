"""How long from Stripe's signed ``payment_intent.succeeded`` reaching Callpay to the clinician's pop-up event.

Runs everything on this machine: a migrated SQLite database in a temporary folder, the Stripe sandbox, the app on
a real port, a clinic connected through Connect OAuth, and a Socket.IO client as the clinician. Each round requests
a payment, pays it at the sandbox, then posts the sandbox's own event, signed, to ``/stripe/webhook`` and times
until ``payment_received`` arrives at the clinician's socket. Prints figures; not part of the tests' pass/fail.

    .venv/bin/python bench/popup_latency.py [--rounds 50] [--redis redis://127.0.0.1:6379/0] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import secrets
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import jwt
import socketio
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from addon import db as database
from addon.app import create_app
from addon.appkeys import DB, GATEWAY
from addon.http.sessions import exchange_launch
from addon.services import connect
from addon.settings import Settings
from sandbox.stripe import start_sandbox

LAUNCH_SECRET = "bench-launch-secret-0123456789abcdef-0123"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def launch(role: str, sub: str, call: str | None = "call-1") -> str:
    now = int(time.time())
    claims = {
        "iss": "https://video.example",
        "aud": "callpay",
        "sub": sub,
        "name": sub,
        "role": role,
        "org": "org-1",
        "clinic": "clinic-1",
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
    }
    if call:
        claims["call"] = call
    return jwt.encode(claims, LAUNCH_SECRET, algorithm="HS256")


async def main(rounds: int, redis_url: str | None, database_url: str | None) -> None:
    sandbox = await start_sandbox()
    folder = tempfile.TemporaryDirectory()
    url_db = database_url or f"sqlite+aiosqlite:///{folder.name}/bench.sqlite3"
    await database.upgrade(url_db)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    token = secrets.token_hex(8)
    key = f"sk_test_{token}"
    async with aiohttp.ClientSession() as http:
        stripe_auth = {"Authorization": f"Bearer {key}"}
        async with http.post(
            f"{sandbox.url}/v1/webhook_endpoints",
            headers=stripe_auth,
            data={"url": f"{base}/stripe/webhook", "enabled_events[]": "*", "connect": "true"},
        ) as answer:
            endpoint = await answer.json()
        # Kept disabled: this script posts each event itself so it knows when "received" starts.
        async with http.post(
            f"{sandbox.url}/v1/webhook_endpoints/{endpoint['id']}", headers=stripe_auth, data={"disabled": "true"}
        ):
            pass
        env = {
            "CALLPAY_LAUNCH_SECRET": LAUNCH_SECRET,
            "CALLPAY_STRIPE_SECRET_KEY": key,
            "CALLPAY_STRIPE_PUBLISHABLE_KEY": f"pk_test_{token}",
            "CALLPAY_STRIPE_CONNECT_CLIENT_ID": f"ca_{token}",
            "CALLPAY_STRIPE_WEBHOOK_SECRET": endpoint["secret"],
            "CALLPAY_PUBLIC_URL": base,
            "CALLPAY_STRIPE_API_BASE": sandbox.url,
            "CALLPAY_STRIPE_CONNECT_BASE": sandbox.url,
            "CALLPAY_DATABASE_URL": url_db,
        }
        if redis_url:
            env["CALLPAY_REDIS_URL"] = redis_url
        app = create_app(Settings.from_env(env))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            account = await connect_clinic(app, http, sandbox.url, base)
            stripe_auth["Stripe-Account"] = account
            doctor = await session(http, base, launch("team_member", "dr-bench"))
            arrived: dict[str, float] = {}
            got = asyncio.Event()
            client = socketio.AsyncClient(reconnection=False)

            async def on_received(data: Any) -> None:
                arrived[data["id"]] = time.perf_counter()
                got.set()

            client.on("payment_received", on_received)
            await client.connect(base, auth={"token": doctor}, transports=["websocket"], wait_timeout=5)
            figures: list[float] = []
            for index in range(rounds):
                ack = await client.call("request_payment", {"amount": "80.00", "description": f"Visit {index}"})
                pr_id = ack["payment_request"]["id"]
                patient = await session(http, base, launch("patient", f"patient-{index}"))
                async with http.post(
                    f"{base}/api/v1/payment-requests/{pr_id}/checkout",
                    json={"email": "p@example.com"},
                    headers={"Authorization": f"Bearer {patient}"},
                ) as answer:
                    checkout = await answer.json()
                intent_id = checkout["client_secret"].split("_secret_")[0]
                async with http.post(
                    f"{sandbox.url}/v1/payment_intents/{intent_id}/confirm",
                    headers=stripe_auth,
                    data={"payment_method": "pm_card_visa"},
                ):
                    pass
                async with http.get(f"{sandbox.url}/v1/events?limit=20", headers=stripe_auth) as answer:
                    events = (await answer.json())["data"]
                event = next(
                    e
                    for e in events
                    if e["type"] == "payment_intent.succeeded" and e["data"]["object"]["id"] == intent_id
                )
                payload = json.dumps(event).encode()
                stamp = int(time.time())
                mac = hmac.new(endpoint["secret"].encode(), f"{stamp}.".encode() + payload, hashlib.sha256)
                got.clear()
                started = time.perf_counter()
                async with http.post(
                    f"{base}/stripe/webhook",
                    data=payload,
                    headers={"Stripe-Signature": f"t={stamp},v1={mac.hexdigest()}", "Content-Type": "application/json"},
                ) as answer:
                    assert answer.status == 200, await answer.text()
                await asyncio.wait_for(got.wait(), 10)
                figures.append((arrived[pr_id] - started) * 1000)
            await client.disconnect()
        finally:
            await runner.cleanup()
            await sandbox.close()
            folder.cleanup()
    report(figures, url_db, redis_url)


async def session(http: aiohttp.ClientSession, base: str, launch_jwt: str) -> str:
    async with http.post(f"{base}/api/v1/sessions", json={"launch": launch_jwt}) as answer:
        return str((await answer.json())["token"])


async def connect_clinic(app: web.Application, http: aiohttp.ClientSession, sandbox_url: str, base: str) -> str:
    issued = await exchange_launch(app, launch("team_admin", "admin", call=None))
    async with app[DB].begin() as db:
        authorize = await connect.begin_oauth(db, issued.principal, app[GATEWAY], redirect_uri=f"{base}/return")
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    form = {
        **query,
        "account": "new",
        "business_name": "Bench Clinic",
        "country": "AU",
        "currency": "aud",
        "action": "authorize",
    }
    async with http.post(f"{sandbox_url}/oauth/authorize", data=form, allow_redirects=False) as answer:
        back = parse_qs(urlsplit(answer.headers["Location"]).query)
    result = await connect.complete_oauth(
        app[DB], app[GATEWAY], state=back["state"][0], code=back["code"][0], error=None
    )
    assert result.outcome == "connected", result.message
    async with app[DB]() as db:
        from addon.models import Clinic

        clinic = await db.get_one(Clinic, result.issued.principal.clinic_id)
        assert clinic.stripe_account_id
        return clinic.stripe_account_id


def report(figures: list[float], database_url: str, redis_url: str | None) -> None:
    ordered = sorted(figures)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    backend = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
    print(
        f"webhook received → payment_received at the clinician's socket ({len(figures)} payments, {backend}"
        f"{', Redis' if redis_url else ''})"
    )
    print(
        f"  min {ordered[0]:.1f} ms   median {statistics.median(ordered):.1f} ms   p95 {p95:.1f} ms   "
        f"max {ordered[-1]:.1f} ms"
    )
    print(
        "  (includes verifying the signature, the dedupe insert, retrieving the intent from the sandbox for the "
        "card details, the paid transition and receipt queueing, the commit, and Socket.IO delivery)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--redis", default=None, help="share rooms through this Redis, as multi-worker deployments do")
    parser.add_argument("--postgres", default=None, help="a postgresql+asyncpg:// URL of an empty database")
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.redis, args.postgres))
