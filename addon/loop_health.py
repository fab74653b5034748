"""Keep the event loop responsive with thousands of sockets open: the garbage collector, and a watch on stalls.

One worker holds every socket's state (engine.io sockets, Socket.IO sessions, rooms, the aiohttp connection), and
almost all of it lives as long as the call. CPython's collector walks every tracked object in a full (generation 2)
collection, so at 10,000 sockets one full pass is about a million objects: a second with the loop stopped, every
few seconds, freeing nothing. Sockets then miss their pings and drop. So, once the app has started:

- everything alive at start-up (modules, templates, the app) is frozen, never walked again;
- the young generation is larger, so a request's objects die by reference count before any collection sees them
  and fewer are promoted (default 700 allocations promotes much of every request in flight);
- whatever survives a collection of any generation is frozen at once (in the collector's callback), so no
  collection walks an object twice: the young generation holds only what was made since the last collection, the
  middle and old generations stay empty, and a pause is as long as a few hundred ms of allocation, not seconds.

Why not let the middle generation sift survivors first (as this module did, freezing only after a middle
collection every 2.5 s): most of what survives a young collection here is a socket's *ping cycle*, which lives
for one ping interval (20 s) and then dies by reference count. Each Engine.IO ping round makes about 53 tracked
objects per socket that live that long: the reader's ``wait_for`` on a ``websocket_wait`` task (with aiohttp's
``WebSocketDataQueue.read`` coroutine), the writer's ``wait_for`` on ``Queue.get`` for the next packet, and the
``_send_ping`` task asleep until the next ping, each with its futures, timer handle, context and callbacks. At
10,000 sockets that is 500 rounds a second, so a middle collection every 2.5 s walked 60,000-80,000 objects that
were all alive (collected 0), 60-190 ms of CPU each. Counted at 3,000 sockets during the hold: 20,000-35,000
objects in the middle generation at each middle collection, 22 of the 24 most common types from that cycle, 0 of
them garbage.

One more thing the thresholds alone don't do. CPython counts the young generation as allocations *minus
deallocations* of tracked objects, old and frozen ones included, so while long-lived objects die as fast as new ones
are made (a closing socket's state, a request frozen in flight, a ping cycle ending) the young generation is never
collected and grows without bound; when it finally is, the pause is as long as it grew (measured: 87 ms of CPU for
a young collection at 6,500 sockets). :func:`collector_clock` therefore also collects the young generation every
:data:`YOUNG_EVERY` seconds, so it holds at most what that time made. (0.25 s let a collection during a wave of
launches at 10,000 sockets walk 30-40 ms of CPU's worth, inside the bursts that make a stall; 0.1 s caps it at a
tenth of a second's survivors, and each object is still walked once, so the total is the same.)

What that gives up: a reference cycle that becomes garbage after it survived one collection (it was alive for a
young window) is not freed until the next :func:`compact`. Sockets that close and the ping cycles
are freed by reference count, and what the old middle collections found (measured: none during a hold, about 60
objects a second during a wave of launches) is what now waits; :func:`compact` (unfreeze, collect, freeze) is there
for an operator or a quiet moment, and the bench reports what it frees.

:class:`LoopWatch` measures how late the loop wakes a timer (the stall any socket would see), keeps the longest,
logs any stall over :data:`STALL_WARNING` once, with the stacks a helper thread saw the loop running during it (so
an operator reads which callback held the loop, not only that one did), and logs a summary line (stalls, collector
pauses) every :data:`SUMMARY_EVERY` seconds and when the app stops.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from types import CodeType, FrameType
from typing import Any

log = logging.getLogger("callpay.loop")

# (young, middle, old). Survivors of every collection are frozen, so the middle and old generations stay empty and
# their collections (which CPython still runs on its count) walk no more than a young one.
THRESHOLDS = (5_000, 10, 1_000)
TICK = 0.02
YOUNG_EVERY = 0.1
STALL_WARNING = 0.1
# The loop watch's helper thread: how late the loop's timer must be before it looks at what the loop is running,
# how often it looks while the stall lasts, and how much of each stack it keeps.
STACK_AFTER = 0.05
SAMPLE_EVERY = 0.01
MAX_SAMPLES = 50
STACK_DEPTH = 40
SUMMARY_EVERY = 60.0


@dataclass
class GcStats:
    """Collector pauses since start, by generation."""

    collections: list[int] = field(default_factory=lambda: [0, 0, 0])
    longest_ms: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    total_ms: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    # The collector's own running time: on a busy machine the wall-clock pause also counts waiting for a CPU.
    longest_cpu_ms: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    _started: float = 0.0
    _started_cpu: float = 0.0

    def callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            self._started_cpu = time.thread_time()
            return
        generation = int(info["generation"])
        pause_ms = (time.perf_counter() - self._started) * 1000
        cpu_ms = (time.thread_time() - self._started_cpu) * 1000
        self.longest_cpu_ms[generation] = max(self.longest_cpu_ms[generation], cpu_ms)
        self.collections[generation] += 1
        self.total_ms[generation] += pause_ms
        self.longest_ms[generation] = max(self.longest_ms[generation], pause_ms)
        # What survived lives on (sockets, sessions, rooms, a ping cycle's 20 s): freeze it so no collection walks
        # it again. This empties every generation (gc.freeze() moves all three to the permanent one).
        gc.freeze()
        if pause_ms >= STALL_WARNING * 1000:
            log.warning(
                "garbage collection paused the loop",
                extra={
                    "generation": generation,
                    "pause_ms": round(pause_ms, 1),
                    "cpu_ms": round(cpu_ms, 1),
                    "collected": info.get("collected"),
                },
            )


GC = GcStats()


def tune_collector() -> None:
    """Freeze what start-up made, set the thresholds, and freeze long-lived objects from now on. Idempotent."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    if GC.callback not in gc.callbacks:
        gc.callbacks.append(GC.callback)


