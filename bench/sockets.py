"""Hold N authenticated sockets on one worker, and measure what it costs and whether any is lost.

Runs ``callpay serve`` as production runs it (its own process, one worker, SQLite in a temporary folder), then:

1. opens N sockets through real launches, ``--concurrency`` at a time: half clinicians and half patients, two per
   call, each opening its page (``GET /widget/clinician|patient?launch=<JWT>``), taking the session from it and
   connecting Socket.IO over WebSocket with that session's token;
2. holds them for ``--hold`` seconds, answering every ping, while a separate process probes ``/healthz``;
3. prints sockets opened and held, drops, the server's longest event-loop stall (during the wave and the hold),
   ``/healthz`` latency percentiles, launches per second, server CPU per launch + connect, RSS per socket.

The clients speak Engine.IO 4 / Socket.IO 5 directly over aiohttp WebSockets (open, connect with auth, pong,
events), so they cost the client processes little and the server sees exactly what a browser sends. Everything is
on loopback; every loop is bounded in count and time, and the run stops by itself.

    .venv/bin/python bench/sockets.py                 # quick: 1,000 sockets, 60 s hold (about 2 minutes)
    .venv/bin/python bench/sockets.py --full          # 10,000 sockets, 10 minute hold
    .venv/bin/python bench/sockets.py --sockets 3000 --hold 120 --concurrency 16 --clients 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import jwt

ROOT = Path(__file__).resolve().parent.parent
LAUNCH_SECRET = "bench-launch-secret-0123456789abcdef-0123"
PLATFORM = "https://video.example"
SESSION_BLOCK = re.compile(r'<script type="application/json" id="callpay-session">(.*?)</script>', re.S)
CALLS_PER_CLINIC = 50
# A socket that hears no ping for this long has been given up on by a real client (python-socketio's client
# waits ping interval + ping timeout).
PING_GAP_DROP = 45.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def raise_open_files() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def launch_token(index: int) -> tuple[str, str]:
    """Socket ``index``'s launch: even ones are a call's clinician, odd ones its patient."""
    call = index // 2
    clinic = call // CALLS_PER_CLINIC
    role = "team_member" if index % 2 == 0 else "patient"
    now = int(time.time())
    claims = {
        "iss": PLATFORM,
        "aud": "callpay",
        "sub": f"bench-{role}-{call}",
        "name": f"Bench {role} {call}",
        "role": role,
        "org": "bench-org",
        "clinic": f"bench-clinic-{clinic}",
        "call": f"bench-call-{call}",
        "iat": now,
        "exp": now + 240,
        "jti": uuid.uuid4().hex,
    }
    page = "/widget/clinician" if role == "team_member" else "/widget/patient"
    return page, jwt.encode(claims, LAUNCH_SECRET, algorithm="HS256")


# --- The client processes ------------------------------------------------------------------------------------


@dataclass
class ClientReport:
    opened: int = 0
    failed: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    open_seconds: float = 0.0
    dropped: int = 0
    held: int = 0
    pings: int = 0
    longest_ping_gap: float = 0.0
    events: int = 0
    open_latencies: list[float] = field(default_factory=list)


class BenchSocket:
    """One call window's socket: page launch, then Engine.IO/Socket.IO over a WebSocket, answering pings."""

    def __init__(
        self, http: aiohttp.ClientSession, sockets: aiohttp.ClientSession, base: str, report: ClientReport
    ) -> None:
        self.http = http
        self.sockets = sockets
        self.base = base
        self.report = report
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.last_ping = 0.0
        self.closing = False
        self.task: asyncio.Task[None] | None = None

    async def open(self, index: int) -> None:
        page, token = launch_token(index)
        async with self.http.get(f"{self.base}{page}", params={"launch": token}) as answer:
            text = await answer.text()
            if answer.status != 200:
                raise RuntimeError(f"page {answer.status}")
        found = SESSION_BLOCK.search(text)
        if not found:
            raise RuntimeError("no session block")
        session_token = json.loads(found.group(1))["token"]
        # On a connection of its own, as a browser opens a WebSocket (never on a pooled HTTP/1.1 connection): the
        # page's connection would carry the page's last response into the socket's life (aiohttp's request loop
        # keeps it until that connection's next request ends), 5-10 KB per socket no browser makes it hold.
        ws = await self.sockets.ws_connect(f"{self.base}/socket.io/?EIO=4&transport=websocket", heartbeat=None)
        self.ws = ws
        opened = await ws.receive_str(timeout=30)
        if not opened.startswith("0"):
            raise RuntimeError("no engine.io open")
        await ws.send_str("40" + json.dumps({"token": session_token}))
        while True:
            packet = await ws.receive_str(timeout=30)
            if packet == "2":
                await ws.send_str("3")
                continue
            if packet.startswith("40"):
                break
            if packet.startswith("44"):
                raise RuntimeError("connect refused")
            if packet.startswith("42"):
                self.report.events += 1
        self.last_ping = time.monotonic()
        self.task = asyncio.create_task(self.listen())

    async def listen(self) -> None:
        assert self.ws is not None
        ws = self.ws
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            data = message.data
            if data == "2":
                now = time.monotonic()
                self.report.longest_ping_gap = max(self.report.longest_ping_gap, now - self.last_ping)
                self.last_ping = now
                self.report.pings += 1
                await ws.send_str("3")
            elif data.startswith("42"):
                self.report.events += 1
        if not self.closing:
            self.report.dropped += 1

    def alive(self) -> bool:
        return self.ws is not None and not self.ws.closed and time.monotonic() - self.last_ping < PING_GAP_DROP

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            await self.ws.close()
        if self.task is not None:
            with contextlib.suppress(Exception):
                await self.task


