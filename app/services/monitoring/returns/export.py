"""Returns analytics, the export: `returns_analytics_csv` writes the figures one a row
(section, item, measure, value) with durations in hours, money in dollars and shares in
percent, every cell a spreadsheet would read as a formula defused.
"""

from __future__ import annotations

import csv
import io

from app.services.monitoring.returns.figures import ReturnsAnalytics, Timing
from app.services.spreadsheets import safe_cell


def returns_analytics_csv(result: ReturnsAnalytics) -> str:
    """The analytics as CSV, one figure a row (section, item, measure, value), ready to
    filter or pivot in a spreadsheet: durations in hours, money in dollars, shares in
    percent. Every cell that a spreadsheet would read as a formula is defused."""
    rows: list[tuple[str, str, str, object]] = [
        ("range", "first day", "date", result.start.date().isoformat()),
        ("range", "last day", "date", result.last_day.isoformat()),
        ("summary", "returns", "opened", result.opened),
        ("summary", "returns", "closed", result.closed),
    ]
    for day in result.days:
        rows += [("volume", day.day.isoformat(), "opened", day.opened)]
        rows += [("volume", day.day.isoformat(), "closed", day.closed)]
    for timing in (result.cycle, *result.outcomes):
        rows += _timing("cycle time", timing, "returns closed")
    for timing in result.stages:
        rows += _timing("time in state", timing, "visits ended")
    for team in result.teams:
        rows += [
            ("sla", team.team, "visits", team.visits),
            ("sla", team.team, "on time", team.on_time),
            ("sla", team.team, "compliance %", _number(team.compliance)),
            ("sla", team.team, "breached now", team.breached_now),
        ]
    rows += [("disposition", c.label, "returns", c.count) for c in result.dispositions]
    for product in result.products:
        item = f"{product.sku} {product.name}"
        rows += [
            ("top product", item, "category", product.category),
            ("top product", item, "units returned", product.units_returned),
            ("top product", item, "units sold", product.units_sold),
            ("top product", item, "return rate %", _number(product.rate)),
        ]
    for category in result.categories:
        name = category.category or "Uncategorised"
        rows += [("reason by category", name, reason, n) for reason, n in category.reasons.items()]
        rows += [("reason by category", name, "all reasons", category.returns)]
    for refund in result.card_refunds:
        rows += [("card refund", refund.label, "returns", refund.count)]
        rows += [("card refund", refund.label, "amount $", _dollars(refund.cents))]
    for credit in result.store_credit:
        rows += [("store credit", credit.label, "entries", credit.count)]
        rows += [("store credit", credit.label, "amount $", _dollars(credit.cents))]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "item", "measure", "value"])
    writer.writerows([safe_cell(str(cell)) for cell in row] for row in rows)
    return out.getvalue()


def _timing(section: str, timing: Timing, counted: str) -> list[tuple[str, str, str, object]]:
    hours = None if timing.average_seconds is None else timing.average_seconds / 3600
    return [
        (section, timing.label, counted, timing.count),
        (section, timing.label, "average hours", _number(hours)),
    ]


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}".rstrip("0").rstrip(".")


def _dollars(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"
