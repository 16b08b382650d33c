"""The measured scenarios and the targets from the issues (catalog and orders; returns;
the flash-sale stampede; partner feed imports)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tests.bench.client import RequestSpec
from tests.bench.seed import QUEUE_PATH, Stage

CARD_APPROVED = "4242424242424242"
APPROVE = json.dumps({"trigger": "approve"})


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    expect: tuple[int, ...]
    needs_orders: bool = False
    needs_returns: bool = False
    # Each request acts on something it uses up (approving a return): sent once per run,
    # on ids the runner hands out so that no two runs share one.
    unique: bool = False
    # Not a request mix: a flash-sale stampede (tests/bench/stampede.py), once per run with
    # its own clients (--stampede-clients), whatever --clients says.
    stampede: bool = False
    # Not a request mix either: partner feed imports through the scheduler, with catalog_page
    # load alongside (tests/bench/feeds.py), once per run.
    feed: bool = False
    # Measured at these client counts whatever --clients says (the dashboard: a handful of
    # operators' pages refreshing at once).
    clients: tuple[int, ...] = ()
    # A day of traffic, job runs and log lines seeded into the monitoring store first.
    needs_monitoring: bool = False

    def variants(self, stage: Stage, batch: list[int] | None = None) -> list[RequestSpec]:
        """The requests to send; `batch` is the unique scenario's ids for this run."""
        if self.name == "catalog_page":
            return [{"method": "GET", "path": "/products"}]
        if self.name == "catalog_api":
            return [{"method": "GET", "path": "/api/v1/products?per_page=24"}]
        if self.name == "product_page":
            return [{"method": "GET", "path": f"/products/{pid}"} for pid in stage.product_ids]
        if self.name == "orders":
            return [
                {
                    "method": "POST",
                    "path": "/api/v1/orders",
                    "body": json.dumps(
                        {
                            "lines": [{"product_id": pid, "quantity": 1}],
                            "payment": {"card_number": CARD_APPROVED},
                        }
                    ),
                }
                for pid in stage.order_product_ids
            ]
        if self.name in ("queue_page", "queue_partial"):
            return [{"method": "GET", "path": QUEUE_PATH}]
        if self.name == "dashboard":
            return [{"method": "GET", "path": "/monitoring/dashboard"}]
        if self.name == "transitions":
            return [
                {"method": "POST", "path": f"/api/v1/returns/{rid}/transitions", "body": APPROVE}
                for rid in batch or []
            ]
        raise ValueError(self.name)

    def tokens(self, stage: Stage) -> list[str]:
        if self.name == "transitions":
            return [stage.support_token]
        return stage.customer_tokens if self.needs_orders else []

    def headers(self, stage: Stage) -> dict[str, str]:
        if self.name == "queue_page":
            return {"Cookie": stage.support_cookie}
        if self.name in ("queue_partial", "dashboard"):
            return {"Cookie": stage.support_cookie, "HX-Request": "true"}
        return {}


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("catalog_page", "catalog page  GET /products", (200,)),
        Scenario("catalog_api", "catalog API   GET /api/v1/products?per_page=24", (200,)),
        Scenario("product_page", "product page  GET /products/<id>", (200,)),
        Scenario(
            "queue_page",
            "team queue page  GET /staff/queues/support (support's browser session)",
            (200,),
            needs_returns=True,
        ),
        Scenario(
            "queue_partial",
            "team queue htmx partial  GET /staff/queues/support, HX-Request: true",
            (200,),
            needs_returns=True,
        ),
        Scenario(
            "dashboard",
            "monitoring dashboard refresh  GET /monitoring/dashboard, HX-Request: true "
            "(support's session; 10,000 open returns, a day of traffic and 20,000 log lines)",
            (200,),
            needs_returns=True,
            clients=(1, 5),
            needs_monitoring=True,
        ),
        Scenario("orders", "orders        POST /api/v1/orders", (201,), needs_orders=True),
        # Last: it empties the support queue the queue scenarios read.
        Scenario(
            "transitions",
            'transitions  POST /api/v1/returns/<id>/transitions {"trigger": "approve"}',
            (200,),
            needs_returns=True,
            unique=True,
        ),
        # After everything else: its sales are created when it runs, so no other scenario
        # sees a sale price in the catalog.
        Scenario(
            "flash_stampede",
            "flash-sale stampede  POST /api/v1/flash-sales/<id>/reservations, then "
            "POST /api/v1/reservations/<id>/checkout, until sold out",
            (201, 409),
            stampede=True,
        ),
        # Last: each run adds 200,000 partner products to the catalog the others read.
        Scenario(
            "feed_import",
            "feed import  POST /api/v1/feeds (100,000-row standard CSV), polled until done; "
            "catalog_page @20 clients while one runs",
            (200,),
            feed=True,
        ),
    )
}


