"""Reading Prometheus's text format in tests."""

from __future__ import annotations

import re


def value(text: str, name: str, **labels: str) -> float:
    """One sample's value from Prometheus's text format (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, _, number = line.rpartition(" ")
        found = dict(re.findall(r'(\w+)="([^"]*)"', series))
        if series.split("{")[0] == name and all(found.get(k) == v for k, v in labels.items()):
            return float(number)
    return 0.0
