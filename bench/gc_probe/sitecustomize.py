"""Diagnostic only, never on in production: what each garbage collection in ``callpay serve`` walks.

Put this folder on the server's PYTHONPATH and name a file in GC_PROBE (bench/sockets.py passes both through):

    PYTHONPATH=bench/gc_probe GC_PROBE=/tmp/gc.jsonl .venv/bin/python bench/sockets.py --sockets 3000 --hold 60
    .venv/bin/python bench/gc_probe/summary.py /tmp/gc.jsonl

At the start of every collection it records the objects in the young and middle generations (and every
GC_PROBE_HIST-th middle collection, a type histogram of them), who asked for it (``collector_clock`` or CPython's
own count), then the collection's own CPU time and what it freed, one JSON line per collection. Its walks happen
before the collector's own clock starts, so the figures are the collection's; they do add to the loop's stalls.
"""

import collections
import gc
import json
import os
import sys
import time
from typing import Any

_PATH = os.environ.get("GC_PROBE") if "serve" in sys.argv else None


def _name(obj: Any) -> str:
    kind = type(obj)
    name = kind.__qualname__
    try:
        if name == "Task":
            name += ":" + getattr(obj.get_coro(), "__qualname__", "?")
        elif name in ("coroutine", "function"):
            name += ":" + obj.__qualname__
    except Exception:
        pass
    module = getattr(kind, "__module__", "")
    return name if module == "builtins" else f"{module}.{name}"


if _PATH:
    _out = open(_PATH, "a", buffering=1)  # noqa: SIM115 - open for the process's life
    _every = int(os.environ.get("GC_PROBE_HIST", "8"))
    _state: dict[str, Any] = {"middle": 0, "record": {}, "wall": 0.0, "cpu": 0.0}

    def _probe(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            try:
                caller = sys._getframe(1).f_code.co_name
            except ValueError:
                caller = "?"
            record: dict[str, Any] = {"g": info["generation"], "by": caller, "t": round(time.time(), 3)}
            record["n0"] = len(gc.get_objects(0))
            if info["generation"] >= 1:
                middle = gc.get_objects(1)
                record["n1"] = len(middle)
                _state["middle"] += 1
                if _state["middle"] % _every == 1:
                    record["hist1"] = collections.Counter(_name(o) for o in middle).most_common(40)
                del middle
            _state["record"] = record
            _state["wall"], _state["cpu"] = time.perf_counter(), time.thread_time()
            return
        record = _state["record"]
        record["cpu"] = round((time.thread_time() - _state["cpu"]) * 1000, 2)
        record["wall"] = round((time.perf_counter() - _state["wall"]) * 1000, 2)
        record["collected"] = info.get("collected")
        _out.write(json.dumps(record) + "\n")

    gc.callbacks.insert(0, _probe)  # first, so its walks end before the server's own callback starts its clock


# What the server's Python objects hold, by where they were allocated: MEM_PROBE names a folder, and each SIGRTMIN
# the bench sends (bench/sockets.py --memory-probe) starts tracemalloc (the first) or writes a snapshot
# (snap-1.pickle, snap-2.pickle, ...); bench/gc_probe/memory.py compares two.
_MEM = os.environ.get("MEM_PROBE") if "serve" in sys.argv else None
if _MEM:
    import signal
    import tracemalloc

    _snaps = {"n": 0}

    def _snapshot(_signum: int, _frame: Any) -> None:
        if not tracemalloc.is_tracing():
            tracemalloc.start(int(os.environ.get("MEM_PROBE_FRAMES", "30")))
            return
        _snaps["n"] += 1
        gc.collect(0)
        path = os.path.join(_MEM, f"snap-{_snaps['n']}.pickle")
        tracemalloc.take_snapshot().dump(path + ".part")
        os.replace(path + ".part", path)  # whole, or not there yet

    signal.signal(signal.SIGRTMIN, _snapshot)