@dataclass(frozen=True)
class Target:
    """A goal for one (scenario, setup, clients) cell; `check` says met or why not."""

    scenario: str
    setups: tuple[str, ...]
    clients: int
    min_rps: float
    max_p99_ms: float | None
    zero_errors: bool
    text: str
    beat_embedded: bool = False
    max_p95_ms: float | None = None

    def applies(self, scenario: str, setup: str, clients: int) -> bool:
        return scenario == self.scenario and setup in self.setups and clients == self.clients

    def check(self, result: dict[str, Any], embedded_rps: float | None) -> tuple[bool, str]:
        problems = []
        if result["ok_rps"] < self.min_rps:
            problems.append(f"{result['ok_rps']:.0f}/s < {self.min_rps:.0f}/s")
        if self.max_p95_ms is not None and result["p95_ms"] > self.max_p95_ms:
            problems.append(f"p95 {result['p95_ms']:.1f} > {self.max_p95_ms:.0f} ms")
        if self.max_p99_ms is not None and result["p99_ms"] > self.max_p99_ms:
            problems.append(f"p99 {result['p99_ms']:.1f} > {self.max_p99_ms:.0f} ms")
        if result.get("exhausted") and not result["requests"]:
            problems.append("nothing measured: the run's returns ran out in the warm-up")
        if self.zero_errors and result["errors"]:
            problems.append(f"{result['errors']} errors")
        if self.beat_embedded and embedded_rps is not None and result["ok_rps"] <= embedded_rps:
            problems.append(f"not above embedded ({embedded_rps:.0f}/s)")
        return (not problems), ("; ".join(problems) if problems else "met")


@dataclass(frozen=True)
class StampedeTarget:
    """A goal for the flash-sale stampede row (see tests/bench/flash_run.py)."""

    setups: tuple[str, ...]
    clients: int
    quantity: int
    min_holds_rps: float
    min_paid_rps: float
    max_p99_ms: float | None
    text: str
    scenario: str = "flash_stampede"

    def applies(self, scenario: str, setup: str, clients: int) -> bool:
        return scenario == self.scenario and setup in self.setups and clients == self.clients

    def check(self, result: dict[str, Any], embedded_rps: float | None) -> tuple[bool, str]:
        problems = []
        if result.get("quantity") != self.quantity:
            problems.append(f"a {result.get('quantity')}-unit sale, not {self.quantity}")
        if result["holds_rps"] < self.min_holds_rps:
            problems.append(f"{result['holds_rps']:.0f} holds/s < {self.min_holds_rps:.0f}/s")
        if result["paid_rps"] < self.min_paid_rps:
            problems.append(f"{result['paid_rps']:.0f} paid/s < {self.min_paid_rps:.0f}/s")
        if self.max_p99_ms is not None and result["p99_ms"] > self.max_p99_ms:
            problems.append(f"p99 {result['p99_ms']:.1f} > {self.max_p99_ms:.0f} ms")
        if result["five_xx"]:
            problems.append(f"{result['five_xx']} 5xx")
        if result["oversell"]:
            problems.append(f"oversold/inconsistent in {len(result['oversell'])} check(s)")
        if result["not_sold_out"]:
            problems.append(f"not sold out ({', '.join(result['not_sold_out'])})")
        return (not problems), ("; ".join(problems) if problems else "met")


