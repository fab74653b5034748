"""The collector tuned for a long-lived server, and the watch that measures how long the loop stalls."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys
import threading
import time

import pytest

from addon import loop_health

TUNED = """
import gc
from addon import loop_health

loop_health.tune_collector()
assert gc.get_threshold() == loop_health.THRESHOLDS, gc.get_threshold()
at_start = gc.get_freeze_count()
assert at_start > 1000, at_start  # everything start-up made is frozen

class Socket:
    def __init__(self):
        self.me = self  # a cycle, as most long-lived socket state is

kept = [Socket() for _ in range(50_000)]  # long-lived, like sockets held for a call
gc.collect(1)  # a collection of the middle generation: what survives it is frozen, never walked by a full one
frozen = gc.get_freeze_count()
assert frozen >= at_start + 50_000, (at_start, frozen)
assert len(gc.get_objects(2)) < 5000, len(gc.get_objects(2))
del kept
assert loop_health.compact() >= 50_000  # an operator's compaction frees cycles that died after being frozen
print("ok", loop_health.GC.collections)
"""


def test_the_collector_freezes_start_up_and_long_lived_objects() -> None:
    # Its own process: freezing is for a whole server's lifetime, not for a test run's.
    result = subprocess.run([sys.executable, "-c", TUNED], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")


async def test_the_watch_measures_and_reports_a_stall(caplog: pytest.LogCaptureFixture) -> None:
    watch = loop_health.LoopWatch(tick=0.01, summary_every=3600)
    task = asyncio.create_task(watch.run())
    await asyncio.sleep(0.05)
    with caplog.at_level(logging.INFO, logger="callpay.loop"):
        started = time.perf_counter()
        while time.perf_counter() - started < 0.3:  # a callback hogging the loop, as a full collection did
            pass
        await asyncio.sleep(0.05)
        watch.summary()
    task.cancel()
    assert watch.longest_stall >= 0.25
    assert 0 < watch.longest_busy_stall <= watch.longest_stall
    assert watch.stalls_over_warning >= 1
    stalled = [r for r in caplog.records if r.getMessage() == "event loop stalled"]
    assert stalled and stalled[0].stall_ms >= 250  # type: ignore[attr-defined]
    health = [r for r in caplog.records if r.getMessage() == "event loop health"]
    assert health[-1].window_longest_stall_ms >= 250  # type: ignore[attr-defined]
    assert watch.window_longest == 0.0  # each summary starts a new window


STRETCH = """
import asyncio, gc
from addon import loop_health

class C:
    def __init__(self):
        self.me = self

old = [[[j] for j in range(3)] for _ in range(100_000)]  # long-lived, freed by reference count later
loop_health.tune_collector()

async def main():
    clock = asyncio.create_task(loop_health.collector_clock(every=0.01))
    largest = 0
    for i in range(100_000):
        C(); C()  # young cyclic garbage, which only the collector frees
        old[i].clear()  # while old objects die as fast: CPython's count alone never collects the young
        if i % 1000 == 0:
            largest = max(largest, len(gc.get_objects(0)))
            await asyncio.sleep(0.011)
    clock.cancel()
    assert largest < 20_000, largest
    print("ok", largest)

asyncio.run(main())
"""


def test_the_young_generation_is_collected_even_while_old_objects_die() -> None:
    result = subprocess.run([sys.executable, "-c", STRETCH], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")


YOUNG_FROZEN = """
import gc, weakref
from addon import loop_health

loop_health.tune_collector()
at_start = gc.get_freeze_count()

class Cycle:
    def __init__(self):
        self.me = self

kept = [Cycle() for _ in range(20_000)]  # like a ping cycle's objects: alive at the next collection, and for 20 s
garbage = Cycle()
dead = weakref.ref(garbage)
del garbage
gc.collect(0)  # a young collection, as the clock runs ten times a second
assert dead() is None  # young cyclic garbage is still freed
# Everything that survived is frozen by the callback: no generation holds anything for the next collection to walk.
assert len(gc.get_objects(1)) == 0, len(gc.get_objects(1))
assert len(gc.get_objects(2)) == 0, len(gc.get_objects(2))
assert len(gc.get_objects(0)) < 50, len(gc.get_objects(0))
assert gc.get_freeze_count() >= at_start + 20_000, (at_start, gc.get_freeze_count())

# The price, as the module says: a cycle that dies after it was frozen waits for a compaction.
late = weakref.ref(kept[0])
kept.clear()
gc.collect(0)
gc.collect(2)
assert late() is not None
assert loop_health.compact() >= 20_000
assert late() is None
print("ok")
"""


def test_a_young_collection_freezes_its_survivors_so_no_collection_walks_them_again() -> None:
    result = subprocess.run([sys.executable, "-c", YOUNG_FROZEN], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")


def _hog_the_loop(seconds: float) -> None:
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:  # a callback that never yields, as a long handler would
        pass


async def test_a_stall_is_logged_once_with_the_stack_that_held_the_loop(caplog: pytest.LogCaptureFixture) -> None:
    watch = loop_health.LoopWatch(tick=0.01, summary_every=3600)
    task = asyncio.create_task(watch.run())
    await asyncio.sleep(0.05)
    with caplog.at_level(logging.WARNING, logger="callpay.loop"):
        _hog_the_loop(0.3)
        await asyncio.sleep(0.05)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    stalled = [r for r in caplog.records if r.getMessage() == "event loop stalled"]
    # On a busy machine the loop can also be late for want of a CPU; the hog's stall is the one naming it, once.
    hogged = [r for r in stalled if r.stacks and r.stacks[0]["stack"][-1].endswith(" _hog_the_loop")]  # type: ignore[attr-defined]
    assert len(hogged) == 1, [(r.__dict__.get("stall_ms"), r.__dict__.get("stacks")) for r in stalled]
    stacks = hogged[0].stacks  # type: ignore[attr-defined]
    # Sampled every 10 ms from 50 ms late on: most of a 300 ms stall (fewer when the sampler waits for a CPU too),
    # all in the one function that held the loop.
    assert stacks[0]["seen"] >= 5, stacks
    assert stacks[0]["stack"][-1].endswith(" _hog_the_loop"), stacks[0]["stack"][-3:]
    assert any("test_a_stall_is_logged_once" in line for line in stacks[0]["stack"])


async def test_the_watch_costs_the_loop_one_timer_callback_a_tick() -> None:
    loop = asyncio.get_running_loop()
    before = len(asyncio.all_tasks())
    watch = loop_health.LoopWatch(tick=0.01, summary_every=3600)
    task = asyncio.create_task(watch.run())
    await asyncio.sleep(0.2)
    # No task, future or coroutine per tick: the watch is its own (parked) task and one timer in the loop's heap.
    assert len(asyncio.all_tasks()) == before + 1
    watching = [h for h in loop._scheduled if getattr(h, "_callback", None) == watch._beat]  # type: ignore[attr-defined]
    assert len(watching) == 1
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert not [h for h in loop._scheduled if getattr(h, "_callback", None) == watch._beat and not h.cancelled()]  # type: ignore[attr-defined]
    assert not [t for t in threading.enumerate() if t.name == "callpay-loop-watch"]
