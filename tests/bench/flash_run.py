"""The flash-sale stampede, orchestrated: a fresh sale per run, the stampede in its own
process, then the oversell check against what the server reports.

Per run: the product's stock is read (GET /api/v1/products/<id>), a sale of `units` units
of it at 70% of its price, one per customer, active from a second ago for an hour, is
created with POST /api/v1/flash-sales (admin); the stampede client (tests/bench/stampede.py)
runs until every slot has been told sold_out; then GET /api/v1/flash-sales/<id> and the
product again. The run is clean ("oversell: none") when

* sold <= quantity and sold + reserved <= quantity (and available is what is left),
* sold equals both the 201 checkouts and the units on the paid orders the clients got,
* 201 reservations (one unit each) <= quantity, no hold or order id was handed out twice,
  every paid order was charged the sale price,
* the product's stock went down by exactly the sale's quantity when the sale was created
  and did not move during the stampede (the allocation was set aside up front), never < 0.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.bench import cpu
from tests.bench.seed import SeedError, call
from tests.bench.server import HOST, ROOT, Server
from tests.bench.stampede import StampedeSpec

QUANTITY_PER_CUSTOMER = 1
SALE_DISCOUNT = 0.7


def accounts_per_run(units: int, clients: int) -> int:
    """Customers one run may use: one per unit sold, one sold_out answer per slot, a margin
    for customers whose call fails."""
    needed = -(-units // QUANTITY_PER_CUSTOMER) + clients
    return needed + max(50, needed // 10)


def _product(port: int, product_id: int) -> dict[str, Any]:
    status, data, _ = call(port, "GET", f"/api/v1/products/{product_id}")
    if status != 200 or not isinstance(data, dict):
        raise SeedError(f"GET /api/v1/products/{product_id}: {status} {data}")
    return data


def create_sale(port: int, admin_token: str, product_id: int, units: int) -> dict[str, Any]:
    """A sale of `units` units of the product, active now; returns the sale and the stock."""
    product = _product(port, product_id)
    stock_before = int(product["stock"])
    price = max(1, int(int(product["price_cents"]) * SALE_DISCOUNT))
    now = datetime.now(UTC)
    body = {
        "name": f"Bench stampede {now:%H:%M:%S}",
        "starts_at": (now - timedelta(seconds=1)).isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(),
        "items": [
            {
                "product_id": product_id,
                "sale_price_cents": price,
                "quantity": units,
                "per_customer_limit": QUANTITY_PER_CUSTOMER,
            }
        ],
    }
    status, sale, _ = call(port, "POST", "/api/v1/flash-sales", body, token=admin_token)
    if status != 201 or not isinstance(sale, dict):
        raise SeedError(f"POST /api/v1/flash-sales: {status} {sale}")
    if sale.get("state") != "active":
        raise SeedError(f"the new sale is {sale.get('state')!r}, not active: {sale}")
    stock_after = int(_product(port, product_id)["stock"])
    return {
        "sale_id": int(sale["id"]),
        "product_id": product_id,
        "quantity": units,
        "sale_price_cents": price,
        "regular_price_cents": int(product["price_cents"]),
        "stock_before_sale": stock_before,
        "stock_after_sale": stock_after,
    }


def run_stampede(
    server: Server, sale: dict[str, Any], tokens: list[str], clients: int
) -> dict[str, Any]:
    """Spawn the stampede client, wait for its JSON result; the server's CPU alongside."""
    spec: StampedeSpec = {
        "host": HOST,
        "port": server.port,
        "clients": clients,
        "sale_id": sale["sale_id"],
        "product_id": sale["product_id"],
        "quantity": QUANTITY_PER_CUSTOMER,
        "sale_price_cents": sale["sale_price_cents"],
        "tokens": tokens,
    }
    pgids = {proc.pid for proc in server.procs.values()}
    with tempfile.TemporaryFile() as handle:
        handle.write(json.dumps(spec).encode())
        handle.seek(0)
        before = cpu.sample(pgids)
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.stampede"],
            cwd=ROOT,
            stdin=handle,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    try:
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    after = cpu.sample(pgids)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(f"stampede client failed ({proc.returncode}): {err.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(out)
    # Over the client's whole life (~0.2 s of start-up included: the burst itself is short).
    result.update(cpu.usage(before, after, wall))
    return result


def verify(port: int, sale: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """What the server reports after the stampede, and every way it could be oversold."""
    status, data, _ = call(port, "GET", f"/api/v1/flash-sales/{sale['sale_id']}")
    if status != 200 or not isinstance(data, dict):
        raise SeedError(f"GET /api/v1/flash-sales/{sale['sale_id']}: {status} {data}")
    (item,) = [i for i in data["items"] if int(i["product_id"]) == sale["product_id"]]
    quantity, sold = int(item["quantity"]), int(item["sold"])
    reserved, available = int(item["reserved"]), int(item["available"])
    stock = int(_product(port, sale["product_id"])["stock"])
    problems: list[str] = []
    if sold > quantity:
        problems.append(f"sold {sold} > quantity {quantity}")
    if sold + reserved > quantity:
        problems.append(f"sold {sold} + reserved {reserved} > quantity {quantity}")
    if available != quantity - sold - reserved:
        problems.append(f"available {available} != {quantity} - {sold} - {reserved}")
    if sold != result["paid"]:
        problems.append(f"sold {sold} != {result['paid']} checkouts answered 201")
    if sold != result["units_paid"]:
        problems.append(f"sold {sold} != {result['units_paid']} units on the paid orders")
    if result["holds"] * QUANTITY_PER_CUSTOMER > quantity:
        problems.append(f"{result['holds']} holds granted for {quantity} units")
    for key in ("duplicate_hold_ids", "duplicate_order_ids", "wrong_price_orders"):
        if result[key]:
            problems.append(f"{key.replace('_', ' ')}: {result[key]}")
    expected_stock = sale["stock_before_sale"] - quantity
    if sale["stock_after_sale"] != expected_stock or stock != expected_stock or stock < 0:
        problems.append(
            f"stock {sale['stock_before_sale']} before the sale, "
            f"{sale['stock_after_sale']} after creating it, {stock} after the stampede "
            f"(expected {expected_stock} throughout)"
        )
    return {
        "sale_id": sale["sale_id"],
        "state": data.get("state"),
        "quantity": quantity,
        "sold": sold,
        "reserved": reserved,
        "available": available,
        "stock": stock,
        "sold_out": sold == quantity,
        "oversell": problems,
    }


def stampede_once(
    server: Server, admin_token: str, product_id: int, units: int, tokens: list[str], clients: int
) -> dict[str, Any]:
    sale = create_sale(server.port, admin_token, product_id, units)
    result = run_stampede(server, sale, tokens, clients)
    result["sale"] = sale
    result["check"] = verify(server.port, sale, result)
    result["quantity"] = units
    return result


def oversell_text(check: dict[str, Any]) -> str:
    if check["oversell"]:
        return "OVERSOLD/INCONSISTENT: " + "; ".join(check["oversell"])
    return (
        f"oversell: none (sold {check['sold']}/{check['quantity']}, reserved "
        f"{check['reserved']}, stock {check['stock']})"
    )


def run_line(result: dict[str, Any]) -> str:
    check = result["check"]
    sold_out = result.get("sold_out_after_s")
    return (
        f"{result['holds']} holds {result['holds_rps']:.0f}/s, {result['paid']} paid "
        f"{result['paid_rps']:.0f}/s"
        + (f", sold out at {sold_out:.2f}s" if sold_out is not None else ", never sold out")
        + f"; {result['requests']} req {result['errors']} err ({result['five_xx']} 5xx); "
        f"p50 {result['p50_ms']:.1f} p95 {result['p95_ms']:.1f} p99 {result['p99_ms']:.1f} ms; "
        + oversell_text(check)
    )


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row from repeated runs: medians of rates and latencies, sums of counts, and every
    run's oversell problems."""
    row: dict[str, Any] = {}
    for key in (
        "holds_rps",
        "paid_rps",
        "ok_rps",
        "rps",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "max_ms",
        "mean_ms",
        "client_cpu_percent",
        "window_seconds",
        "server_cores",
        "machine_cores",
    ):
        if all(key in r for r in runs):
            row[key] = round(statistics.median(float(r[key]) for r in runs), 2)
    for key in ("requests", "ok", "errors", "five_xx", "holds", "paid"):
        row[key] = sum(int(r[key]) for r in runs)
    for key in ("error_breakdown", "statuses"):
        total: Counter[str] = Counter()
        for r in runs:
            total.update(r[key])
        row[key] = dict(sorted(total.items()))
    for kind in ("reserve", "checkout"):
        row[kind] = {
            k: round(statistics.median(float(r[kind][k]) for r in runs), 2)
            for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")
        }
    sold_out = [r["sold_out_after_s"] for r in runs if r.get("sold_out_after_s") is not None]
    row["sold_out_after_s"] = round(statistics.median(sold_out), 3) if sold_out else None
    row["oversell"] = [
        f"run {n}: {p}" for n, r in enumerate(runs, start=1) for p in r["check"]["oversell"]
    ]
    row["not_sold_out"] = [
        f"run {n}: sold {r['check']['sold']} of {r['check']['quantity']}"
        for n, r in enumerate(runs, start=1)
        if not r["check"]["sold_out"]
    ]
    row["quantity"] = runs[0]["quantity"]
    row["clients"] = runs[0]["clients"]
    return row


def summary_lines(row: dict[str, Any]) -> list[str]:
    """The stampede's own figures under the results table."""
    n = len(row.get("runs", [])) or 1
    median = " (medians)" if n > 1 else ""
    statuses = ", ".join(f"{k} x{v}" for k, v in row["statuses"].items())
    sold_out = row.get("sold_out_after_s")
    lines = [
        f"  {row['setup']}: {row['clients']} clients, {row['quantity']:,}-unit sale, {n} run(s)"
        f"{median}: {row['holds_rps']:.0f} holds/s, {row['paid_rps']:.0f} paid orders/s"
        + (f", sold out after {sold_out:.2f}s" if sold_out is not None else ""),
        f"    latency ms (write to last byte), all requests p50 {row['p50_ms']:.1f} "
        f"p95 {row['p95_ms']:.1f} p99 {row['p99_ms']:.1f} max {row['max_ms']:.1f}; "
        + "; ".join(
            f"{kind} p50 {row[kind]['p50_ms']:.1f} p99 {row[kind]['p99_ms']:.1f}"
            for kind in ("reserve", "checkout")
        ),
        f"    statuses (all runs): {statuses}; 5xx: {row['five_xx']}",
    ]
    if row["oversell"]:
        lines.append("    OVERSOLD/INCONSISTENT: " + "; ".join(row["oversell"]))
    else:
        lines.append(
            "    oversell: none (every run: sold <= quantity, sold + reserved <= quantity, "
            "sold == 201 checkouts, stock moved only by the allocation)"
        )
    if row["not_sold_out"]:
        lines.append("    not sold out: " + "; ".join(row["not_sold_out"]))
    return lines