@dataclass(frozen=True)
class FeedTarget:
    """The goals of issue 12 for the feed_import row (see tests/bench/feeds.py)."""

    setups: tuple[str, ...]
    clients: int
    rows: int
    max_import_s: float
    max_worker_mb: float
    max_reimport_s: float
    min_catalog_percent: float
    max_catalog_p99_ms: float
    text: str
    scenario: str = "feed_import"

    def applies(self, scenario: str, setup: str, clients: int) -> bool:
        return scenario == self.scenario and setup in self.setups and clients == self.clients

    def figures(self, row: dict[str, Any]) -> list[tuple[str, Any, str, bool]]:
        """(figure, value, target, met) for each goal; a missing value misses its goal."""

        def at_most(value: Any, limit: float) -> bool:
            return value is not None and value <= limit

        ratio, p99 = row.get("catalog_ratio_percent"), row.get("catalog_p99_ms")
        return [
            ("rows in the feed", row.get("rows"), f"= {self.rows:,}", row.get("rows") == self.rows),
            (
                "first import (s)",
                row.get("import_s"),
                f"<= {self.max_import_s:g}",
                at_most(row.get("import_s"), self.max_import_s),
            ),
            (
                "worker peak RSS (MB)",
                row.get("worker_peak_mb"),
                f"<= {self.max_worker_mb:g}",
                at_most(row.get("worker_peak_mb"), self.max_worker_mb),
            ),
            (
                "re-import unchanged (s)",
                row.get("reimport_s"),
                f"<= {self.max_reimport_s:g}",
                at_most(row.get("reimport_s"), self.max_reimport_s),
            ),
            (
                "re-import: rows unchanged",
                row.get("unchanged"),
                f"= {self.rows:,}",
                row.get("unchanged") == self.rows,
            ),
            (
                "catalog during import (% of alone)",
                ratio,
                f">= {self.min_catalog_percent:g}",
                ratio is not None and ratio >= self.min_catalog_percent,
            ),
            (
                "catalog p99 during import (ms)",
                p99,
                f"<= {self.max_catalog_p99_ms:g}",
                at_most(p99, self.max_catalog_p99_ms),
            ),
        ]

    def check(self, result: dict[str, Any], embedded_rps: float | None) -> tuple[bool, str]:
        problems = [
            f"{name} {value} (target {goal})"
            for name, value, goal, met in self.figures(result)
            if not met
        ]
        return (not problems), ("; ".join(problems) if problems else "met")


TARGETS: tuple[Target | StampedeTarget | FeedTarget, ...] = (
    Target(
        "dashboard",
        ("embedded", "scaled"),
        5,
        0,
        None,
        True,
        "dashboard refresh @5 clients (10,000 open returns, a day of traffic): p95 <= 50 ms",
        max_p95_ms=50,
    ),
    Target(
        "catalog_page",
        ("embedded",),
        20,
        1500,
        50,
        False,
        "catalog page @20 clients, embedded: >= 1500 req/s, p99 <= 50 ms",
    ),
    Target(
        "catalog_page",
        ("scaled",),
        20,
        1500,
        50,
        False,
        "catalog page @20 clients, scaled: more than embedded (and >= 1500 req/s, p99 <= 50 ms)",
        beat_embedded=True,
    ),
    Target(
        "orders",
        ("embedded", "scaled"),
        50,
        300,
        250,
        True,
        "order placement @50 clients: >= 300 orders/s, p99 <= 250 ms, zero errors",
    ),
    Target(
        "queue_page",
        ("embedded", "scaled"),
        20,
        min_rps=0,
        max_p99_ms=None,
        zero_errors=True,
        max_p95_ms=50,
        text="team queue page @20 clients, 10,000 open returns (--returns): "
        "p95 <= 50 ms, zero errors",
    ),
    Target(
        "queue_partial",
        ("embedded", "scaled"),
        20,
        min_rps=0,
        max_p99_ms=None,
        zero_errors=True,
        max_p95_ms=50,
        text="team queue htmx partial @20 clients, 10,000 open returns (--returns): "
        "p95 <= 50 ms, zero errors",
    ),
    Target(
        "transitions",
        ("embedded", "scaled"),
        20,
        min_rps=200,
        max_p99_ms=None,
        zero_errors=True,
        text="return transitions (approve) @20 clients: >= 200 transitions/s, zero errors",
    ),
    StampedeTarget(
        ("embedded",),
        200,
        1000,
        min_holds_rps=500,
        min_paid_rps=200,
        max_p99_ms=300,
        text="flash-sale stampede, 200 clients, 1,000-unit sale, embedded: >= 500 holds/s, "
        ">= 200 paid orders/s, p99 <= 300 ms, zero 5xx, zero oversell, sold out",
    ),
    StampedeTarget(
        ("scaled",),
        200,
        1000,
        min_holds_rps=0,
        min_paid_rps=0,
        max_p99_ms=None,
        text="flash-sale stampede, scaled (figures reported; the speed target is the "
        "embedded one): zero 5xx, zero oversell, sold out",
    ),
    FeedTarget(
        ("embedded", "scaled"),
        20,
        rows=100_000,
        max_import_s=15,
        max_worker_mb=250,
        max_reimport_s=5,
        min_catalog_percent=80,
        max_catalog_p99_ms=50,
        text="feed import, 100,000-row standard CSV: first import <= 15 s (started_at to "
        "finished_at), worker peak RSS <= 250 MB, unchanged re-import <= 5 s (all 100,000 "
        "unchanged), catalog_page @20 during an import >= 80% of its req/s alone, p99 <= 50 ms",
    ),
)
