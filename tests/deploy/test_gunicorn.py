"""Two gunicorn workers with aiohttp's worker serve the app from ``addon.wsgi:app`` and stop cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import BASE_ENV, free_port

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