def compact() -> int:
    """Walk everything once (a pause of about 0.1 s per 100,000 objects), free what died since it was frozen, and
    freeze the rest again; the number of objects freed. ``kill -USR2 <pid>`` runs it in ``callpay serve``."""
    started, started_cpu = time.perf_counter(), time.thread_time()
    gc.unfreeze()
    freed = gc.collect()
    gc.freeze()
    log.info(
        "garbage collector compacted",
        extra={
            "freed": freed,
            "frozen": gc.get_freeze_count(),
            "pause_ms": round((time.perf_counter() - started) * 1000, 1),
            "cpu_ms": round((time.thread_time() - started_cpu) * 1000, 1),
        },
    )
    return freed


async def collector_clock(*, every: float = YOUNG_EVERY) -> None:
    """Collect the young generation on a clock as well as on CPython's count (see the module's note), until
    cancelled. A timer callback, like the loop watch's: no task resumed per tick."""
    loop = asyncio.get_running_loop()
    handle: asyncio.TimerHandle | None = None

    def collector_clock_tick() -> None:
        nonlocal handle
        gc.collect(0)  # its survivors are frozen by the callback
        handle = loop.call_later(every, collector_clock_tick)

    handle = loop.call_later(every, collector_clock_tick)
    try:
        await loop.create_future()
    finally:
        handle.cancel()


# A sampled stack: (code, line) per frame, innermost last.
Stack = tuple[tuple[CodeType, int], ...]


