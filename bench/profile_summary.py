"""Read a py-spy raw profile (``bench/run.py --py-spy DIR`` writes one per phase) as shares of the busy samples.

    .venv/bin/python bench/profile_summary.py DIR/B5.txt            # by library, then the top frames
    .venv/bin/python bench/profile_summary.py DIR/B5.txt --top 40
    .venv/bin/python bench/profile_summary.py BEFORE/B4.txt AFTER/B4.txt   # two profiles side by side, by library

Samples of a thread waiting (the selector, aiosqlite's worker threads on their queue, a thread's ``wait``) are left
out: py-spy counts them as active, and they are no work. "By library" charges each sample to the package of its
innermost frame (``sqlalchemy``, ``asyncio``, ``addon`` for Callpay, ...): what spent the CPU, not who asked.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# Innermost frames that are a thread waiting, not working.
IDLE = (
    "select (selectors.py",
    "wait (threading.py",
    "get (queue.py",
    "_connection_worker_thread (aiosqlite",
    "run (aiosqlite",
)
_LINE = re.compile(r":\d+\)$")
_PATH = re.compile(r"\(([^()]*)\)$")  # py-spy writes "function (path/of/module.py:line)", paths from sys.path


@dataclass
class Profile:
    busy: int = 0
    by_library: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)
    own: Counter[str] = field(default_factory=Counter)


def library_of(frame: str) -> str:
    """``sqlalchemy`` for ``execute (sqlalchemy/orm/session.py)``, ``json`` for the stdlib's json package, the file
    for a stdlib module (``selectors.py``), ``addon`` for Callpay's own."""
    found = _PATH.search(frame)
    if found is None:
        return "?"
    path = found.group(1).removeprefix("/").split("site-packages/")[-1]
    return path.split("/", 1)[0] if "/" in path else path


def read(path: Path) -> Profile:
    profile = Profile()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_LINE.sub(")", frame) for frame in stack.split(";")]
        if frames[-1].startswith(IDLE):
            continue
        samples = int(count)
        profile.busy += samples
        profile.by_library[library_of(frames[-1])] += samples
        profile.own[frames[-1]] += samples
        for frame in set(frames):
            profile.inclusive[frame] += samples
    return profile


def share(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "  -  "


def show_one(profile: Profile, top: int) -> None:
    print(f"{profile.busy} busy samples\n\nby library (innermost frame)")
    for name, samples in profile.by_library.most_common(15):
        print(f"  {share(samples, profile.busy)}  {name}")
    print("\nframes, with what they call")
    for frame, samples in profile.inclusive.most_common(top):
        print(f"  {share(samples, profile.busy)}  {frame[:140]}")
    print("\nframes, their own time")
    for frame, samples in profile.own.most_common(top // 2):
        print(f"  {share(samples, profile.busy)}  {frame[:140]}")


def show_two(before: Profile, after: Profile) -> None:
    print(f"{'library':<20} {'before':>8} {'after':>8}   ({before.busy} / {after.busy} busy samples)")
    names = [name for name, _ in (before.by_library + after.by_library).most_common(15)]
    for name in names:
        was, now = share(before.by_library[name], before.busy), share(after.by_library[name], after.busy)
        print(f"{name:<20} {was:>8} {now:>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profiles", nargs="+", type=Path, help="one py-spy raw file, or two to compare")
    parser.add_argument("--top", type=int, default=30, help="how many frames to list")
    args = parser.parse_args()
    if len(args.profiles) == 1:
        show_one(read(args.profiles[0]), args.top)
    else:
        show_two(read(args.profiles[0]), read(args.profiles[1]))


if __name__ == "__main__":
    main()