async def client_main(base: str, indices: list[int], concurrency: int, pipe: Connection) -> None:
    raise_open_files()
    report = ClientReport()
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=None)
    sockets: list[BenchSocket] = []
    async with (
        aiohttp.ClientSession(base, connector=connector, timeout=timeout) as http,
        aiohttp.ClientSession(base, connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as websockets,
    ):
        queue = iter(indices)
        started = time.monotonic()

        async def opener() -> None:
            for index in queue:
                sock = BenchSocket(http, websockets, "", report)
                t0 = time.monotonic()
                try:
                    await sock.open(index)
                except Exception as exc:
                    report.failed += 1
                    key = type(exc).__name__ + (f": {exc}" if isinstance(exc, RuntimeError) else "")
                    report.failures[key] = report.failures.get(key, 0) + 1
                    await sock.close()
                    continue
                report.open_latencies.append(time.monotonic() - t0)
                sockets.append(sock)
                report.opened += 1

        await asyncio.gather(*(opener() for _ in range(concurrency)))
        report.open_seconds = time.monotonic() - started
        pipe.send(("opened", asdict(report)))
        # Hold until the parent says stop (bounded by the parent's own deadline).
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        report.held = sum(1 for s in sockets if s.alive())
        await asyncio.gather(*(s.close() for s in sockets))
    pipe.send(("done", asdict(report)))


def run_client(base: str, indices: list[int], concurrency: int, pipe: Connection) -> None:
    asyncio.run(client_main(base, indices, concurrency, pipe))


# --- The /healthz probe, in its own process ------------------------------------------------------------------


def run_probe(url: str, interval: float, seconds: float, out: str) -> None:
    async def probe() -> None:
        samples: list[tuple[float, float, int]] = []
        deadline = time.monotonic() + seconds
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            while time.monotonic() < deadline and not stop.is_set():
                t0 = time.monotonic()
                try:
                    async with http.get(url) as answer:
                        await answer.read()
                        status = answer.status
                except Exception:
                    status = 0
                samples.append((time.time(), time.monotonic() - t0, status))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(0.0, interval - (time.monotonic() - t0)))
        Path(out).write_text(json.dumps(samples))

    asyncio.run(probe())


# --- The server -----------------------------------------------------------------------------------------------


