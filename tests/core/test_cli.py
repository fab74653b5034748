"""The ``callpay`` command as an operator meets it: real processes, real exit codes, one clear line per problem."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import BASE_ENV, free_port

CALLPAY = [sys.executable, "-m", "addon.cli"]
ROOT = Path(__file__).resolve().parents[2]


def env_with(**values: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CALLPAY_")}
    return {**clean, **values}


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(CALLPAY + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_serve_with_missing_settings_names_each_one(tmp_path: Path) -> None:
    result = run(["serve"], env_with(CALLPAY_LAUNCH_SECRET="too-short"), tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "callpay: CALLPAY_LAUNCH_SECRET is too short: it must be at least 32 bytes."
    assert "callpay: CALLPAY_STRIPE_SECRET_KEY is missing: set it in the environment." in lines
    assert len(lines) == 6
    assert "Traceback" not in result.stderr


def test_serve_refuses_a_database_behind_its_migrations_then_runs_after_upgrade(tmp_path: Path) -> None:
    env = env_with(**BASE_ENV, CALLPAY_DATABASE_URL=f"sqlite:///{tmp_path / 'ops.sqlite3'}")
    result = run(["serve", "--port", str(free_port())], env, tmp_path)
    assert result.returncode == 1
    assert "run `callpay db upgrade` first" in result.stderr
    assert "Traceback" not in result.stderr

    result = run(["db", "upgrade"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Database is up to date" in result.stdout

    port = free_port()
    process = subprocess.Popen(
        [*CALLPAY, "serve", "--port", str(port)], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        body = _wait_for(f"http://127.0.0.1:{port}/readyz")
        assert b'"database": "ok"' in body
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)


def test_default_database_lives_under_var(tmp_path: Path) -> None:
    env = env_with(**BASE_ENV)
    result = run(["db", "upgrade"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "var" / "callpay.sqlite3").exists()


def test_demo_prints_an_address_that_answers(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [*CALLPAY, "demo", "--port", str(port)],
        env=env_with(),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        address = None
        while time.monotonic() < deadline and address is None:
            line = process.stdout.readline()
            if f"http://127.0.0.1:{port}" in line:
                address = f"http://127.0.0.1:{port}"
        assert address, "the demo never printed its address"
        assert b'"status": "ok"' in _wait_for(f"{address}/healthz")
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)


def _wait_for(url: str, seconds: float = 30) -> bytes:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                data: bytes = response.read()
                return data
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_demo_on_a_busy_port_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(["demo", "--port", str(port)], env_with(), tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"callpay: port {port} on 127.0.0.1 is already in use; choose another with --port {port + 1}."
    )


def test_help_says_what_each_option_does(tmp_path: Path) -> None:
    result = run(["serve", "--help"], env_with(), tmp_path)
    assert result.returncode == 0
    assert "port to listen on (default: 8080)" in result.stdout
    assert "CALLPAY_" in result.stdout
