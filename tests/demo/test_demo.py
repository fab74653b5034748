"""``callpay demo`` as a newcomer runs it: a real process on free ports, every address it prints answers."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port, launch_token
from tests.core.test_cli import env_with

CALLPAY = [sys.executable, "-m", "addon.cli"]
ROOT = Path(__file__).resolve().parents[2]
LAUNCH_SECRET = "a-launch-secret-of-the-operators-own-0123456789"


@dataclass
class Demo:
    process: subprocess.Popen[str]
    banner: str
    app: str
    outbox: str
    sandbox: str
    smtp: str


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def get(url: str, *, follow: bool = True) -> tuple[int, dict[str, str], bytes]:
    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def start_demo(cwd: Path, **env: str) -> Demo:
    port = free_port()
    process = subprocess.Popen(
        [*CALLPAY, "demo", "--port", str(port)],
        env=env_with(PYTHONPATH=str(ROOT), **env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if "Press Ctrl+C to stop." in line:
            break
    banner = "\n".join(lines)
    if "Press Ctrl+C" not in banner:
        process.kill()
        raise AssertionError(f"the demo did not start:\n{banner}")

    def address(label: str) -> str:
        match = re.search(rf"{label}\s+(\S+)", banner)
        assert match, f"no {label!r} in:\n{banner}"
        return match.group(1).rstrip("/")

    return Demo(
        process=process,
        banner=banner,
        app=address("simulator:"),
        outbox=address(r"sent\):"),
        sandbox=address("Stripe sandbox:"),
        smtp=address("SMTP to:"),
    )


def stop(demo: Demo) -> int:
    demo.process.send_signal(signal.SIGINT)
    return demo.process.wait(timeout=30)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    running = start_demo(tmp_path)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


def test_the_demo_prints_addresses_that_answer(demo: Demo, tmp_path: Path) -> None:
    assert demo.app.startswith("http://127.0.0.1:")
    status, _, body = get(f"{demo.app}/")
    assert status == 200 and b"host-platform simulator" in body
    assert b'data-testid="host-patient-pane"' in body and b'data-testid="host-clinician-pane"' in body
    assert get(f"{demo.app}/readyz")[0] == 200
    status, _, body = get(f"{demo.outbox}/")
    assert status == 200 and b"Outbox" in body
    assert get(f"{demo.outbox}/messages.json")[2] == b"[]"
    status, _, body = get(f"{demo.sandbox}/v3/")
    assert status == 200 and b"Stripe" in body
    assert demo.smtp.startswith("smtp://127.0.0.1:")
    assert "4242 4242 4242 4242" in demo.banner
    assert (tmp_path / "var" / "demo.sqlite3").exists()
    assert stop(demo) == 0


def test_the_simulator_mints_fresh_launches_for_each_surface(demo: Demo) -> None:
    for surface, path in (
        ("patient", "/widget/patient"),
        ("carer", "/widget/patient"),  # the second participant in the call window
        ("clinician", "/widget/clinician"),
        ("clinic-config", "/clinic-config"),
        ("org-admin", "/org-admin"),
    ):
        status, headers, _ = get(f"{demo.app}/host/launch/{surface}?call=call-7", follow=False)
        assert status == 302, surface
        assert headers["Location"].startswith(f"{path}?launch="), headers["Location"]
        # Following the redirect twice works: each visit mints its own single-use launch.
        for _ in range(2):
            status, _, body = get(f"{demo.app}/host/launch/{surface}?call=call-7")
            assert status == 200, (surface, body[:300])


def test_the_sandbox_is_registered_as_the_webhook_sender(demo: Demo) -> None:
    request = urllib.request.Request(
        f"{demo.sandbox}/v1/webhook_endpoints", headers={"Authorization": "Bearer sk_test_callpaydemo"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        endpoints = json.loads(response.read())["data"]
    # One for the clinics' connected accounts, one for the platform's own events (the object doesn't say which).
    assert len(endpoints) == 2
    assert {e["url"] for e in endpoints} == {f"{demo.app}/stripe/webhook"}
    assert all(e["status"] == "enabled" for e in endpoints)


def test_the_demo_honours_the_operators_launch_secret_and_smtp(tmp_path: Path) -> None:
    smtp_port = free_port()
    running = start_demo(
        tmp_path, CALLPAY_LAUNCH_SECRET=LAUNCH_SECRET, CALLPAY_SMTP_URL=f"smtp://user:pw@127.0.0.1:{smtp_port}"
    )
    try:
        assert running.smtp == f"smtp://127.0.0.1:{smtp_port}"  # the password is never printed
        assert "pw@" not in running.banner
        launch = launch_token(role="patient", sub="p", name=None, secret=LAUNCH_SECRET)
        assert get(f"{running.app}/widget/patient?launch={launch}")[0] == 200
        assert get(f"{running.app}/widget/patient?launch={launch_token(role='patient', sub='q', name=None)}")[0] == 401
        assert stop(running) == 0
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()
    assert "CALLPAY_LAUNCH_SECRET" not in os.environ


def test_the_footers_stripe_sandbox_link_opens_a_page_a_person_can_read(demo: Demo) -> None:
    _, _, body = get(f"{demo.app}/")
    found = re.search(rb'href="([^"]+)" data-testid="host-sandbox-link"', body)
    assert found, "the simulator's footer has no Stripe sandbox link"
    status, headers, page = get(found.group(1).decode())
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b"What this sandbox serves" in page and b"Unrecognized request URL" not in page