def server_env(database_url: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLPAY_")}
    unreachable = f"http://127.0.0.1:{free_port()}"  # nothing here calls Stripe; if it did, it would fail fast
    env.update(
        CALLPAY_LAUNCH_SECRET=LAUNCH_SECRET,
        CALLPAY_STRIPE_SECRET_KEY="sk_test_bench",
        CALLPAY_STRIPE_PUBLISHABLE_KEY="pk_test_bench",
        CALLPAY_STRIPE_CONNECT_CLIENT_ID="ca_bench",
        CALLPAY_STRIPE_WEBHOOK_SECRET="whsec_bench",
        CALLPAY_STRIPE_API_BASE=unreachable,
        CALLPAY_STRIPE_CONNECT_BASE=unreachable,
        CALLPAY_STRIPE_JS_URL=f"{unreachable}/v3/",
        CALLPAY_PUBLIC_URL=f"http://127.0.0.1:{port}",
        CALLPAY_DATABASE_URL=database_url,
        # Every client here is one address (127.0.0.1): the per-address launch and connect budgets, sized for a
        # clinic behind one address, would refuse a platform's wave. Behind a load balancer they count per client.
        CALLPAY_RATE_LIMITS="off",
    )
    return env


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def until_idle(pid: int, *, below: float = 0.05, longest: float = 300.0) -> None:
    """Wait until the server spends under ``below`` of a core for a second (or ``longest`` seconds have passed)."""
    deadline = time.monotonic() + longest
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        await asyncio.sleep(1.0)
        if cpu_seconds(pid) - before < below:
            return


async def snapshot(pid: int, folder: str, number: int) -> None:
    """Ask the server's memory probe for snapshot ``number`` and wait until it is written."""
    path = Path(folder) / f"snap-{number}.pickle"
    path.unlink(missing_ok=True)
    os.kill(pid, signal.SIGRTMIN)
    for _ in range(600):
        await asyncio.sleep(0.5)
        if path.exists():  # the probe renames it into place once written
            return


def log_lines(log_path: Path) -> list[dict[str, Any]]:
    lines = []
    for raw in log_path.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            lines.append(json.loads(raw))
    return lines


def health_lines(log_path: Path) -> list[dict[str, Any]]:
    return [line for line in log_lines(log_path) if line.get("logger") == "callpay.loop"]


def stamp(line: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(line.get("time"))).timestamp()


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {"p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": ordered[-1] * 1000}


def fmt(p: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.1f} ms" for k, v in p.items()) or "no samples"


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="10,000 sockets held for 10 minutes")
    parser.add_argument("--sockets", type=int, help="how many sockets (quick: 1000)")
    parser.add_argument("--hold", type=float, help="seconds to hold them (quick: 60)")
    parser.add_argument("--concurrency", type=int, default=16, help="launches in flight at once (default 16)")
    parser.add_argument("--clients", type=int, default=2, help="client processes (default 2)")
    parser.add_argument("--profile", help="run the server under cProfile and write its stats here")
    parser.add_argument("--py-spy", dest="py_spy", help="sample the server with py-spy during the wave (raw stacks)")
    parser.add_argument("--keep-log", dest="keep_log", help="copy the server's log (JSON lines) here at the end")
    parser.add_argument(
        "--memory-probe",
        dest="memory_probe",
        help="a folder: tracemalloc snapshots of the server before the wave, after it, and after closing (see "
        "bench/gc_probe/memory.py)",
    )
    args = parser.parse_args()
    count = args.sockets or (10_000 if args.full else 1_000)
    hold = args.hold if args.hold is not None else (600.0 if args.full else 60.0)
    raise_open_files()

    folder = tempfile.TemporaryDirectory(prefix="callpay-bench-")
    database_url = f"sqlite+aiosqlite:///{folder.name}/bench.sqlite3"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = server_env(database_url, port)
    if args.memory_probe:
        Path(args.memory_probe).mkdir(parents=True, exist_ok=True)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "bench" / "gc_probe"), env.get("PYTHONPATH")]))
        env["MEM_PROBE"] = str(Path(args.memory_probe).resolve())
    subprocess.run(
        [sys.executable, "-m", "addon.cli", "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True
    )
    log_path = Path(folder.name) / "server.log"
    command = [sys.executable, "-m", "addon.cli", "serve", "--port", str(port)]
    if args.profile:
        command = [sys.executable, "-m", "cProfile", "-o", str(Path(args.profile).resolve()), *command[1:]]
    with log_path.open("wb") as log_file:
        server = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=log_file, stderr=log_file, preexec_fn=raise_open_files
        )
    try:
        return asyncio.run(drive(server, base, count, hold, args, log_path, folder.name))
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
        if args.keep_log:
            shutil.copyfile(log_path, args.keep_log)
        folder.cleanup()


