"""What ships: the production wheel holds Callpay and none of the sandbox; the sandbox is a distribution of its own.

Both wheels are built from a clean copy of the source, as a release would be, and listed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ["addon", "clinic_config", "widget", "realtime", "payment_centre"]


def build_wheel(source: Path, out: Path) -> list[str]:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = out.glob("*.whl")
    return zipfile.ZipFile(wheel).namelist()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for name in [*PRODUCT, "sandbox"]:
        shutil.copytree(ROOT / name, copy / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, copy / name)
    return copy


def test_the_production_wheel_contains_no_sandbox_mailbox_or_simulator(source: Path, tmp_path: Path) -> None:
    names = build_wheel(source, tmp_path)
    assert not [n for n in names if n.startswith("sandbox/")]
    assert not [n for n in names if "mailbox" in n or "simulator" in n or "stripe/js" in n]
    # What it does hold: the product's code, templates, static files and migrations.
    for expected in (
        "addon/wire/document.py",
        "addon/migrations/versions/0001_initial_schema.py",
        "addon/templates/email/receipt.html",
        "widget/templates/patient.html",
        "clinic_config/static/clinic_config.js",
        "payment_centre/templates/payment_centre.html",
        "realtime/handlers.py",
    ):
        assert expected in names, expected


def test_the_sandbox_is_a_distribution_of_its_own_importable_as_sandbox(source: Path, tmp_path: Path) -> None:
    names = build_wheel(source / "sandbox", tmp_path)
    for expected in (
        "sandbox/__init__.py",
        "sandbox/stripe/__main__.py",
        "sandbox/mailbox.py",
        "sandbox/host/simulator.py",
        "sandbox/host/templates/simulator.html",
        "sandbox/demo.py",
    ):
        assert expected in names, expected
    assert any(n.startswith("sandbox/stripe/js/static/") for n in names)
    assert not [n for n in names if n.startswith(("addon/", "widget/"))]


def test_callpay_demo_says_what_to_install_when_the_sandbox_is_missing() -> None:
    # The sandbox made unimportable in this one process, as on a production install of the wheel alone.
    script = "import sys; sys.modules['sandbox'] = None; from addon.cli import main; sys.exit(main(['demo']))"
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd="/")
    assert finished.returncode == 2
    assert finished.stdout == ""
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install -e ./sandbox" in lines[0], finished.stderr
