"""axe-core in a Playwright page: the serious and critical violations of what is on screen.

The script is handed to the page through the DevTools protocol (`page.evaluate`), which the
page's Content-Security-Policy does not govern, so pages are scanned exactly as served."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

AXE = Path(__file__).with_name("vendor") / "axe.min.js"
SEVERE = ("serious", "critical")
# WCAG 2.0-2.2 A and AA, and axe's best practices (landmarks, headings, regions).
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]

RUN = """async (tags) => {
  const options = {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']};
  const result = await axe.run(document, options);
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary}))
  }));
}"""


@cache
def source() -> str:
    return AXE.read_text(encoding="utf-8")


def violations(page: Any) -> list[dict[str, Any]]:
    """Every serious or critical violation on the page as it stands."""
    if not page.evaluate("() => typeof axe !== 'undefined'"):
        page.evaluate(source())
    found = page.evaluate(RUN, TAGS)
    return [v for v in found if v["impact"] in SEVERE]


def describe(where: str, found: list[dict[str, Any]]) -> list[str]:
    """One line per violation and element, readable in a failed assertion."""
    lines = []
    for v in found:
        for node in v["nodes"][:5]:
            summary = " ".join(str(node["summary"]).split())[:300]
            what = f"{v['impact']} {v['id']} ({v['help']})"
            lines.append(f"{where}: {what} at {node['target']}: {summary}")
    return lines
