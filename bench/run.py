"""One command, one table: Callpay's hot paths against the bare floor, with server CPU per operation.

    .venv/bin/python bench/run.py            # quick: 250 live calls (500 sockets); about 3-4 minutes
    .venv/bin/python bench/run.py --full     # 5,000 live calls (10,000 sockets), more rounds; 10-15 minutes
    .venv/bin/python bench/run.py --no-b2    # leave out the two-worker PostgreSQL + Redis row
    .venv/bin/python bench/run.py --write    # also write results.json, chart.svg and the table in both READMEs

It starts, each in its own process: the Stripe sandbox, Callpay in production's shape (one web worker, ``callpay
serve`` with ``CALLPAY_BACKGROUND=off``, and one ``callpay worker`` for the background jobs: receipts, sweeps,
reconciliation; SQLite, Redis, the collector tuned), and the floor (bench/floor.py: aiohttp + python-socketio doing only
what each operation must). Then, on loopback:

1. **B5 / B3** opens C calls' worth of sockets (a clinician and a patient each: page launch, then Socket.IO over
   WebSocket with the page's session; bench/sockets.py's clients), at 16 launches in flight, and keeps them open
   for the rest of the run; the same wave against the floor. Launch rate and p99; RSS per socket.
2. **B4** 50 clinicians (each in their own call) send ``request_payment`` back to back, all at once; ack rate and p99.
3. **B6** one checkout at a time (``POST /api/v1/payment-requests/{id}/checkout``): its latency, less the sandbox's
   own PaymentIntent create measured directly in the same run; the floor makes the same create through aiohttp.
4. **B1** each checkout's intent is confirmed at the sandbox, and its signed ``payment_intent.succeeded`` posted to
   ``/stripe/webhook``: time to ``payment_received`` at the clinician's socket, one at a time and 50 at once. The
   floor: an HTTP POST that emits to the clinician's room.
5. **B2** (PostgreSQL + Redis, two ``callpay serve``): the clinician on worker A, every webhook posted to worker B.

Server CPU per operation is the server processes' (web workers' and ``callpay worker``'s) user + system CPU over
the phase divided by the operations in it (read from /proc, so it holds on a loaded machine where wall-clock
latency doesn't). Every latency is also shown as a ratio to the floor's, measured in the same run, a few seconds
apart.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import multiprocessing
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import jwt

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import popup_latency  # noqa: E402
import sockets  # noqa: E402
from sockets import SESSION_BLOCK, cpu_seconds, free_port, load_average, raise_open_files, rss_mb  # noqa: E402

LAUNCH_SECRET = sockets.LAUNCH_SECRET
PLATFORM = sockets.PLATFORM
CLINICIANS = 50
BURST = 50


@dataclass
class Mode:
    calls: int
    sequential: int
    requests_each: int
    checkouts: int


QUICK = Mode(calls=250, sequential=20, requests_each=6, checkouts=30)
FULL = Mode(calls=5000, sequential=100, requests_each=20, checkouts=100)


def ms(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


# --- Processes ------------------------------------------------------------------------------------------------


class Process:
    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.log = name, log
        with log.open("wb") as out:
            self.popen = subprocess.Popen(
                command, env=env, cwd=ROOT, stdout=out, stderr=out, preexec_fn=raise_open_files
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    async def ready(self, url: str) -> None:
        async with aiohttp.ClientSession() as http:
            for _ in range(600):
                if self.popen.poll() is not None:
                    break
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(url) as answer:
                        if answer.status < 500:
                            return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def callpay_env(database_url: str, port: int, stripe: StripeSide, redis_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLPAY_")}
    env.update(
        CALLPAY_LAUNCH_SECRET=LAUNCH_SECRET,
        CALLPAY_STRIPE_SECRET_KEY=stripe.key,
        CALLPAY_STRIPE_PUBLISHABLE_KEY=stripe.key.replace("sk_", "pk_"),
        CALLPAY_STRIPE_CONNECT_CLIENT_ID=f"ca_{stripe.key[8:]}",
        CALLPAY_STRIPE_WEBHOOK_SECRET=stripe.webhook_secret,
        CALLPAY_STRIPE_API_BASE=stripe.url,
        CALLPAY_STRIPE_CONNECT_BASE=stripe.url,
        CALLPAY_STRIPE_JS_URL=f"{stripe.url}/v3/",
        CALLPAY_PUBLIC_URL=f"http://127.0.0.1:{port}",
        CALLPAY_DATABASE_URL=database_url,
        # Every client here is one address (127.0.0.1): the per-address launch and connect budgets, sized for a
        # clinic behind one address, would refuse a platform's wave. Behind a load balancer they count per client.
        CALLPAY_RATE_LIMITS="off",
    )
    if redis_url:
        env["CALLPAY_REDIS_URL"] = redis_url
    return env


@dataclass
class StripeSide:
    url: str
    key: str
    webhook_secret: str = ""
    account: str = ""


async def start_stripe(folder: Path) -> tuple[Process, StripeSide]:
    port = free_port()
    proc = Process(
        "sandbox",
        [sys.executable, "-m", "sandbox.stripe", "--port", str(port)],
        dict(os.environ),
        folder / "sandbox.log",
    )
    url = f"http://127.0.0.1:{port}"
    await proc.ready(f"{url}/v3/")
    stripe = StripeSide(url=url, key=f"sk_test_{secrets.token_hex(8)}")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {stripe.key}"}) as http:
        # The bench posts each event itself (so it knows when "received" starts): the endpoint stays disabled.
        async with http.post(
            f"{url}/v1/webhook_endpoints",
            data={"url": "http://127.0.0.1:9/stripe/webhook", "enabled_events[]": "*", "connect": "true"},
        ) as answer:
            endpoint = await answer.json()
        async with http.post(f"{url}/v1/webhook_endpoints/{endpoint['id']}", data={"disabled": "true"}):
            pass
    stripe.webhook_secret = endpoint["secret"]
    return proc, stripe


async def prepare_database(database_url: str, stripe: StripeSide) -> str:
    """Migrate, and connect the bench clinic to a sandbox account through Connect OAuth (in this process)."""
    from aiohttp import web

    from addon import db as database
    from addon.app import create_app
    from addon.settings import Settings

    await database.upgrade(database_url)
    env = callpay_env(database_url, free_port(), stripe)
    app = create_app(Settings.from_env({k: v for k, v in env.items() if k.startswith("CALLPAY_")}))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        async with aiohttp.ClientSession() as http:
            return await popup_latency.connect_clinic(app, http, stripe.url, env["CALLPAY_PUBLIC_URL"])
    finally:
        await runner.cleanup()


# --- A socket that acts: acks and awaited events --------------------------------------------------------------


class LiveSocket:
    """Engine.IO 4 / Socket.IO 5 over an aiohttp WebSocket, like bench/sockets.py's, with acks and event waits."""

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http = http
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.acks: dict[int, asyncio.Future[Any]] = {}
        self.waiting: dict[tuple[str, str], asyncio.Future[float]] = {}
        self.early: dict[tuple[str, str], float] = {}
        self.next_id = 0
        self.token = ""
        self.reader: asyncio.Task[None] | None = None

    async def open(self, base: str, page: str, launch: str, query: str = "") -> None:
        async with self.http.get(f"{base}{page}", params={"launch": launch}) as answer:
            text = await answer.text()
            if answer.status != 200:
                raise RuntimeError(f"page {answer.status}: {text[:200]}")
        found = SESSION_BLOCK.search(text)
        assert found, "no session block"
        self.token = json.loads(found.group(1))["token"]
        self.ws = await self.http.ws_connect(f"{base}/socket.io/?EIO=4&transport=websocket{query}", heartbeat=None)
        assert (await self.ws.receive_str(timeout=30)).startswith("0")
        await self.ws.send_str("40" + json.dumps({"token": self.token}))
        while not (packet := await self.ws.receive_str(timeout=30)).startswith("40"):
            if packet.startswith("44"):
                raise RuntimeError(f"connect refused: {packet}")
        self.reader = asyncio.create_task(self.read())

    async def read(self) -> None:
        assert self.ws is not None
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            data: str = message.data
            if data == "2":
                await self.ws.send_str("3")
            elif data.startswith("43"):
                digits = len(data) - len(data[2:].lstrip("0123456789"))
                ack_id = int(data[2:digits])
                future = self.acks.pop(ack_id, None)
                if future is not None and not future.done():
                    future.set_result(json.loads(data[digits:])[0])
            elif data.startswith("42"):
                name, *args = json.loads(data[2:])
                payload = args[0] if args else None
                key = (name, str(payload.get("id")) if isinstance(payload, dict) else "")
                now = time.perf_counter()
                waiter = self.waiting.pop(key, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(now)
                else:
                    self.early[key] = now

    async def call(self, event: str, data: Any) -> Any:
        assert self.ws is not None
        self.next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks[self.next_id] = future
        await self.ws.send_str(f"42{self.next_id}" + json.dumps([event, data]))
        return await asyncio.wait_for(future, 30)

    def expect(self, event: str, ident: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        if (event, ident) in self.early:
            future.set_result(self.early.pop((event, ident)))
        else:
            self.waiting[(event, ident)] = future
        return future

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            with contextlib.suppress(Exception):
                await self.reader


def launch(role: str, sub: str, call: str, clinic: str = "clinic-1", org: str = "org-1") -> str:
    now = int(time.time())
    claims = {
        "iss": PLATFORM, "aud": "callpay", "sub": sub, "name": sub, "role": role, "org": org, "clinic": clinic,
        "call": call, "iat": now, "exp": now + 240, "jti": uuid.uuid4().hex,
    }  # fmt: skip
    return jwt.encode(claims, LAUNCH_SECRET, algorithm="HS256")


def signed(event: dict[str, Any], secret: str) -> tuple[bytes, dict[str, str]]:
    payload = json.dumps(event).encode()
    stamp = int(time.time())
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return payload, {"Stripe-Signature": f"t={stamp},v1={mac}", "Content-Type": "application/json"}


# --- Figures --------------------------------------------------------------------------------------------------


@dataclass
class Row:
    key: str
    what: str
    measured: str
    floor: str = "—"
    ratio: str = "—"
    cpu: str = "—"
    target: str = ""
    numbers: dict[str, float] = field(default_factory=dict)


def ratio(value: float, floor: float) -> str:
    return f"{value / floor:.1f}x" if floor > 0 and value == value else "—"


class Spy:
    """``--py-spy DIR``: sample the server during one phase (raw stacks, idle threads left out) into DIR/<phase>.txt."""

    folder: Path | None = None

    def __init__(self, phase: str, procs: Sequence[Process]) -> None:
        self.phase, self.procs, self.spies = phase, procs, []

    def __enter__(self) -> Spy:
        if self.folder is not None:
            for n, proc in enumerate(self.procs):
                out = self.folder / f"{self.phase}{'-' + str(n) if n else ''}.txt"
                self.spies.append(subprocess.Popen(
                    ["py-spy", "record", "-p", str(proc.pid), "-o", str(out), "-f", "raw", "-r", "250"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                ))  # fmt: skip
            time.sleep(0.5)
        return self

    def __exit__(self, *_exc: object) -> None:
        for spy in self.spies:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)


class CpuWindow:
    """CPU over a phase, summed over ``procs``; what each process spent is kept in ``split`` (name → ms per op)."""

    def __init__(self, procs: Sequence[Process]) -> None:
        self.procs = procs
        self.starts = [p.cpu() for p in procs]
        self.start = sum(self.starts)
        self.split: dict[str, float] = {}

    def per(self, count: int) -> float:
        now = [p.cpu() for p in self.procs]
        for proc, before, after in zip(self.procs, self.starts, now, strict=True):
            self.split[proc.name] = (after - before) * 1000 / max(count, 1)
        return (sum(now) - self.start) * 1000 / max(count, 1)

    def say(self, phase: str) -> None:
        if len(self.split) > 1:
            print(f"  {phase} CPU per op by process: " + ", ".join(f"{k} {v:.1f} ms" for k, v in self.split.items()))


# --- The wave (B5, B3): bench/sockets.py's client processes ---------------------------------------------------


@dataclass
class Wave:
    opened: int
    failed: int
    seconds: float
    latencies: list[float]
    cpu_ms: float
    rss_kb: float
    pipes: list[Connection]
    procs: list[Any]

    def release(self) -> None:
        for pipe in self.pipes:
            pipe.send("stop")
        for pipe in self.pipes:
            with contextlib.suppress(EOFError):
                pipe.recv()
        for proc in self.procs:
            proc.join(timeout=60)


async def wave(
    server: Process, base: str, count: int, concurrency: int = 16, clients: int = 2, also: Sequence[Process] = ()
) -> Wave:
    """Open ``count`` sockets; CPU counted over ``server`` and ``also`` (the background worker), RSS the server's."""
    ctx = multiprocessing.get_context("fork")
    rss0 = rss_mb(server.pid)
    cpu = CpuWindow([server, *also])
    pipes, procs = [], []
    indices = list(range(count))
    for k in range(clients):
        mine, theirs = ctx.Pipe()
        proc = ctx.Process(target=sockets.run_client, args=(base, indices[k::clients], concurrency // clients, theirs))
        proc.start()
        pipes.append(mine)
        procs.append(proc)
    loop = asyncio.get_running_loop()
    reports = [await loop.run_in_executor(None, pipe.recv) for pipe in pipes]
    opened = sum(r["opened"] for _, r in reports)
    cpu_ms = cpu.per(opened)
    cpu.say("wave")
    return Wave(
        opened=opened,
        failed=sum(r["failed"] for _, r in reports),
        seconds=max(r["open_seconds"] for _, r in reports),
        latencies=[lat for _, r in reports for lat in r["open_latencies"]],
        cpu_ms=cpu_ms,
        rss_kb=(rss_mb(server.pid) - rss0) * 1024 / max(opened, 1),
        pipes=pipes,
        procs=procs,
    )


# --- The run --------------------------------------------------------------------------------------------------


@dataclass
class Stack:
    """Servers a measurement talks to: where clinicians connect and where webhooks go."""

    base: str
    webhook_bases: list[str]
    procs: list[Process]


async def open_clinicians(http: aiohttp.ClientSession, base: str, count: int, tag: str) -> list[LiveSocket]:
    result = []
    for k in range(count):
        sock = LiveSocket(http)
        await sock.open(base, "/widget/clinician", launch("team_member", f"dr-{tag}-{k}", f"live-{tag}-{k}"))
        result.append(sock)
    return result


async def patient_token(http: aiohttp.ClientSession, base: str, tag: str, k: int) -> str:
    async with http.post(
        f"{base}/api/v1/sessions", json={"launch": launch("patient", f"pt-{tag}-{k}", f"live-{tag}-{k}")}
    ) as answer:
        body = await answer.json()
        assert answer.status == 201, body
        return str(body["token"])


async def request_payments(clinicians: list[LiveSocket], each: int) -> tuple[list[float], list[tuple[int, str]]]:
    """Every clinician sends ``each`` request_payment back to back, all clinicians at once."""
    latencies: list[float] = []
    made: list[tuple[int, str]] = []

    async def one(k: int, sock: LiveSocket) -> None:
        for n in range(each):
            t0 = time.perf_counter()
            ack = await sock.call("request_payment", {"amount": "80.00", "description": f"Consultation {n}"})
            latencies.append(time.perf_counter() - t0)
            assert ack.get("ok"), ack
            made.append((k, str(ack["payment_request"]["id"])))

    await asyncio.gather(*(one(k, s) for k, s in enumerate(clinicians)))
    return latencies, made


async def checkouts(
    http: aiohttp.ClientSession, base: str, stripe: StripeSide, made: list[tuple[int, str]], patients: dict[int, str]
) -> tuple[list[float], list[tuple[int, str, str]]]:
    latencies, intents = [], []
    for k, pr_id in made:
        t0 = time.perf_counter()
        async with http.post(
            f"{base}/api/v1/payment-requests/{pr_id}/checkout",
            json={"email": "patient@example.com"},
            headers={"Authorization": f"Bearer {patients[k]}"},
        ) as answer:
            body = await answer.json()
        latencies.append(time.perf_counter() - t0)
        assert answer.status in (200, 201), body
        intents.append((k, pr_id, body["client_secret"].split("_secret_")[0]))
    return latencies, intents


async def sandbox_creates(http: aiohttp.ClientSession, stripe: StripeSide, count: int) -> list[float]:
    """The sandbox's own PaymentIntent create, timed from here: what a checkout can't go below."""
    latencies = []
    headers = {"Authorization": f"Bearer {stripe.key}", "Stripe-Account": stripe.account}
    for _ in range(count):
        t0 = time.perf_counter()
        async with http.post(
            f"{stripe.url}/v1/payment_intents",
            data={"amount": "8000", "currency": "aud", "automatic_payment_methods[enabled]": "true"},
            headers=headers,
        ) as answer:
            await answer.read()
        latencies.append(time.perf_counter() - t0)
    return latencies


async def paid_events(
    http: aiohttp.ClientSession, stripe: StripeSide, intents: list[tuple[int, str, str]]
) -> list[tuple[int, str, dict[str, Any]]]:
    """Confirm each intent at the sandbox and return its payment_intent.succeeded event."""
    headers = {"Authorization": f"Bearer {stripe.key}", "Stripe-Account": stripe.account}
    for _k, _pr, intent in intents:
        async with http.post(
            f"{stripe.url}/v1/payment_intents/{intent}/confirm",
            data={"payment_method": "pm_card_visa"},
            headers=headers,
        ) as answer:
            assert answer.status == 200, await answer.text()
    wanted = {intent for _, _, intent in intents}
    found: dict[str, dict[str, Any]] = {}
    after: str | None = None
    for _ in range(200):
        params = {"limit": "100", "type": "payment_intent.succeeded"}
        if after:
            params["starting_after"] = after
        async with http.get(f"{stripe.url}/v1/events", params=params, headers=headers) as answer:
            page = await answer.json()
        for event in page["data"]:
            if event["data"]["object"]["id"] in wanted:
                found[event["data"]["object"]["id"]] = event
        if not page.get("has_more") or not page["data"] or len(found) == len(wanted):
            break
        after = page["data"][-1]["id"]
    missing = wanted - set(found)
    assert not missing, f"no succeeded event for {len(missing)} intents"
    return [(k, pr, found[intent]) for k, pr, intent in intents]


async def deliver(
    http: aiohttp.ClientSession,
    stack: Stack,
    clinicians: list[LiveSocket],
    events: list[tuple[int, str, dict[str, Any]]],
    secret: str,
    at_once: bool,
) -> tuple[list[float], float]:
    """Post each signed event to the webhook; the time until the clinician's socket hears payment_received."""
    latencies: list[float] = []

    async def one(n: int, k: int, pr: str, event: dict[str, Any]) -> None:
        payload, headers = signed(event, secret)
        if ("payment_received", pr) in clinicians[k].early:
            return  # reconciliation (every minute, asking Stripe) found it paid before its webhook was sent
        heard = clinicians[k].expect("payment_received", pr)
        base = stack.webhook_bases[n % len(stack.webhook_bases)]
        t0 = time.perf_counter()
        async with http.post(f"{base}/stripe/webhook", data=payload, headers=headers) as answer:
            assert answer.status == 200, await answer.text()
        latencies.append(await asyncio.wait_for(heard, 30) - t0)

    started = time.perf_counter()
    if at_once:
        await asyncio.gather(*(one(n, k, pr, e) for n, (k, pr, e) in enumerate(events)))
    else:
        for n, (k, pr, e) in enumerate(events):
            await one(n, k, pr, e)
    return latencies, time.perf_counter() - started


async def floor_emits(
    http: aiohttp.ClientSession, base: str, clinicians: list[LiveSocket], count: int, at_once: bool
) -> list[float]:
    latencies: list[float] = []

    async def one(n: int) -> None:
        k = n % len(clinicians)
        ident = f"floor-{n}-{secrets.token_hex(4)}"
        heard = clinicians[k].expect("payment_received", ident)
        t0 = time.perf_counter()
        async with http.post(f"{base}/emit/live-floor-{k}", data=json.dumps({"id": ident})) as answer:
            await answer.read()
        latencies.append(await asyncio.wait_for(heard, 30) - t0)

    if at_once:
        await asyncio.gather(*(one(n) for n in range(count)))
    else:
        for n in range(count):
            await one(n)
    return latencies


async def floor_clinicians(http: aiohttp.ClientSession, base: str, count: int) -> list[LiveSocket]:
    result = []
    for k in range(count):
        sock = LiveSocket(http)
        await sock.open(base, "/page", "x", query=f"&call=live-floor-{k}")
        result.append(sock)
    return result


async def timed(count: int, action: Callable[[], Awaitable[Any]]) -> list[float]:
    latencies = []
    for _ in range(count):
        t0 = time.perf_counter()
        await action()
        latencies.append(time.perf_counter() - t0)
    return latencies


async def run(args: argparse.Namespace) -> list[Row]:
    mode = FULL if args.full else QUICK
    calls = args.calls or mode.calls
    folder = Path(tempfile.mkdtemp(prefix="callpay-bench-"))
    started = datetime.now(UTC)
    print(f"bench: {'full' if args.full else 'quick'} mode, {calls} live calls; load average {load_average()}")
    procs: list[Process] = []
    rows: list[Row] = []
    try:
        sandbox, stripe = await start_stripe(folder)
        procs.append(sandbox)
        database_url = f"sqlite+aiosqlite:///{folder}/bench.sqlite3"
        stripe.account = await prepare_database(database_url, stripe)
        port, floor_port = free_port(), free_port()
        base, floor = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{floor_port}"
        # Production's shape: a web worker that leaves the background jobs to `callpay worker`, whose events (a
        # payment reconciliation found first) reach the web worker's sockets through Redis.
        redis_url = os.environ.get("CALLPAY_TEST_REDIS", "redis://127.0.0.1:6379/0")
        server = Process(
            "callpay",
            [sys.executable, "-m", "addon.cli", "serve", "--port", str(port), "--no-background"],
            callpay_env(database_url, port, stripe, redis_url),
            folder / "callpay.log",
        )
        procs.append(server)
        worker_port = free_port()
        worker = Process(
            "callpay-worker",
            [sys.executable, "-m", "addon.cli", "worker", "--port", str(worker_port)],
            callpay_env(database_url, port, stripe, redis_url),
            folder / "callpay-worker.log",
        )
        procs.append(worker)
        servers = [server, worker]
        bare = Process(
            "floor",
            [sys.executable, str(BENCH / "floor.py"), "--port", str(floor_port), "--sandbox", stripe.url,
             "--key", stripe.key, "--account", stripe.account],
            dict(os.environ),
            folder / "floor.log",
        )  # fmt: skip
        procs.append(bare)
        await server.ready(f"{base}/healthz")
        await worker.ready(f"http://127.0.0.1:{worker_port}/healthz")
        await bare.ready(f"{floor}/healthz")
        await asyncio.sleep(1.0)

        # B5 / B3: the floor's wave first (then closed), then Callpay's, kept open for the rest of the run.
        sockets_count = 2 * calls
        floor_wave = await wave(bare, floor, sockets_count)
        floor_wave.release()
        print(f"  floor wave: {floor_wave.opened} sockets in {floor_wave.seconds:.1f} s")
        with Spy("B5", servers):
            live = await wave(server, base, sockets_count, also=[worker])
        print(f"  callpay wave: {live.opened} sockets ({live.failed} failed) in {live.seconds:.1f} s; "
              f"load {load_average()}")  # fmt: skip
        rate = live.opened / live.seconds
        rows.append(Row(
            "B5", "launch → session → socket connected (16 in flight)",
            f"{rate:.0f}/s, p50 {ms(live.latencies, .5):.0f} ms, p99 {ms(live.latencies, .99):.0f} ms",
            f"{floor_wave.opened / floor_wave.seconds:.0f}/s, p99 {ms(floor_wave.latencies, .99):.0f} ms",
            ratio(ms(live.latencies, .99), ms(floor_wave.latencies, .99)), f"{live.cpu_ms:.1f} ms",
            "≥ 200/s", {"rate": rate, "p99_ms": ms(live.latencies, .99), "cpu_ms": live.cpu_ms},
        ))  # fmt: skip
        rows.append(Row(
            "B3", f"resident memory per idle authenticated socket ({live.opened:,} sockets)",
            f"{live.rss_kb:.1f} KB", f"{floor_wave.rss_kb:.1f} KB", ratio(live.rss_kb, floor_wave.rss_kb), "—",
            "≤ 36 KB (at 10,000)", {"kb": live.rss_kb},
        ))  # fmt: skip

        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as http:
            clinicians = await open_clinicians(http, base, CLINICIANS, "a")
            patients = {k: await patient_token(http, base, "a", k) for k in range(CLINICIANS)}
            bare_clinicians = await floor_clinicians(http, floor, CLINICIANS)

            # B4
            with Spy("B4", servers):
                cpu = CpuWindow(servers)
                t0 = time.perf_counter()
                acks, made = await request_payments(clinicians, mode.requests_each)
                seconds = time.perf_counter() - t0
                b4_cpu = cpu.per(len(acks))
                cpu.say("B4")
            t0 = time.perf_counter()
            floor_acks, _ = await request_payments(bare_clinicians, mode.requests_each)
            floor_seconds = time.perf_counter() - t0
            rows.append(Row(
                "B4", f"request_payment → ack, {CLINICIANS} clinicians at once",
                f"{len(acks) / seconds:.0f}/s, p99 {ms(acks, .99):.0f} ms",
                f"{len(floor_acks) / floor_seconds:.0f}/s, p99 {ms(floor_acks, .99):.1f} ms",
                ratio(ms(acks, .99), ms(floor_acks, .99)), f"{b4_cpu:.1f} ms",
                "≥ 500/s, p99 ≤ 50 ms, ≤ 2 ms CPU", {"rate": len(acks) / seconds, "p99_ms": ms(acks, .99),
                                                     "cpu_ms": b4_cpu},
            ))  # fmt: skip
            print(f"  B4: {len(acks)} acks in {seconds:.1f} s")

            # B6: one request per clinician's call, round-robin, so B1's events reach every clinician.
            wanted = mode.sequential + BURST
            by_call: dict[int, list[str]] = {}
            for k, pr in made:
                by_call.setdefault(k, []).append(pr)
            chosen = [(k, by_call[k][n]) for n in range(mode.requests_each) for k in sorted(by_call)][:wanted]
            with Spy("B6", servers):
                cpu = CpuWindow(servers)
                checkout_lat, intents = await checkouts(http, base, stripe, chosen, patients)
                b6_cpu = cpu.per(len(checkout_lat))
                cpu.say("B6")
            own = await sandbox_creates(http, stripe, len(checkout_lat))
            floor_checkout = await timed(len(checkout_lat), lambda: _read(http.post(f"{floor}/checkout", data=b"{}")))
            own_p50 = statistics.median(own) * 1000
            overhead = [max(0.0, lat - own_p50 / 1000) for lat in checkout_lat]
            floor_overhead = [max(0.0, lat - own_p50 / 1000) for lat in floor_checkout]
            rows.append(Row(
                "B6", "checkout POST, less the sandbox's own create (one at a time)",
                f"p50 {ms(overhead, .5):.1f} ms, p99 {ms(overhead, .99):.1f} ms (sandbox {own_p50:.1f} ms)",
                f"p99 {ms(floor_overhead, .99):.1f} ms", ratio(ms(overhead, .99), ms(floor_overhead, .99)),
                f"{b6_cpu:.1f} ms", "p99 ≤ 20 ms", {"p99_ms": ms(overhead, .99), "cpu_ms": b6_cpu},
            ))  # fmt: skip
            print(f"  B6: {len(checkout_lat)} checkouts")

            # B1
            stack = Stack(base, [base], servers)
            b1_rows = await b1(http, stack, clinicians, intents, stripe, mode, bare_clinicians, floor, "B1", "SQLite")
            rows.extend(b1_rows)
            for sock in clinicians + bare_clinicians:
                await sock.close()
        live.release()

        if not args.no_b2:
            rows.extend(await b2(args, stripe, folder, mode))
    finally:
        for proc in reversed(procs):
            proc.stop()
        errors = [
            line for name in ("callpay.log", "callpay-worker.log") for line in _log_lines(folder / name)
            if line.get("level") == "error"
        ]  # fmt: skip
        if errors:
            print(f"callpay logged {len(errors)} errors; first: {errors[0].get('message')}")
        if args.keep:
            print(f"bench: logs and databases kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"bench: started {started:%H:%M} UTC, load average at the end {load_average()}")
    return rows


async def _read(request: Any) -> None:
    async with request as answer:
        await answer.read()


async def b1(
    http: aiohttp.ClientSession,
    stack: Stack,
    clinicians: list[LiveSocket],
    intents: list[tuple[int, str, str]],
    stripe: StripeSide,
    mode: Mode,
    bare_clinicians: list[LiveSocket] | None,
    floor: str | None,
    key: str,
    backend: str,
) -> list[Row]:
    rows = []
    # Each intent is paid at the sandbox just before its event is sent: left paid and unannounced for long, the
    # server's reconciliation (every minute) would find it first and the webhook would have nothing left to do.
    sequential, burst = intents[: mode.sequential], intents[mode.sequential : mode.sequential + BURST]
    one_by_one: list[float] = []
    seq_cpu = 0.0
    with Spy(key, stack.procs):
        for intent in sequential:
            events = await paid_events(http, stripe, [intent])
            cpu = CpuWindow(stack.procs)
            latency, _ = await deliver(http, stack, clinicians, events, stripe.webhook_secret, at_once=False)
            seq_cpu += cpu.per(1)
            one_by_one += latency
    seq_cpu /= max(len(one_by_one), 1)
    await asyncio.sleep(0.5)
    events = await paid_events(http, stripe, burst)
    with Spy(f"{key}-burst", stack.procs):
        cpu = CpuWindow(stack.procs)
        at_once, burst_seconds = await deliver(http, stack, clinicians, events, stripe.webhook_secret, at_once=True)
        burst_cpu = cpu.per(len(at_once))
        cpu.say(f"{key} burst")
    floor_seq = floor_at_once = []
    if floor and bare_clinicians:
        floor_seq = await floor_emits(http, floor, bare_clinicians, len(one_by_one), at_once=False)
        floor_at_once = await floor_emits(http, floor, bare_clinicians, len(at_once), at_once=True)
    web = sum(1 for proc in stack.procs if proc.name != "callpay-worker")
    workers = f"{web} workers" if web > 1 else "1 worker"
    rows.append(Row(
        key, f"webhook → payment_received, one at a time ({backend}, {workers})",
        f"p50 {ms(one_by_one, .5):.1f} ms, p99 {ms(one_by_one, .99):.1f} ms",
        f"p50 {ms(floor_seq, .5):.1f} ms" if floor_seq else "—",
        ratio(ms(one_by_one, .5), ms(floor_seq, .5)) if floor_seq else "—", f"{seq_cpu:.1f} ms",
        "p50 ≤ 10 ms, p99 ≤ 25 ms, ≤ 8 ms CPU" if key == "B1" else "p99 ≤ 50 ms",
        {"p50_ms": ms(one_by_one, .5), "p99_ms": ms(one_by_one, .99), "cpu_ms": seq_cpu},
    ))  # fmt: skip
    rows.append(Row(
        key, f"the same, {len(at_once)} at once",
        f"all in {ms(at_once, 1.0):.0f} ms ({len(at_once) / burst_seconds:.0f}/s), p50 {ms(at_once, .5):.0f} ms",
        f"all in {ms(floor_at_once, 1.0):.0f} ms" if floor_at_once else "—",
        ratio(ms(at_once, 1.0), ms(floor_at_once, 1.0)) if floor_at_once else "—", f"{burst_cpu:.1f} ms",
        "all within 500 ms" if key == "B1" else "2 workers ≥ 1.7x 1",
        {"all_ms": ms(at_once, 1.0), "rate": len(at_once) / burst_seconds, "cpu_ms": burst_cpu},
    ))  # fmt: skip
    print(f"  {key}: {len(one_by_one)} one at a time, {len(at_once)} at once")
    return rows


async def b2(args: argparse.Namespace, stripe: StripeSide, folder: Path, mode: Mode) -> list[Row]:
    """Two workers on PostgreSQL + Redis: clinicians on A, every webhook to B."""
    import asyncpg

    admin = os.environ.get("CALLPAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
    name = f"callpay_bench_{secrets.token_hex(4)}"
    try:
        connection = await asyncpg.connect(admin, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"  B2 left out: PostgreSQL not reachable ({exc})")
        return []
    await connection.execute(f'CREATE DATABASE "{name}"')
    await connection.close()
    url = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    redis_url = os.environ.get("CALLPAY_TEST_REDIS", "redis://127.0.0.1:6379/0")
    procs: list[Process] = []
    try:
        stripe.account = await prepare_database(url, stripe)
        ports = [free_port(), free_port()]
        for n, port in enumerate(ports):
            procs.append(Process(
                f"callpay-{'AB'[n]}",
                [sys.executable, "-m", "addon.cli", "serve", "--port", str(port), "--no-background"],
                callpay_env(url, port, stripe, redis_url), folder / f"callpay-{'AB'[n]}.log",
            ))  # fmt: skip
        worker_port = free_port()
        procs.append(Process(
            "callpay-worker", [sys.executable, "-m", "addon.cli", "worker", "--port", str(worker_port)],
            callpay_env(url, ports[0], stripe, redis_url), folder / "callpay-worker-b2.log",
        ))  # fmt: skip
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        for proc, base in zip(procs, [*bases, f"http://127.0.0.1:{worker_port}"], strict=True):
            await proc.ready(f"{base}/healthz")
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            clinicians = await open_clinicians(http, bases[0], CLINICIANS, "b")
            patients = {k: await patient_token(http, bases[0], "b", k) for k in range(CLINICIANS)}
            each = -(-(mode.sequential + 2 * BURST) // CLINICIANS)
            _, made = await request_payments(clinicians, each)
            by_call: dict[int, list[str]] = {}
            for k, pr in made:
                by_call.setdefault(k, []).append(pr)
            chosen = [(k, by_call[k][n]) for n in range(each) for k in sorted(by_call)]
            _, intents = await checkouts(http, bases[0], stripe, chosen[: mode.sequential + 2 * BURST], patients)
            to_b = Stack(bases[0], [bases[1]], procs)
            rows = await b1(http, to_b, clinicians, intents[: mode.sequential + BURST], stripe, mode, None, None,
                            "B2", "PostgreSQL + Redis")  # fmt: skip
            # Throughput: the same burst spread over both workers, against one worker taking it all.
            one = Stack(bases[0], [bases[1]], procs)
            both = Stack(bases[0], bases, procs)
            rest = await paid_events(http, stripe, intents[mode.sequential + BURST :])
            half = len(rest) // 2
            _, one_s = await deliver(http, one, clinicians, rest[:half], stripe.webhook_secret, at_once=True)
            _, both_s = await deliver(http, both, clinicians, rest[half:], stripe.webhook_secret, at_once=True)
            gain = (len(rest) - half) / both_s / (half / one_s)
            rows[-1].measured += f"; {half} into one worker {half / one_s:.0f}/s, spread over two " \
                                 f"{(len(rest) - half) / both_s:.0f}/s ({gain:.2f}x)"  # fmt: skip
            rows[-1].numbers["two_over_one"] = gain
            for sock in clinicians:
                await sock.close()
        return rows
    finally:
        for proc in procs:
            proc.stop()
        with contextlib.suppress(Exception):
            connection = await asyncpg.connect(admin, timeout=5)
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await connection.close()


def _log_lines(path: Path) -> list[dict[str, Any]]:
    return sockets.log_lines(path) if path.exists() else []


# --- Output ---------------------------------------------------------------------------------------------------


def table(rows: Sequence[Row]) -> str:
    head = "| | what | measured | floor | x floor | server CPU / op | target |\n|---|---|---|---|---|---|---|\n"
    return head + "".join(
        f"| {r.key} | {r.what} | {r.measured} | {r.floor} | {r.ratio} | {r.cpu} | {r.target} |\n" for r in rows
    )


def chart(rows: Sequence[Row], stamp: str) -> str:
    """Bars of each figure against its target (100% = at the target; shorter is better), as a small SVG."""
    # (label, value, target, lower is better)
    bars: list[tuple[str, float, float, bool]] = []
    for r in rows:
        n = r.numbers
        if r.key == "B1" and "p50_ms" in n:
            bars += [("B1 p50 ms", n["p50_ms"], 10, True), ("B1 p99 ms", n["p99_ms"], 25, True),
                     ("B1 CPU ms/payment", n["cpu_ms"], 8, True)]  # fmt: skip
        elif r.key == "B1" and "all_ms" in n:
            bars.append(("B1 50 at once, all ms", n["all_ms"], 500, True))
        elif r.key == "B2" and "p99_ms" in n:
            bars.append(("B2 p99 ms", n["p99_ms"], 50, True))
        elif r.key == "B3":
            bars.append(("B3 KB/socket", n["kb"], 36, True))
        elif r.key == "B4":
            bars += [("B4 acks/s", n["rate"], 500, False), ("B4 p99 ms", n["p99_ms"], 50, True),
                     ("B4 CPU ms/request", n["cpu_ms"], 2, True)]  # fmt: skip
        elif r.key == "B5":
            bars.append(("B5 launches/s", n["rate"], 200, False))
        elif r.key == "B6":
            bars.append(("B6 p99 ms", n["p99_ms"], 20, True))
    width, left, bar_h, gap = 640, 190, 16, 8
    scale = 120  # px per 100% of target
    height = 40 + len(bars) * (bar_h + gap) + 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="sans-serif" font-size="12" role="img" aria-labelledby="t">',
        f'<title id="t">Callpay bench {stamp}: each figure as a share of its target</title>',
        f'<text x="8" y="18" font-weight="bold">Callpay bench, {stamp}: figure ÷ target (the line is the target; '
        "for a rate, target ÷ figure)</text>",
    ]
    x_target = left + scale
    for i, (label, value, target, lower) in enumerate(bars):
        y = 32 + i * (bar_h + gap)
        share = (value / target) if lower else (target / value if value else 9.0)
        length = min(share, (width - left - 70) / scale) * scale
        colour = "#2e7d32" if share <= 1 else "#c62828"
        parts.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{label}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{length:.0f}" height="{bar_h}" fill="{colour}"/>')
        shown = f"{value:.0f}" if value >= 100 else f"{value:.1f}"
        parts.append(f'<text x="{left + length + 4:.0f}" y="{y + 12}">{shown} (target {target:g})</text>')
    parts.append(f'<line x1="{x_target}" y1="26" x2="{x_target}" y2="{height - 10}" stroke="#333" '
                 'stroke-dasharray="4 3"/>')  # fmt: skip
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write(rows: Sequence[Row], args: argparse.Namespace) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    mode = "full" if args.full else "quick"
    results = {"at": stamp, "mode": mode, "load_average": load_average(), "rows": [r.__dict__ for r in rows]}
    (BENCH / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    (BENCH / "chart.svg").write_text(chart(rows, stamp))
    # The same table in bench/README.md and in the project's README (its Benchmarks section), each with the chart.
    for readme, chart_path in ((BENCH / "README.md", "chart.svg"), (ROOT / "README.md", "bench/chart.svg")):
        text = readme.read_text()
        start, end = "<!-- bench:table -->", "<!-- /bench:table -->"
        if start in text and end in text:
            block = f"{start}\n{mode} mode, {stamp}, load average at the end {load_average()}:\n\n{table(rows)}\n" \
                    f"![each figure against its target]({chart_path})\n{end}"  # fmt: skip
            text = text.split(start)[0] + block + text.split(end, 1)[1]
            readme.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="5,000 calls (10,000 sockets), more rounds")
    parser.add_argument("--quick", action="store_true", help="the default")
    parser.add_argument("--calls", type=int, help="live calls (two sockets each)")
    parser.add_argument("--no-b2", action="store_true", help="leave out two workers on PostgreSQL + Redis")
    parser.add_argument("--py-spy", dest="py_spy", help="sample the server with py-spy in each phase, into this folder")
    parser.add_argument("--keep", action="store_true", help="keep the servers' logs and databases")
    parser.add_argument("--write", action="store_true", help="write results.json, chart.svg and the README table")
    args = parser.parse_args()
    raise_open_files()
    if args.py_spy:
        Spy.folder = Path(args.py_spy)
        Spy.folder.mkdir(parents=True, exist_ok=True)
    rows = asyncio.run(run(args))
    print()
    print(table(rows))
    if args.write:
        write(rows, args)
        print("wrote bench/results.json, bench/chart.svg and the table in bench/README.md and README.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
