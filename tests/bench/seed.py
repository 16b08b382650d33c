"""Set the stage over the public API before measuring: admin token, stock, customers, tokens.

Only CONTRACT §3 calls are used, so this works the same against every setup. Tokens are
obtained once, up front; the measured order scenario never logs in.
"""

from __future__ import annotations

import http.client
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from tests.bench.server import HOST

ADMIN = ("admin", "admin-demo-2026")
CUSTOMER_PASSWORD = "bench-customer-2026"
ORDER_STOCK = 1_000_000


class SeedError(RuntimeError):
    pass


@dataclass
class Stage:
    """What the scenarios need: product ids, a pool of customer tokens, notes for the report."""

    product_ids: list[int]
    order_product_ids: list[int] = field(default_factory=list)
    customer_tokens: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def call(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
    timeout: float = 30.0,
) -> tuple[int, Any, dict[str, str]]:
    """One JSON API call; returns (status, decoded body or None, headers)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    headers = {"Accept": "application/json"}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        return response.status, data, {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


def token_for(port: int, username: str, password: str, *, max_wait: float = 130.0) -> str:
    """POST /auth/token, waiting out 429s (the endpoint is rate-limited per address)."""
    deadline = time.monotonic() + max_wait
    while True:
        status, data, headers = call(
            port, "POST", "/api/v1/auth/token", {"username": username, "password": password}
        )
        if status == 200 and isinstance(data, dict) and data.get("token"):
            return str(data["token"])
        if status == 429 and time.monotonic() < deadline:
            wait = min(max(float(headers.get("retry-after", "5") or 5), 1.0), 61.0)
            print(f"  /auth/token is rate-limited; waiting {wait:.0f}s", flush=True)
            time.sleep(wait)
            continue
        raise SeedError(f"POST /api/v1/auth/token as {username}: {status} {data}")


def product_ids(port: int) -> list[int]:
    ids: list[int] = []
    page = 1
    while True:
        status, data, _ = call(port, "GET", f"/api/v1/products?per_page=100&page={page}")
        if status != 200 or not isinstance(data, dict):
            raise SeedError(f"GET /api/v1/products: {status} {data}")
        items = data.get("items") or []
        ids.extend(int(item["id"]) for item in items)
        if not items or len(ids) >= int(data.get("total", 0)):
            return ids
        page += 1


def prepare(port: int, *, customers: int, order_products: int, with_orders: bool) -> Stage:
    ids = product_ids(port)
    if not ids:
        raise SeedError("the catalog is empty: was demo data seeded?")
    stage = Stage(product_ids=ids)
    if not with_orders:
        return stage

    admin = token_for(port, *ADMIN)
    chosen = ids[:order_products]
    for pid in chosen:
        status, data, _ = call(
            port, "PATCH", f"/api/v1/products/{pid}", {"stock": ORDER_STOCK}, token=admin
        )
        if status != 200:
            raise SeedError(f"PATCH /api/v1/products/{pid} (stock): {status} {data}")
    stage.order_product_ids = chosen

    # Customers through the admin API: /register is limited to 20 per minute per address.
    run = secrets.token_hex(3)
    names = [f"bench_{run}_{i:03d}" for i in range(customers)]
    for name in names:
        status, data, _ = call(
            port,
            "POST",
            "/api/v1/users",
            {
                "username": name,
                "password": CUSTOMER_PASSWORD,
                "role": "customer",
                "email": f"{name}@bench.example",
            },
            token=admin,
        )
        if status != 201:
            raise SeedError(f"POST /api/v1/users {name}: {status} {data}")
    started = time.monotonic()
    stage.customer_tokens = [token_for(port, name, CUSTOMER_PASSWORD) for name in names]
    stage.notes.append(
        f"orders: {customers} customer accounts (created with POST /api/v1/users, tokens from "
        f"/auth/token in {time.monotonic() - started:.1f}s, limited to 30/min per address) "
        f"shared round-robin by the clients; lines cycle over {len(chosen)} products "
        f"with stock raised to {ORDER_STOCK:,}"
    )
    return stage
