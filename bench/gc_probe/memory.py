"""Compare two tracemalloc snapshots of ``callpay serve`` (see sitecustomize.py here): what grew, per socket.

    .venv/bin/python bench/gc_probe/memory.py DIR/snap-1.pickle DIR/snap-2.pickle --per 1000 [--frames 6] [--top 40]

Grouped by the innermost frames of the allocation's traceback (``--frames``), largest growth first, in bytes per
``--per`` (the sockets opened between the two); then the same by file alone, which is the coarser breakdown.
"""

import argparse
import tracemalloc


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--per", type=int, default=1, help="divide by this many (the sockets opened in between)")
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--skip", default="tracemalloc", help="drop allocations with a frame in a file with this")
    args = parser.parse_args()
    before = tracemalloc.Snapshot.load(args.before)
    after = tracemalloc.Snapshot.load(args.after)
    drop = [tracemalloc.Filter(False, f"*{args.skip}*")]
    before, after = before.filter_traces(drop), after.filter_traces(drop)
    total = sum(s.size for s in after.statistics("filename")) - sum(s.size for s in before.statistics("filename"))
    print(f"traced Python memory grew {total / 1024 / 1024:.1f} MB: {total / args.per:.0f} bytes per socket")
    print("\n== by file")
    for stat in after.compare_to(before, "filename")[: args.top]:
        if stat.size_diff <= 0:
            continue
        frame = stat.traceback[0]
        print(f"{stat.size_diff / args.per:8.0f} B {stat.count_diff / args.per:6.1f} blocks  {frame.filename}")
    print(f"\n== by traceback (innermost {args.frames} frames)")
    grouped: dict[tuple[str, ...], list[int]] = {}
    for stat in after.compare_to(before, "traceback"):
        key = tuple(f"{f.filename.rsplit('site-packages/', 1)[-1]}:{f.lineno}" for f in stat.traceback[-args.frames :])
        entry = grouped.setdefault(key, [0, 0])
        entry[0] += stat.size_diff
        entry[1] += stat.count_diff
    for key, (size, count) in sorted(grouped.items(), key=lambda item: -item[1][0])[: args.top]:
        print(f"{size / args.per:8.0f} B {count / args.per:6.1f} blocks")
        for line in reversed(key):
            print(f"      {line}")


if __name__ == "__main__":
    main()
