"""Two gunicorn workers with aiohttp's worker serve the app from ``addon.wsgi:app``, stop cleanly on SIGTERM, and
with addon/gunicorn_conf.py answer /metrics for all of them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.conftest import BASE_ENV, free_port
from tests.support.prometheus import value

GUNICORN = Path(sys.executable).parent / "gunicorn"


def test_two_gunicorn_workers_answer_ready_and_stop_on_sigterm(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'gunicorn.sqlite3'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLPAY_")}
    env.update(BASE_ENV, CALLPAY_DATABASE_URL=database)
    upgrade = subprocess.run([sys.executable, "-m", "addon.cli", "db", "upgrade"], env=env, capture_output=True)
    assert upgrade.returncode == 0, upgrade.stderr
    port = free_port()
    process = subprocess.Popen(
        [
            str(GUNICORN),
            "addon.wsgi:app",
            "--worker-class",
            "aiohttp.GunicornWebWorker",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--graceful-timeout",
            "15",
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        ready = False
        while time.monotonic() < deadline and not ready:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as answer:
                    assert answer.status == 200
                    assert b'"database": "ok"' in answer.read()
            except OSError:
                time.sleep(0.3)
                continue
            ready = True
        assert ready, "gunicorn's workers never answered /readyz"
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert stderr.decode().count("Booting worker") == 2


def test_gunicorn_workers_share_one_metrics_view(tmp_path: Path) -> None:
    """With addon/gunicorn_conf.py and PROMETHEUS_MULTIPROC_DIR, any worker's /metrics counts every worker's
    requests; a previous run's files are cleared when gunicorn starts."""
    database = f"sqlite:///{tmp_path / 'gunicorn.sqlite3'}"
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"left over from the last run")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLPAY_")}
    env.update(
        BASE_ENV,
        CALLPAY_DATABASE_URL=database,
        CALLPAY_METRICS_TOKEN="metrics-token",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    upgrade = subprocess.run([sys.executable, "-m", "addon.cli", "db", "upgrade"], env=env, capture_output=True)
    assert upgrade.returncode == 0, upgrade.stderr
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(GUNICORN), "-c", "python:addon.gunicorn_conf", "addon.wsgi:app", "-w", "2", "-b", f"127.0.0.1:{port}"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_ready(base)
        assert not (metrics_dir / "counter_999999.db").exists()
        # Each worker's app makes its live gauge's file as it starts: both are up once there are two.
        deadline = time.monotonic() + 60
        while len(list(metrics_dir.glob("gauge_livesum_*.db"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        # New connections until both workers have answered some (each worker's histogram file names its pid).
        sent = 0
        with ThreadPoolExecutor(8) as pool:
            for _ in range(50):
                sent += sum(pool.map(lambda _: get(f"{base}/healthz")[0] == 200, range(16)))
                if len(list(metrics_dir.glob("histogram_*.db"))) >= 2:
                    break
        assert len(list(metrics_dir.glob("histogram_*.db"))) == 2, "both workers answered requests"
        # Whichever worker answers the scrape, it counts all of them.
        for _ in range(6):
            status, text = get(f"{base}/metrics", {"Authorization": "Bearer metrics-token"})
            assert status == 200
            assert value(text, "callpay_http_request_seconds_count", route="/healthz", status="200") == sent
            assert value(text, "callpay_connected_sockets") == 0.0
            assert "callpay_reconciliation_fixes_total" in text
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr.decode()[-2000:]


def wait_ready(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if get(f"{base}/readyz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError("gunicorn's workers never answered /readyz")


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Connection": "close", **(headers or {})})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status, answer.read().decode()
