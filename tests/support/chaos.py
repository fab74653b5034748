"""Fuzzing and crash-test support: the profile (quick or full), running Hypothesis against the running app, and the
counts the run ends with.

``CALLPAY_FUZZ=quick`` (the default, what ``./scripts/test`` runs: a minute or two in all) or ``CALLPAY_FUZZ=full``
(thousands of cases per target, 100 crash trials; tens of minutes). Quick runs are derandomized, so a CI run
repeats; full runs draw fresh cases every time and print the seed of any failure.

Hypothesis runs its tests synchronously, while the app, the sandbox and the sockets live on the test's event loop:
:func:`given_on_loop` runs the Hypothesis test on a worker thread and each case's coroutine back on the loop, so
every case meets the real server on its real port.

A pytest plugin (registered in ``tests/conftest.py``): each test adds to :data:`TALLY`, xdist workers send theirs to
the controller, and the run ends with one line: cases tried, faults injected, crashes survived, 5xx, leaks.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

PROFILE = os.environ.get("CALLPAY_FUZZ", "quick").strip().lower() or "quick"
if PROFILE not in ("quick", "full"):
    raise RuntimeError(f"CALLPAY_FUZZ must be quick or full, not {PROFILE!r}")
FULL = PROFILE == "full"
# CALLPAY_FUZZ_SCALE (full profile only, 0 < scale <= 1): that fraction of the full counts, for a full run cut to the
# time there is; the closing line says which.
SCALE = float(os.environ.get("CALLPAY_FUZZ_SCALE") or 1.0)
if not 0 < SCALE <= 1:
    raise RuntimeError(f"CALLPAY_FUZZ_SCALE must be a fraction in (0, 1], not {SCALE!r}")

T = TypeVar("T")


def examples(quick: int, full: int) -> int:
    """How many cases a target gets in this profile."""
    return max(quick, round(full * SCALE)) if FULL else quick


def fuzz_settings(quick: int, full: int) -> settings:
    return settings(
        max_examples=examples(quick, full),
        deadline=None,
        derandomize=not FULL,
        database=None,
        # Shrinking a failure is worth it when hunting (full); the quick profile reports the first case found.
        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)
        if FULL
        else (Phase.explicit, Phase.generate),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        print_blob=FULL,
    )


async def given_on_loop(
    strategy: st.SearchStrategy[T],
    check: Callable[[T], Awaitable[None]],
    profile: settings,
    *,
    case_seconds: float = 60.0,
) -> None:
    """Run ``check`` for every case Hypothesis draws from ``strategy``, each on this event loop (where the app runs),
    while Hypothesis itself runs on a worker thread. A failing case fails the test with Hypothesis's report."""
    loop = asyncio.get_running_loop()

    def on_loop(coro: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coro, loop).result(case_seconds)

    @profile
    @given(strategy)
    def run(case: T) -> None:
        on_loop(_awaited(check(case)))

    await asyncio.to_thread(run)


async def _awaited(awaitable: Awaitable[None]) -> None:
    await awaitable


# --- The counts ----------------------------------------------------------------------------------------------


@dataclass
class Tally:
    cases: int = 0  # generated inputs sent (HTTP requests, socket events, signed events, amounts read)
    faults: int = 0  # Stripe faults the sandbox injected (500s, 429s, dropped connections, slow answers)
    crashes: int = 0  # SIGKILLs of a serving process survived (restarted, and every payment came out right)
    server_errors: int = 0  # 5xx answers and internal_error acks: each also fails its test
    leaks: int = 0  # personal data found where it must not be (logs, other people's answers): each fails its test
    notes: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        for f in fields(self):
            if f.name != "notes":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        self.notes.extend(other.notes)

    def as_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


TALLY = Tally()
_TOTAL = pytest.StashKey[Tally]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_TOTAL] = Tally()


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["chaos_tally"] = TALLY.as_json()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    sent = node.workeroutput.get("chaos_tally")
    if sent:
        node.config.stash[_TOTAL].add(Tally(**sent))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    total = Tally()
    total.add(config.stash[_TOTAL])
    total.add(TALLY)
    if not (total.cases or total.faults or total.crashes):
        return
    terminalreporter.write_line(
        f"chaos ({PROFILE}{f' x{SCALE:g}' if FULL and SCALE != 1 else ''}): {total.cases} generated cases, "
        f"{total.faults} Stripe faults injected, "
        f"{total.crashes} crashes survived, {total.server_errors} 5xx or internal errors, {total.leaks} leaks"
    )
    for note in total.notes:
        terminalreporter.write_line(f"  {note}")
