"""The four measured scenarios and the targets from the issue."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tests.bench.client import RequestSpec
from tests.bench.seed import Stage

CARD_APPROVED = "4242424242424242"


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    expect: tuple[int, ...]
    needs_orders: bool = False

    def variants(self, stage: Stage) -> list[RequestSpec]:
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
        raise ValueError(self.name)

    def tokens(self, stage: Stage) -> list[str]:
        return stage.customer_tokens if self.needs_orders else []


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("catalog_page", "catalog page  GET /products", (200,)),
        Scenario("catalog_api", "catalog API   GET /api/v1/products?per_page=24", (200,)),
        Scenario("product_page", "product page  GET /products/<id>", (200,)),
        Scenario("orders", "orders        POST /api/v1/orders", (201,), needs_orders=True),
    )
}


@dataclass(frozen=True)
class Target:
    """A goal for one (scenario, setup, clients) cell; `check` says met or why not."""

    scenario: str
    setups: tuple[str, ...]
    clients: int
    min_rps: float
    max_p99_ms: float
    zero_errors: bool
    text: str
    beat_embedded: bool = False

    def applies(self, scenario: str, setup: str, clients: int) -> bool:
        return scenario == self.scenario and setup in self.setups and clients == self.clients

    def check(self, result: dict[str, Any], embedded_rps: float | None) -> tuple[bool, str]:
        problems = []
        if result["ok_rps"] < self.min_rps:
            problems.append(f"{result['ok_rps']:.0f}/s < {self.min_rps:.0f}/s")
        if result["p99_ms"] > self.max_p99_ms:
            problems.append(f"p99 {result['p99_ms']:.1f} > {self.max_p99_ms:.0f} ms")
        if self.zero_errors and result["errors"]:
            problems.append(f"{result['errors']} errors")
        if self.beat_embedded and embedded_rps is not None and result["ok_rps"] <= embedded_rps:
            problems.append(f"not above embedded ({embedded_rps:.0f}/s)")
        return (not problems), ("; ".join(problems) if problems else "met")


TARGETS = (
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
)