class LoopWatch:
    """How late the loop wakes a timer: wall-clock lateness, and how much of it this thread spent running (its own
    work: a collection, a long callback) rather than waiting for a CPU the machine gave to someone else; and, for a
    stall, what the loop was running.

    The loop's part is one plain timer callback a tick (no task, future or coroutine resumed per tick), so the watch
    costs the loop next to nothing. A helper thread does the rest: when the loop is :data:`STACK_AFTER` late for its
    timer it samples the loop thread's stack (``sys._current_frames()``) every :data:`SAMPLE_EVERY` until the
    timer fires; a stall over :data:`STALL_WARNING` is then logged once, with the stacks it was seen running. The
    thread sleeps while the loop is on time (it wakes about once per ``tick + STACK_AFTER``), so it competes for the
    interpreter only when there is a stall to explain."""

    def __init__(self, *, tick: float = TICK, summary_every: float = SUMMARY_EVERY) -> None:
        self._tick = tick
        self._summary_every = summary_every
        self.longest_stall = 0.0
        self.longest_busy_stall = 0.0
        self.window_longest = 0.0
        self.window_longest_busy = 0.0
        self.stalls_over_warning = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._due = 0.0  # when the loop's next timer is due (the loop's clock: time.monotonic())
        self._cpu = 0.0
        self._last_summary = 0.0
        self._handle: asyncio.TimerHandle | None = None
        # Written by the helper thread, read by the loop once the stall is over: stacks seen while late for `_due`.
        self._sampled_due = -1.0
        self._samples: list[Stack] = []

    async def run(self) -> None:
        """Watch until cancelled."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        now = loop.time()
        self._last_summary = now
        self._cpu = time.thread_time()
        self._due = now + self._tick
        self._handle = loop.call_at(self._due, self._beat)
        stop = threading.Event()
        helper = threading.Thread(
            target=self._sample_stalls, args=(threading.get_ident(), stop), name="callpay-loop-watch", daemon=True
        )
        helper.start()
        try:
            await loop.create_future()  # never done: the work is the timer's and the thread's
        finally:
            self._handle.cancel()
            stop.set()
            helper.join(timeout=1.0)

    def _beat(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        cpu = time.thread_time()
        stall = max(0.0, now - self._due)
        # The thread's own running time since the last tick bounds how much of the stall was this loop busy; the
        # rest was the process waiting for a CPU.
        busy = min(stall, max(0.0, cpu - self._cpu))
        if stall > self.window_longest:
            self.window_longest = stall
            self.longest_stall = max(self.longest_stall, stall)
        if busy > self.window_longest_busy:
            self.window_longest_busy = busy
            self.longest_busy_stall = max(self.longest_busy_stall, busy)
        if stall >= STALL_WARNING:
            self.stalls_over_warning += 1
            samples = self._samples if self._sampled_due == self._due else []
            log.warning(
                "event loop stalled",
                extra={
                    "stall_ms": round(stall * 1000, 1),
                    "busy_ms": round(busy * 1000, 1),
                    "stacks": _most_common(samples),
                },
            )
        self._due = now + self._tick
        self._cpu = cpu
        self._handle = loop.call_at(self._due, self._beat)
        if now - self._last_summary >= self._summary_every:
            self.summary()
            self._last_summary = now

    def _sample_stalls(self, loop_thread: int, stop: threading.Event) -> None:
        """The helper thread: sleep until the loop would be :data:`STACK_AFTER` late, look, sample while it is."""
        while True:
            due = self._due
            late = time.monotonic() - due
            if late < STACK_AFTER:
                if stop.wait(STACK_AFTER - late):
                    return
                continue
            if self._sampled_due != due:
                self._samples = []
                self._sampled_due = due
            if len(self._samples) < MAX_SAMPLES:
                frame = sys._current_frames().get(loop_thread)
                if frame is not None:
                    self._samples.append(_stack(frame))
                del frame
            if stop.wait(SAMPLE_EVERY):
                return

    def summary(self) -> None:
        """One line an operator (or the socket bench) reads: how responsive the loop was, and why not."""
        log.info(
            "event loop health",
            extra={
                "longest_stall_ms": round(self.longest_stall * 1000, 1),
                "longest_busy_stall_ms": round(self.longest_busy_stall * 1000, 1),
                "window_longest_stall_ms": round(self.window_longest * 1000, 1),
                "window_longest_busy_stall_ms": round(self.window_longest_busy * 1000, 1),
                "stalls_over_100ms": self.stalls_over_warning,
                "gc_collections": list(GC.collections),
                "gc_longest_ms": [round(ms, 1) for ms in GC.longest_ms],
                "gc_longest_cpu_ms": [round(ms, 1) for ms in GC.longest_cpu_ms],
                "gc_total_ms": [round(ms, 1) for ms in GC.total_ms],
                # Not gc.get_freeze_count(): it walks every frozen object, a pause of its own at a million.
                "gc_young_counts": list(gc.get_count()),
            },
        )
        self.window_longest = 0.0
        self.window_longest_busy = 0.0


def _stack(frame: FrameType | None) -> Stack:
    """A frame's stack, innermost last, at most :data:`STACK_DEPTH` frames: code objects and line numbers only (the
    sampler runs during a stall, so it makes no strings; they are made once, if the stall is logged)."""
    frames: list[tuple[CodeType, int]] = []
    while frame is not None and len(frames) < STACK_DEPTH:
        frames.append((frame.f_code, frame.f_lineno))
        frame = frame.f_back
    frames.reverse()
    return tuple(frames)


def _short(path: str) -> str:
    for marker in ("/site-packages/", "/lib/python3"):
        if marker in path:
            return path.rsplit(marker, 1)[1]
    return path.rsplit("/work/", 1)[-1]


def _most_common(samples: list[Stack]) -> list[dict[str, Any]]:
    """The distinct stacks a stall was seen running, most often first (at most three), as ``file:line function``."""
    counts = Counter(samples)
    return [
        {"seen": seen, "stack": [f"{_short(code.co_filename)}:{line} {code.co_name}" for code, line in stack]}
        for stack, seen in counts.most_common(3)
    ]
