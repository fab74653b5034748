"""WCAG 2.2 AA checks for pages under test, with axe-core (vendored in tests/vendor/axe-core)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE = (Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js").read_text()
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


async def accessibility_violations(page: Any, *, include: str | None = None) -> list[dict[str, Any]]:
    """axe-core's violations for the page as it stands (or one part of it), one entry per rule broken."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol, which the page's Content-Security-Policy doesn't govern: the
        # pages are checked under the same strict CSP they ship with.
        await page.evaluate(AXE)
    context = include or "document"
    result: dict[str, Any] = await page.evaluate(
        """async ([context, tags]) => {
            const target = context === "document" ? document : document.querySelector(context);
            return await axe.run(target, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] });
        }""",
        [context, TAGS],
    )
    violations: list[dict[str, Any]] = result["violations"]
    return violations


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        targets = ", ".join(str(node["target"]) for node in violation["nodes"][:3])
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} — {targets}")
    return "\n".join(lines)


async def assert_accessible(page: Any, *, include: str | None = None) -> None:
    violations = await accessibility_violations(page, include=include)
    assert not violations, "accessibility problems:\n" + describe(violations)
