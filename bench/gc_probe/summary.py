"""Summarise a GC_PROBE file (see sitecustomize.py here): per generation and trigger, collections, CPU, objects."""

import json
import sys


def main(path: str) -> None:
    with open(path) as lines:
        records = [json.loads(line) for line in lines]
    tuned = next(i for i, r in enumerate(records) if r["by"].startswith("collector_clock"))
    records = records[tuned:]
    for generation in (0, 1, 2):
        for clock in (True, False):
            chosen = [r for r in records if r["g"] == generation and (r["by"].startswith("collector_clock")) == clock]
            if not chosen:
                continue
            cpu = [r["cpu"] for r in chosen]
            walked = [r["n0"] + r.get("n1", 0) for r in chosen]
            print(
                f"gen{generation} by {'the clock' if clock else 'the count'}: {len(chosen)} collections, CPU mean"
                f" {sum(cpu) / len(cpu):.1f} ms, longest {max(cpu):.1f} ms, {sum(c >= 20 for c in cpu)} of 20 ms or"
                f" more; objects walked mean {sum(walked) / len(walked):.0f}, most {max(walked)}; freed mean"
                f" {sum(r['collected'] or 0 for r in chosen) / len(chosen):.0f}"
            )
    for record in [r for r in records if "hist1" in r][-1:]:
        print(f"last middle histogram ({record['n1']} objects in the middle generation):")
        for name, count in record["hist1"][:25]:
            print(f"  {count:7d} {name}")


if __name__ == "__main__":
    main(sys.argv[1])
