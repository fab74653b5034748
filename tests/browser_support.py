"""Browser tests' shared fixtures: Playwright driving Debian's Chromium.

Registered for the whole suite with ``pytest_plugins = ["tests.browser_support"]`` in ``tests/conftest.py``.

The browser is launched per test rather than once per session: Playwright's async objects belong to the event loop
that created them, and tests here run on pytest-asyncio's function-scoped loops, so a session-wide browser would force
every browser test and every async fixture it uses onto a session loop. A launch costs about half a second.

Nothing is ever downloaded: Playwright's bundled browsers are not installed here; the system Chromium is used.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Generator
from datetime import date
from pathlib import Path
from typing import Final

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Frame, FrameLocator, Page, async_playwright

from sandbox.demo import RunningDemo, running_demo
from tests.conftest import free_port

__all__ = [
    "CHROMIUM",
    "SCREENSHOT_DIR",
    "browser",
    "complete_three_d_secure",
    "context",
    "demo",
    "fill_card",
    "page",
    "page_errors",
    "payment_frame",
    "save_screenshot",
    "script_errors",
    "three_d_secure_frame",
]

CHROMIUM: Final = Path("/usr/bin/chromium")
CHROMIUM_ARGS: Final = [
    "--no-sandbox",  # the test machine runs as root in a container, where Chromium's sandbox cannot start
    "--disable-background-networking",  # tests must not depend on, or wait for, anything outside this machine
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
    "--no-first-run",
]
SCREENSHOT_DIR: Final = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
DEFAULT_TIMEOUT_MS: Final = 10_000

_FAILED: Final = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, object, object]:
    """Remember whether the test itself failed, so the page fixture can keep a screenshot of what it showed."""
    report = yield
    if call.when == "call" and getattr(report, "failed", False):
        item.stash[_FAILED] = True
    return report


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run scripts/bootstrap, or as root: apt-get install chromium")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A fresh profile per test: no cookies, storage or cache carried over."""
    fresh = await browser.new_context(viewport={"width": 1024, "height": 768}, locale="en-AU")
    fresh.set_default_timeout(DEFAULT_TIMEOUT_MS)
    try:
        yield fresh
    finally:
        await fresh.close()


@pytest_asyncio.fixture
async def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RunningDemo]:
    """``callpay demo`` as a visitor runs it (app, sandbox, mailbox, host simulator), on its own port and folder."""
    # The demo honours an operator's launch secret and SMTP server; here it must use its own.
    monkeypatch.delenv("CALLPAY_LAUNCH_SECRET", raising=False)
    monkeypatch.delenv("CALLPAY_SMTP_URL", raising=False)
    async with running_demo("127.0.0.1", free_port(), var=tmp_path / "var") as running:
        yield running


@pytest.fixture
def page_errors() -> list[str]:
    """Uncaught exceptions and console errors of the test's page (and its frames); tests may assert it is empty."""
    return []


@pytest_asyncio.fixture
async def page(context: BrowserContext, page_errors: list[str], request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    opened = await context.new_page()
    opened.on("pageerror", lambda error: page_errors.append(f"pageerror: {error}"))
    opened.on(
        "console", lambda message: page_errors.append(f"console: {message.text}") if message.type == "error" else None
    )
    yield opened
    if request.node.stash.get(_FAILED, False):
        await save_screenshot(opened, f"FAILED-{request.node.name}")


def script_errors(errors: list[str]) -> list[str]:
    """The page errors that count: Chromium also logs HTTP errors a page handles (a declined card's 402, a refused
    form's 400, a missing favicon) as resource errors, which are not failures of the page's scripts; and a reconnect
    attempted while a test has put the browser offline (``set_offline``) as a failed connection."""
    not_failures = ("Failed to load resource", "ERR_INTERNET_DISCONNECTED")
    return [e for e in errors if not any(words in e for words in not_failures)]


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "screenshot"


async def save_screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save ``test-artifacts/screenshots/<name>.png`` and return its path."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{_file_name(name)}.png"
    await page.screenshot(path=str(path), full_page=full_page)
    return path


# --- The Stripe sandbox's Payment Element and 3-D Secure dialog, as seen from a page that mounted them. -------------

Root = Page | Frame | FrameLocator


def payment_frame(root: Root) -> FrameLocator:
    """The card-field iframe of the (sandbox) Payment Element mounted in ``root``."""
    return root.frame_locator('iframe[title="Secure payment input frame"]')


def three_d_secure_frame(root: Root) -> FrameLocator:
    """The 3-D Secure challenge the sandbox's Stripe.js opens over the page that confirmed the payment."""
    return root.frame_locator('iframe[title="3D Secure authentication"]')


def future_expiry() -> str:
    return f"12 / {(date.today().year + 5) % 100:02d}"


async def fill_card(root: Root, number: str, expiry: str | None = None, cvc: str = "123") -> None:
    """Type a card into the Payment Element as a patient would (the frame formats and validates it)."""
    frame = payment_frame(root)
    await frame.get_by_test_id("card-number").fill(number)
    await frame.get_by_test_id("card-expiry").fill(expiry or future_expiry())
    await frame.get_by_test_id("card-cvc").fill(cvc)


async def complete_three_d_secure(root: Root, *, succeed: bool = True) -> None:
    """Press the challenge's "Complete" (or "Fail") button once the dialog has opened."""
    await three_d_secure_frame(root).get_by_test_id("3ds-complete" if succeed else "3ds-fail").click()
