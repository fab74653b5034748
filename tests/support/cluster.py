"""Callpay deployed as a deployer runs it: N ``callpay serve`` processes sharing one PostgreSQL database and Redis,
optionally ``callpay worker`` processes for the background jobs, behind Debian's nginx running ``deploy/nginx.conf``.

Used by tests/deploy and by the benchmarks::

    async with running_cluster(tmp_path, env=settings, workers=2) as cluster:
        cluster.url                      # nginx: what clinics, patients and Stripe reach
        cluster.workers[0].url           # one worker, addressed directly
        cluster.pin("w1")                # headers that make nginx send a request or a socket to worker w1

``env`` carries the ``CALLPAY_*`` settings (database, Redis, Stripe's keys and addresses); the harness sets
``CALLPAY_PUBLIC_URL`` to nginx's address, and adds a fresh ``PROMETHEUS_MULTIPROC_DIR`` shared by every
process so ``/metrics`` on any worker counts them all. :func:`sandbox_platform` makes the Stripe settings for a
fresh platform account on a running sandbox whose webhooks go to the cluster; :func:`fresh_postgres` a database
for one run. Every process's output is kept in ``directory`` (``w1.log``, ``nginx-error.log``, ...); a worker that
fails to start raises with the end of its log.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from scripts import services
from tests.conftest import BASE_ENV

ROOT = Path(__file__).resolve().parents[2]
NGINX_SITE = ROOT / "deploy" / "nginx.conf"
PIN_HEADER = "X-Callpay-Worker"
# The ports deploy/nginx.conf is written with: nginx listens on the first, the workers on the others.
SAMPLE_LISTEN = 8080
SAMPLE_WORKER = (8081, "w1")
START_TIMEOUT = 60.0


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --- nginx's configuration --------------------------------------------------------------------------------------


def nginx_site(listen: int, workers: Sequence[tuple[str, int]]) -> str:
    """deploy/nginx.conf for these addresses: nginx on ``listen``, each (name, port) a worker. Each group of lines
    marked "one per worker" is written once per worker, from the group's first line."""
    out: list[str] = []
    lines = NGINX_SITE.read_text().splitlines()
    index = 0
    sample_port, sample_name = SAMPLE_WORKER
    while index < len(lines):
        line = lines[index]
        if line.rstrip().endswith("# one per worker"):
            for name, port in workers:
                out.append(line.replace(str(sample_port), str(port)).replace(f" {sample_name} ", f" {name} "))
            while index < len(lines) and lines[index].rstrip().endswith("# one per worker"):
                index += 1
            continue
        out.append(re.sub(rf"listen 127\.0\.0\.1:{SAMPLE_LISTEN};", f"listen 127.0.0.1:{listen};", line))
        index += 1
    return "\n".join(out) + "\n"


def nginx_main(directory: Path, site: Path) -> str:
    """A whole nginx.conf of our own: its pid, logs and temporary files in ``directory``, the site included."""
    temp = {kind: directory / f"nginx-{kind}" for kind in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}worker_processes 1;\n"
        f"pid {directory / 'nginx.pid'};\n"
        f"error_log {directory / 'nginx-error.log'} warn;\n"
        "events { worker_connections 4096; }\n"
        "http {\n"
        f"    access_log {directory / 'nginx-access.log'};\n"
        f"    client_body_temp_path {temp['body']};\n"
        f"    proxy_temp_path {temp['proxy']};\n"
        f"    fastcgi_temp_path {temp['fastcgi']};\n"
        f"    uwsgi_temp_path {temp['uwsgi']};\n"
        f"    scgi_temp_path {temp['scgi']};\n"
        f"    include {site};\n"
        "}\n"
    )


def write_nginx_conf(directory: Path, listen: int, workers: Sequence[tuple[str, int]]) -> Path:
    site = directory / "callpay-site.conf"
    site.write_text(nginx_site(listen, workers))
    main = directory / "nginx.conf"
    main.write_text(nginx_main(directory, site))
    return main


# --- The processes ----------------------------------------------------------------------------------------------