async def drive(
    server: subprocess.Popen[bytes],
    base: str,
    count: int,
    hold: float,
    args: argparse.Namespace,
    log_path: Path,
    tmp: str,
) -> int:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{base}/healthz") as answer:
                    if answer.status == 200:
                        break
            await asyncio.sleep(0.1)
        else:
            print("the server did not start:", log_path.read_text()[-2000:])
            return 1
    pid = server.pid
    print(f"server pid {pid} on {base}; {count} sockets, hold {hold:.0f} s, load average {load_average()}")
    await asyncio.sleep(1.0)
    if args.memory_probe:
        os.kill(pid, signal.SIGRTMIN)  # starts tracing
        await asyncio.sleep(0.5)
        await snapshot(pid, args.memory_probe, 1)
    cpu0, rss0 = cpu_seconds(pid), rss_mb(pid)

    probe_out = str(Path(tmp) / "probe.json")
    wave_budget = max(120.0, count / 5.0)
    probe = multiprocessing.Process(
        target=run_probe, args=(f"{base}/healthz", 0.1, wave_budget + hold + 120, probe_out)
    )
    probe.start()
    ctx = multiprocessing.get_context("fork")
    pipes: list[Connection] = []
    procs = []
    indices = list(range(count))
    per_client = max(1, args.concurrency // args.clients)
    for k in range(args.clients):
        mine, theirs = ctx.Pipe()
        proc = ctx.Process(target=run_client, args=(base, indices[k :: args.clients], per_client, theirs))
        proc.start()
        pipes.append(mine)
        procs.append(proc)

    spy = None
    if args.py_spy:
        spy = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measured wave
            ["py-spy", "record", "-p", str(pid), "-o", args.py_spy, "-f", "raw", "-r", "200"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    wave_started = time.time()
    reports: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    for pipe in pipes:
        kind, report = await asyncio.wait_for(loop.run_in_executor(None, pipe.recv), wave_budget + 300)
        assert kind == "opened"
        reports.append(report)
    wave_ended = time.time()
    cpu1, rss1 = cpu_seconds(pid), rss_mb(pid)
    if args.memory_probe:
        await snapshot(pid, args.memory_probe, 2)
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)
    watched = any(
        line.get("message") == "garbage collector tuned for a long-lived server" for line in log_lines(log_path)
    )
    if watched:
        os.kill(pid, signal.SIGUSR1)  # the server logs the wave's longest stall and starts a new window
    opened = sum(r["opened"] for r in reports)
    failed = sum(r["failed"] for r in reports)
    print(f"wave: {opened} opened, {failed} failed in {wave_ended - wave_started:.1f} s; load average {load_average()}")

    hold_started = time.time()
    deadline = time.monotonic() + hold
    while time.monotonic() < deadline:
        await asyncio.sleep(min(30.0, max(0.0, deadline - time.monotonic())))
        print(f"  holding: {time.time() - hold_started:.0f} s, server RSS {rss_mb(pid):.0f} MB, load {load_average()}")
    hold_ended = time.time()
    cpu2 = cpu_seconds(pid)
    if watched:
        os.kill(pid, signal.SIGUSR1)
    await asyncio.sleep(0.5)
    for pipe in pipes:
        pipe.send("stop")
    finals = []
    for pipe in pipes:
        kind, report = await asyncio.wait_for(loop.run_in_executor(None, pipe.recv), 300)
        finals.append(report)
    for proc in procs:
        proc.join(timeout=60)
    # Every socket is closed; the server runs each one's disconnect (a transaction each), which takes a while at
    # 10,000: wait until it is idle, so what follows measures what outlives the sockets, not sockets in closing.
    closed_at = time.monotonic()
    await until_idle(pid)
    close_seconds = time.monotonic() - closed_at
    rss_closed = rss_mb(pid)
    if watched:
        # What a full collection frees now is what freezing kept past its death.
        os.kill(pid, signal.SIGUSR2)
        await asyncio.sleep(2.0)
        await until_idle(pid)
    rss_compacted = rss_mb(pid)
    if args.memory_probe:
        await snapshot(pid, args.memory_probe, 3)
    if probe.pid:
        os.kill(probe.pid, signal.SIGTERM)
    probe.join(timeout=60)
    await asyncio.sleep(1.0)

    samples = json.loads(Path(probe_out).read_text()) if Path(probe_out).exists() else []
    wave_lat = [lat for t, lat, _ in samples if wave_started <= t < wave_ended]
    hold_lat = [lat for t, lat, _ in samples if hold_started <= t < hold_ended]
    probe_errors = sum(1 for t, _, status in samples if status != 200 and wave_started <= t < hold_ended)
    lines = health_lines(log_path)
    health = [(stamp(line), line) for line in lines if line.get("message") == "event loop health"]
    stalls = [(stamp(line), line) for line in lines if line.get("message") == "event loop stalled"]
    # Each health line covers the window since the one before it (a summary a minute, and one on each SIGUSR1
    # at the end of the wave and of the hold), so a phase's longest stall is the largest over its lines.
    boundaries = [t for t, line in health if t >= wave_ended][:1] + [t for t, line in health if t >= hold_ended][:1]
    wave_end = boundaries[0] if boundaries else wave_ended
    hold_end = boundaries[1] if len(boundaries) > 1 else hold_ended

    def longest(key: str, start: float, end: float) -> float | None:
        values = [line[key] for t, line in health if start < t <= end and key in line]
        return max(values) if values else None

    wave_stall = longest("window_longest_stall_ms", wave_started, wave_end)
    hold_stall = longest("window_longest_stall_ms", wave_end, hold_end)
    wave_busy = longest("window_longest_busy_stall_ms", wave_started, wave_end)
    hold_busy = longest("window_longest_busy_stall_ms", wave_end, hold_end)
    stalls_wave = sum(1 for t, _ in stalls if wave_started <= t < wave_end)
    stalls_hold = sum(1 for t, _ in stalls if wave_end <= t < hold_end)
    # Which stalls were the collector's own: the server logs every collection that paused the loop 100 ms or
    # more (wall clock), with the collector's CPU time and generation, so a phase's figure tells a pause the code
    # controls from one where the process waited for a CPU.
    pauses = [(stamp(line), line) for line in lines if line.get("message") == "garbage collection paused the loop"]

    def collector_pauses(start: float, end: float) -> dict[str, Any]:
        inside = [line for t, line in pauses if start <= t < end]
        return {
            "count": len(inside),
            "longest_cpu_ms": max((float(line.get("cpu_ms", 0)) for line in inside), default=0.0),
            "by_generation": {g: sum(1 for line in inside if line.get("generation") == g) for g in (0, 1, 2)},
        }

    at_hold_end = [line for t, line in health if t == hold_end] or [line for _, line in health[-1:]]
    compacted = [line for line in log_lines(log_path) if line.get("message") == "garbage collector compacted"]
    dropped = sum(r["dropped"] for r in finals)
    held = sum(r["held"] for r in finals)
    open_lat = [lat for r in reports for lat in r["open_latencies"]]
    failures: dict[str, int] = {}
    for r in reports:
        for key, n in r["failures"].items():
            failures[key] = failures.get(key, 0) + n
    wave_seconds = wave_ended - wave_started
    results = {
        "sockets": count,
        "opened": opened,
        "failed_to_open": failed,
        "failures": failures,
        "held_to_the_end": held,
        "dropped": dropped,
        "longest_ping_gap_s": round(max(r["longest_ping_gap"] for r in finals), 1),
        "pings_answered": sum(r["pings"] for r in finals),
        "wave_seconds": round(wave_seconds, 1),
        "launches_per_second": round(opened / wave_seconds, 1) if wave_seconds else 0,
        "server_cpu_ms_per_launch_connect": round((cpu1 - cpu0) * 1000 / max(opened, 1), 2),
        "server_cpu_percent_holding": round((cpu2 - cpu1) * 100 / max(hold_ended - hold_started, 1), 1),
        "rss_kb_per_socket": round((rss1 - rss0) * 1024 / max(opened, 1), 1),
        "server_rss_mb": round(rss1, 0),
        "longest_stall_ms_wave": wave_stall,
        "longest_stall_ms_hold": hold_stall,
        "longest_busy_stall_ms_wave": wave_busy,
        "longest_busy_stall_ms_hold": hold_busy,
        "stalls_over_100ms_wave": stalls_wave,
        "stalls_over_100ms_hold": stalls_hold,
        "collector_pauses_over_100ms_wave": collector_pauses(wave_started, wave_end),
        "collector_pauses_over_100ms_hold": collector_pauses(wave_end, hold_end),
        "gc_at_hold_end": {k: v for k, v in (at_hold_end[0] if at_hold_end else {}).items() if k.startswith("gc_")},
        "open_latency": percentiles(open_lat),
        "healthz_wave": percentiles(wave_lat),
        "healthz_hold": percentiles(hold_lat),
        "healthz_errors": probe_errors,
        "seconds_to_close_all": round(close_seconds, 1),
        "server_rss_mb_closed": round(rss_closed, 0),
        "server_rss_mb_compacted": round(rss_compacted, 0),
        "compact_after_close": {k: compacted[-1].get(k) for k in ("freed", "frozen", "pause_ms", "cpu_ms")}
        if compacted
        else None,
        "load_average_end": load_average(),
    }
    print()
    print(f"sockets opened          {opened} of {count} ({failed} failed{': ' + str(failures) if failures else ''})")
    print(f"held to the end         {held}   dropped {dropped}   longest ping gap {results['longest_ping_gap_s']} s")
    print(
        f"launches per second     {results['launches_per_second']}  (wave {results['wave_seconds']} s, "
        f"concurrency {args.concurrency})"
    )
    print(
        f"server CPU              {results['server_cpu_ms_per_launch_connect']} ms per launch + connect; "
        f"{results['server_cpu_percent_holding']}% of a core while holding"
    )
    print(f"server RSS              {results['server_rss_mb']:.0f} MB, {results['rss_kb_per_socket']} KB per socket")
    print(
        f"longest loop stall      wave {wave_stall} ms, hold {hold_stall} ms (wall clock); "
        f"stalls over 100 ms: wave {stalls_wave}, hold {stalls_hold}"
    )
    print(f"  of it the loop busy   wave {wave_busy} ms, hold {hold_busy} ms (the rest: waiting for a CPU)")
    print(
        f"collector pauses ≥100ms wave {results['collector_pauses_over_100ms_wave']}, "
        f"hold {results['collector_pauses_over_100ms_hold']} (count, the collector's own CPU)"
    )
    print(f"garbage collector       {results['gc_at_hold_end']} (totals since start, at the end of the hold)")
    print(
        f"after closing all       idle after {results['seconds_to_close_all']} s, RSS {rss_closed:.0f} MB, "
        f"{rss_compacted:.0f} MB after compaction"
    )
    print(f"compaction after close  {results['compact_after_close']} (cycles kept by freezing, freed)")
    print(f"open latency            {fmt(results['open_latency'])}")
    print(f"/healthz during wave    {fmt(results['healthz_wave'])}")
    print(f"/healthz during hold    {fmt(results['healthz_hold'])}  (errors {probe_errors})")
    print(f"load average            {load_average()}")
    # What the loop was running in its busiest stalls (the loop watch samples its stack while it is late).
    busiest = sorted(stalls, key=lambda item: -float(item[1].get("busy_ms", 0)))[:5]
    for t, line in busiest:
        phase = "wave" if t < wave_end else "hold" if t < hold_end else "after"
        print(f"stall ({phase})           {line.get('stall_ms')} ms wall, {line.get('busy_ms')} ms busy; seen running:")
        for seen in line.get("stacks") or [{"seen": 0, "stack": ["(no sample: it ended within 50 ms of its start)"]}]:
            print(f"    {seen['seen']} samples: " + " <- ".join(reversed(seen["stack"][-8:])))
    errors = [line for line in log_lines(log_path) if line.get("level") == "error"]
    if errors:
        print(f"server errors           {len(errors)}; first: {errors[0].get('message')}")
        print("                        " + str(errors[0].get("exception", ""))[-1500:])
    print("json " + json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
