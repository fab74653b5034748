"""Hostile values for the fuzz tests: text with what breaks parsers and databases (lone surrogates, NUL, bidi
overrides, control characters, very long runs), JSON of any shape, numbers at every edge."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

NASTY_CHARS = ["\x00", "\ud800", "\udfff", "\u202e", "\u2066", "\x07", "\x1b", "\ufeff", "\u0301", "\U0001f4a9"]
alphabet = st.one_of(st.characters(), st.sampled_from(NASTY_CHARS))
nasty_text = st.one_of(
    st.text(alphabet, max_size=40),
    st.sampled_from(["", " ", "null", "0", "-1", "NaN", "1e309", "%00", "../../etc/passwd", "<script>", "'; --"]),
    st.integers(100, 5000).map(lambda n: "x" * n),
)
numbers = st.one_of(
    st.integers(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**31 - 1, 2**53, 2**63, 2**64, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
scalars = st.one_of(st.none(), numbers, nasty_text)
json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(nasty_text, inner, max_size=4)),
    max_leaves=12,
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The value, or any other JSON in its place, or nothing (the key left out)."""
    return st.one_of(strategy, strategy, json_values, st.just(MISSING))


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def shaped(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """An object with these keys (each maybe wrong, maybe missing) and sometimes one it shouldn't have."""

    def build(values: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in values.items() if v is not MISSING}
        out.update(extra)
        return out

    return st.builds(
        build,
        st.fixed_dictionaries({name: maybe(strategy) for name, strategy in fields.items()}),
        st.dictionaries(nasty_text, json_values, max_size=1),
    )


def deep(depth: int, opener: str = "[") -> str:
    """JSON nested ``depth`` levels: arrays, or objects ``{"a":{"a":…}}``."""
    if opener == "{":
        return '{"a":' * depth + "1" + "}" * depth
    return "[" * depth + "]" * depth


def dumps(value: Any) -> bytes:
    """JSON as a hostile client sends it: NaN and Infinity as Python writes them, surrogates escaped."""
    return json.dumps(value, allow_nan=True).encode()