@dataclass
class Process:
    name: str
    process: asyncio.subprocess.Process
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self, tail: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-tail:]
        except FileNotFoundError:
            return ""

    async def stop(self, signum: int = signal.SIGTERM, wait: float = 60.0) -> int:
        """Send ``signum`` (SIGTERM: a graceful stop) and wait for the exit code; kill it after ``wait``."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signum)
            try:
                await asyncio.wait_for(self.process.wait(), wait)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
        code = self.process.returncode
        assert code is not None
        return code


@dataclass
class Worker(Process):
    port: int = 0
    background: bool = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Cluster:
    url: str
    workers: list[Worker]
    background_workers: list[Process]
    nginx: Process | None
    env: dict[str, str]
    directory: Path
    metrics_dir: Path | None
    exit_codes: dict[str, int] = field(default_factory=dict)

    def worker(self, name: str) -> Worker:
        return next(w for w in self.workers if w.name == name)

    @staticmethod
    def pin(name: str) -> dict[str, str]:
        """Headers that make nginx send a request (or a socket's handshake) to the worker called ``name``."""
        return {PIN_HEADER: name}

    async def start_worker(self, name: str, *, background: bool = True) -> Worker:
        """One more web worker on the same settings, addressed directly (nginx's configuration is not changed)."""
        worker = await start_worker(name, free_port(), self.env, self.directory, background=background)
        self.workers.append(worker)
        await wait_ready(worker.url, worker)
        return worker

    def logs(self) -> str:
        parts = [f"--- {p.name} ---\n{p.output()}" for p in [*self.workers, *self.background_workers]]
        error_log = self.directory / "nginx-error.log"
        if error_log.exists():
            parts.append(f"--- nginx ---\n{error_log.read_text(errors='replace')[-2000:]}")
        return "\n".join(parts)

    async def close(self) -> dict[str, int]:
        """Stop everything (workers with SIGTERM, as a deployer does); the exit code of each by name."""
        codes: dict[str, int] = {}
        for process in [*self.workers, *self.background_workers]:
            codes[process.name] = await process.stop()
        if self.nginx is not None:
            codes["nginx"] = await self.nginx.stop(signal.SIGQUIT, wait=10)
        self.exit_codes = codes
        return codes


def process_env(env: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any CALLPAY_ setting of its own, plus ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CALLPAY_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    return {**base, **env}


async def _spawn(name: str, argv: Sequence[str], env: Mapping[str, str], directory: Path) -> Process:
    log = directory / f"{name}.log"
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            *argv, env=dict(env), cwd=directory, stdout=sink, stderr=asyncio.subprocess.STDOUT
        )
    return Process(name, process, log)


async def wait_ready(url: str, process: Process, *, path: str = "/readyz", within: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if process.process.returncode is not None:
                raise RuntimeError(f"{process.name} exited ({process.process.returncode}):\n{process.output()}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(url + path, timeout=aiohttp.ClientTimeout(total=5)) as answer:
                    if answer.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{process.name} did not answer {path} within {within:.0f} s:\n{process.output()}")


async def start_worker(
    name: str, port: int, env: Mapping[str, str], directory: Path, *, background: bool = True
) -> Worker:
    argv = [sys.executable, "-m", "addon.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if not background:
        argv.append("--no-background")
    spawned = await _spawn(name, argv, env, directory)
    return Worker(spawned.name, spawned.process, spawned.log, port=port, background=background)


def _prepare(directory: Path, multiprocess_metrics: bool) -> Path | None:
    """The run's directory, and an empty one for prometheus-client's multiprocess files when they are wanted."""
    directory.mkdir(parents=True, exist_ok=True)
    if not multiprocess_metrics:
        return None
    metrics_dir = directory / "metrics"
    metrics_dir.mkdir()
    return metrics_dir


@contextlib.asynccontextmanager
async def running_cluster(
    directory: Path,
    *,
    env: Mapping[str, str],
    workers: int = 2,
    background: bool | Sequence[bool] = True,
    background_workers: int = 0,
    nginx: bool = True,
    multiprocess_metrics: bool = True,
    listen: int | None = None,
) -> AsyncIterator[Cluster]:
    """Start the cluster, yield it, stop it. ``background``: whether each web worker runs the background jobs (one
    flag for all, or one per worker); ``background_workers``: how many ``callpay worker`` processes to add;
    ``listen``: nginx's port (default: a free one), for settings that must name it before it starts."""
    flags = [background] * workers if isinstance(background, bool) else list(background)
    assert len(flags) == workers, "one background flag per worker"
    listen = listen or free_port()
    names = [(f"w{n + 1}", free_port()) for n in range(workers)]
    url = f"http://127.0.0.1:{listen}"
    full = process_env({**env, "CALLPAY_PUBLIC_URL": url})
    metrics_dir = _prepare(directory, multiprocess_metrics)
    if metrics_dir is not None:
        full["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    started = [
        await start_worker(name, port, full, directory, background=flag)
        for (name, port), flag in zip(names, flags, strict=True)
    ]
    extra = [
        await _spawn(f"bg{n + 1}", [sys.executable, "-m", "addon.cli", "worker"], full, directory)
        for n in range(background_workers)
    ]
    cluster = Cluster(url, started, extra, None, full, directory, metrics_dir)
    try:
        await asyncio.gather(*(wait_ready(w.url, w) for w in started))
        for process in extra:
            await _wait_line(process, "Callpay worker running")
        if nginx:
            binary = services.ensure_nginx()
            assert binary, "nginx is not installed and could not be installed (apt-get install nginx-light, as root)"
            main = write_nginx_conf(directory, listen, names)
            cluster.nginx = await _spawn(
                "nginx", [binary, "-p", str(directory), "-c", str(main), "-g", "daemon off;"], full, directory
            )
            await wait_ready(url, cluster.nginx, path="/healthz")
        yield cluster
    finally:
        await cluster.close()


async def _wait_line(process: Process, text: str, within: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if text in process.output(tail=100_000):
            return
        if process.process.returncode is not None:
            break
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{process.name} did not start:\n{process.output()}")


# --- What the cluster runs against --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Platform:
    """A platform account on the sandbox: the ``CALLPAY_STRIPE_*`` settings for it, and its webhook endpoint."""

    env: dict[str, str]
    secret_key: str
    endpoint_id: str
    webhook_secret: str


METRICS_TOKEN = "metrics-token-for-the-cluster"


def cluster_env(platform: Platform, *, database_url: str, redis_url: str, smtp_url: str) -> dict[str, str]:
    """The settings every worker of a test cluster shares: one PostgreSQL, one Redis, one mailbox, ``platform``'s
    Stripe settings, and metrics behind :data:`METRICS_TOKEN`."""
    return {
        **BASE_ENV,
        **platform.env,
        "CALLPAY_DATABASE_URL": database_url,
        "CALLPAY_REDIS_URL": redis_url,
        "CALLPAY_SMTP_URL": smtp_url,
        "CALLPAY_METRICS_TOKEN": METRICS_TOKEN,
    }


async def sandbox_platform(http: aiohttp.ClientSession, sandbox_url: str, webhook_url: str) -> Platform:
    """A fresh platform account on the sandbox at ``sandbox_url``, with a Connect webhook endpoint sending every
    event to ``webhook_url``."""
    token = secrets.token_hex(8)
    key = f"sk_test_{token}"
    async with http.post(
        f"{sandbox_url}/v1/webhook_endpoints",
        data={"url": webhook_url, "enabled_events[]": "*", "connect": "true"},
        headers={"Authorization": f"Bearer {key}"},
    ) as answer:
        assert answer.status == 200, await answer.text()
        endpoint = await answer.json()
    env = {
        "CALLPAY_STRIPE_SECRET_KEY": key,
        "CALLPAY_STRIPE_PUBLISHABLE_KEY": f"pk_test_{token}",
        "CALLPAY_STRIPE_CONNECT_CLIENT_ID": f"ca_{token}",
        "CALLPAY_STRIPE_WEBHOOK_SECRET": endpoint["secret"],
        "CALLPAY_STRIPE_API_BASE": sandbox_url,
        "CALLPAY_STRIPE_CONNECT_BASE": sandbox_url,
        "CALLPAY_STRIPE_JS_URL": f"{sandbox_url}/v3/",
    }
    return Platform(env, key, endpoint["id"], endpoint["secret"])


@contextlib.asynccontextmanager
async def fresh_postgres(server: str = "postgresql://postgres@127.0.0.1:5432/test") -> AsyncIterator[str]:
    """A new, migrated PostgreSQL database on the machine's server (trust auth) for one run, dropped after."""
    import asyncpg

    from addon import db

    assert services.ensure_postgres(), "PostgreSQL is not reachable on 127.0.0.1:5432 and could not be started"
    name = f"callpay_cluster_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = f"{server.rsplit('/', 1)[0].replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    try:
        await db.upgrade(url)
        yield url
    finally:
        admin = await asyncpg.connect(server)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


# --- Driving it: what the host platform, a clinic admin, clinicians, patients and Stripe do -------------------


class ClusterClient:
    """HTTP and Socket.IO clients of a running cluster. ``via`` names a worker: ``"w1"`` goes through nginx pinned
    to that worker, ``None`` through nginx as it balances."""

    def __init__(self, cluster: Cluster, http: aiohttp.ClientSession, sandbox_url: str, platform: Platform) -> None:
        self.cluster = cluster
        self.http = http
        self.sandbox_url = sandbox_url
        self.platform = platform
        self.account: str | None = None
        self.sockets: list[Any] = []

    def headers(self, via: str | None, token: str | None = None) -> dict[str, str]:
        headers = self.cluster.pin(via) if via else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    async def api(self, method: str, path: str, *, via: str | None, token: str | None = None, **kw: Any) -> Any:
        async with self.http.request(method, self.cluster.url + path, headers=self.headers(via, token), **kw) as answer:
            body = await answer.json() if answer.content_type == "application/json" else await answer.text()
            return answer.status, body

    async def launch(self, launch: str, *, via: str | None) -> tuple[int, Any]:
        result: tuple[int, Any] = await self.api("POST", "/api/v1/sessions", via=via, json={"launch": launch})
        return result

    async def session(self, *, via: str | None, **claims: Any) -> dict[str, Any]:
        from tests.conftest import launch_token

        status, body = await self.launch(launch_token(**claims), via=via)
        assert status == 201, body
        session: dict[str, Any] = body
        return session

    async def socket(self, token: str, *, via: str | None, reconnection: bool = False) -> Any:
        """A recording Socket.IO client (tests.support.payflow.SocketUser) connected through nginx."""
        import socketio

        from tests.support import contract
        from tests.support.payflow import SocketUser

        client = socketio.AsyncClient(reconnection=reconnection, reconnection_delay=0.2, reconnection_delay_max=1)
        user = SocketUser(client)

        async def record(event: str, data: Any = None) -> None:
            contract.current().event(event, data)
            user.received.append((event, data))
            user.changed.set()

        client.on("*", record)
        await client.connect(
            self.cluster.url,
            auth={"token": token},
            headers=self.headers(via),
            socketio_path="socket.io",
            transports=["websocket"],
            wait_timeout=10,
        )
        self.sockets.append(user)
        return user

    async def close(self) -> None:
        for user in self.sockets:
            await user.close()

    # --- Stripe ---------------------------------------------------------------------------------------------

    async def stripe(
        self, method: str, path: str, data: dict[str, str] | None = None, *, platform: bool = False
    ) -> Any:
        """A Stripe call with the platform's key: on the clinic's connected account once it has one, unless
        ``platform``."""
        headers = {"Authorization": f"Bearer {self.platform.secret_key}"}
        if self.account and not platform:
            headers["Stripe-Account"] = self.account
        async with self.http.request(method, f"{self.sandbox_url}{path}", data=data, headers=headers) as answer:
            return await answer.json()

    async def sandbox_delivers(self, on: bool) -> None:
        """Whether the sandbox sends Stripe's events to the cluster by itself (through nginx)."""
        body = await self.stripe(
            "POST",
            f"/v1/webhook_endpoints/{self.platform.endpoint_id}",
            {"disabled": "false" if on else "true"},
            platform=True,
        )
        assert body.get("status") == ("enabled" if on else "disabled"), body

    async def connect_clinic(self, *, start_via: str, return_via: str, clinic: str = "clinic-1") -> str:
        """Connect OAuth as a clinic admin does it: Go to Stripe on one worker, authorise on Stripe's page, come
        back to another. The ``state`` made on the first is checked by the second."""
        from urllib.parse import parse_qs, urlsplit

        admin = await self.session(via=start_via, role="team_admin", sub="admin-1", clinic=clinic, call=None)
        status, body = await self.api("POST", "/api/v1/clinic/stripe/connect", via=start_via, token=admin["token"])
        assert status == 201, body
        query = {k: v[0] for k, v in parse_qs(urlsplit(body["authorize_url"]).query).items()}
        form = {**query, "account": "new", "business_name": "Harbour Physio", "country": "AU", "currency": "aud"}
        async with self.http.post(
            f"{self.sandbox_url}/oauth/authorize", data={**form, "action": "authorize"}, allow_redirects=False
        ) as answer:
            assert answer.status == 302, await answer.text()
            back = answer.headers["Location"]
        assert back.startswith(self.cluster.url), back
        async with self.http.get(back, headers=self.headers(return_via)) as answer:
            page = await answer.text()
            assert answer.status == 200, page
        status, clinic_status = await self.api("GET", "/api/v1/clinic/status", via=start_via, token=admin["token"])
        assert status == 200 and clinic_status["payments_available"], clinic_status
        self.account = await self._account_of(clinic)
        return self.account

    async def _account_of(self, clinic: str) -> str:
        from sqlalchemy import select

        from addon import db
        from addon.models import Clinic

        engine = db.create_engine(self.cluster.env["CALLPAY_DATABASE_URL"])
        try:
            async with db.session_factory(engine)() as session:
                account = await session.scalar(select(Clinic.stripe_account_id).where(Clinic.external_id == clinic))
        finally:
            await engine.dispose()
        assert account, f"{clinic} has no Stripe account"
        return str(account)

    async def request_and_pay(
        self, clinician: Any, patient: dict[str, Any], *, via: str | None, amount: str = "80.00", n: int = 0
    ) -> tuple[str, str]:
        """The clinician requests (on their socket), the patient checks out (``via``) and pays at Stripe; the
        request's id and its PaymentIntent's."""
        ack = await clinician.call("request_payment", {"amount": amount, "description": f"Consultation {n}"})
        assert ack["ok"], ack
        pr_id = str(ack["payment_request"]["id"])
        status, checkout = await self.api(
            "POST",
            f"/api/v1/payment-requests/{pr_id}/checkout",
            via=via,
            token=patient["token"],
            json={"email": f"patient{n}@example.com"},
        )
        assert status == 200, checkout
        intent_id = checkout["client_secret"].split("_secret_")[0]
        intent = await self.stripe(
            "POST", f"/v1/payment_intents/{intent_id}/confirm", {"payment_method": "pm_card_visa"}
        )
        assert intent["status"] == "succeeded", intent
        return pr_id, intent_id

    async def event(self, intent_id: str, type: str) -> dict[str, Any]:
        body = await self.stripe("GET", "/v1/events?limit=100")
        for event in body["data"]:
            if event["type"] == type and event["data"]["object"].get("id") == intent_id:
                found: dict[str, Any] = event
                return found
        raise AssertionError(f"no {type} event for {intent_id}")

    def signed(self, event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        """The event's body and headers, signed as Stripe signs them now."""
        import json

        from sandbox.stripe.signing import signature_header

        payload = json.dumps(event).encode()
        signature = signature_header(self.platform.webhook_secret, payload, int(time.time()))
        return payload, {"Stripe-Signature": signature, "Content-Type": "application/json"}

    async def deliver(self, event: dict[str, Any], worker: Worker) -> int:
        """POST one event to one worker's webhook directly, as Stripe would through the balancer."""
        payload, headers = self.signed(event)
        async with self.http.post(f"{worker.url}/stripe/webhook", data=payload, headers=headers) as answer:
            await answer.read()
            return answer.status

    async def metrics(self, url: str, token: str) -> str:
        async with self.http.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}) as answer:
            text = await answer.text()
            assert answer.status == 200, text
            return text
