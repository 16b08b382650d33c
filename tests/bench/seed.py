"""Set the stage over the public API before measuring: admin token, stock, customers, tokens.

Only CONTRACT §3 calls are used, so this works the same against every setup. Tokens are
obtained once, up front; the measured order scenario never logs in. The returns scenarios
sign the support user in once: a bearer token for the API, and a browser session (the
login form, with its CSRF token) whose cookie the queue page requests carry. The open
returns themselves are written before the server starts (tests/bench/returns_seed.py).
"""

from __future__ import annotations

import http.client
import json
import re
import secrets
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

from tests.bench.server import HOST

ADMIN = ("admin", "admin-demo-2026")
CUSTOMER_PASSWORD = "bench-customer-2026"
SUPPORT = ("support", "support-demo-2026")
ORDER_STOCK = 1_000_000
SESSION_COOKIE = "backroom_session"
QUEUE_PATH = "/staff/queues/support"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


class SeedError(RuntimeError):
    pass


@dataclass
class Stage:
    """What the scenarios need: product ids, a pool of customer tokens, notes for the report."""

    product_ids: list[int]
    order_product_ids: list[int] = field(default_factory=list)
    customer_tokens: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    support_token: str = ""
    support_cookie: str = ""  # "backroom_session=..." for a Cookie header
    # Open returns not yet handed to a transitions run, and how many such runs remain.
    return_ids: list[int] = field(default_factory=list)
    return_runs_left: int = 0

    def next_return_batch(self) -> list[int]:
        """The open returns for the next transitions run: an equal share of what is left,
        so no return is ever approved twice (each would be a 409)."""
        share = len(self.return_ids) // max(1, self.return_runs_left)
        batch, self.return_ids = self.return_ids[:share], self.return_ids[share:]
        self.return_runs_left = max(0, self.return_runs_left - 1)
        return batch


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


def _cookies(response: http.client.HTTPResponse) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for name, value in response.getheaders():
        if name.lower() == "set-cookie":
            jar.load(value)
    return {key: morsel.value for key, morsel in jar.items()}


def _browser(
    port: int, method: str, path: str, cookie: str, form: dict[str, str] | None = None
) -> tuple[int, str, dict[str, str]]:
    """One browser-like request: (status, body text, cookies it set)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    headers = {"Accept": "text/html"}
    if cookie:
        headers["Cookie"] = cookie
    body = None
    if form is not None:
        body = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        text = response.read().decode(errors="replace")
        return response.status, text, _cookies(response)
    finally:
        conn.close()


def browser_login(port: int, username: str, password: str) -> str:
    """Sign in through the login form; return the `Cookie` header value of the session."""
    status, page, cookies = _browser(port, "GET", "/login", "")
    match = CSRF_META.search(page)
    if status != 200 or SESSION_COOKIE not in cookies or match is None:
        raise SeedError(f"GET /login: {status}, session cookie or csrf-token missing")
    cookie = f"{SESSION_COOKIE}={cookies[SESSION_COOKIE]}"
    form = {"username": username, "password": password, "csrf_token": match.group(1)}
    status, page, cookies = _browser(port, "POST", "/login", cookie, form)
    if status not in (302, 303) or SESSION_COOKIE not in cookies:
        raise SeedError(f"POST /login as {username}: {status} (expected a redirect)")
    return f"{SESSION_COOKIE}={cookies[SESSION_COOKIE]}"


def token_for(port: int, username: str, password: str) -> str:
    """POST /auth/token: correct sign-ins are never limited, so any refusal is an error."""
    status, data, _ = call(
        port, "POST", "/api/v1/auth/token", {"username": username, "password": password}
    )
    if status == 200 and isinstance(data, dict) and data.get("token"):
        return str(data["token"])
    raise SeedError(f"POST /api/v1/auth/token as {username}: {status} {data}")


def tokens_for(port: int, usernames: list[str], password: str) -> tuple[list[str], float]:
    """Every account signed in through POST /auth/token from this one address, eight at a
    time (as customers behind one proxy would); (tokens in order, seconds taken)."""
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        tokens = list(pool.map(lambda name: token_for(port, name, password), usernames))
    return tokens, time.monotonic() - started


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


def prepare(
    port: int,
    *,
    customers: int,
    order_products: int,
    with_orders: bool,
    with_returns: bool = False,
    return_ids: list[int] | None = None,
    return_runs: int = 0,
) -> Stage:
    ids = product_ids(port)
    if not ids:
        raise SeedError("the catalog is empty: was demo data seeded?")
    stage = Stage(product_ids=ids)
    if with_returns:
        prepare_returns(port, stage, return_ids or [], return_runs)
    if not with_orders:
        return stage
    prepare_orders(port, stage, customers=customers, order_products=order_products)
    return stage


def prepare_returns(port: int, stage: Stage, return_ids: list[int], runs: int) -> None:
    """The support user's browser session and API token; check both reach the queue."""
    stage.support_cookie = browser_login(port, *SUPPORT)
    status, _, _ = _browser(port, "GET", QUEUE_PATH, stage.support_cookie)
    if status != 200:
        raise SeedError(f"GET {QUEUE_PATH} with the support session: {status}")
    stage.support_token = token_for(port, *SUPPORT)
    status, data, _ = call(
        port, "GET", "/api/v1/queues/support?per_page=1", token=stage.support_token
    )
    if status != 200 or not isinstance(data, dict):
        raise SeedError(f"GET /api/v1/queues/support: {status} {data}")
    waiting = int(data.get("total", 0))
    if waiting < len(return_ids):
        raise SeedError(f"the support queue holds {waiting} returns, {len(return_ids)} seeded")
    stage.return_ids = list(return_ids)
    stage.return_runs_left = runs
    share = len(return_ids) // max(1, runs)
    stage.notes.append(
        f"returns: the support queue holds {waiting:,} returns when measuring starts; "
        f"transitions approves each seeded return at most once: {share:,} per run "
        f"({runs} run(s), warm-up included); a run whose share runs out ends early "
        "(its window closes with the last response)"
    )


def prepare_orders(port: int, stage: Stage, *, customers: int, order_products: int) -> None:
    ids = stage.product_ids

    admin = token_for(port, *ADMIN)
    chosen = ids[:order_products]
    for pid in chosen:
        status, data, _ = call(
            port, "PATCH", f"/api/v1/products/{pid}", {"stock": ORDER_STOCK}, token=admin
        )
        if status != 200:
            raise SeedError(f"PATCH /api/v1/products/{pid} (stock): {status} {data}")
    stage.order_product_ids = chosen

    # Customers made by the admin (sign-ups are limited per address: REGISTER_RATE_LIMIT).
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
    stage.customer_tokens, seconds = tokens_for(port, names, CUSTOMER_PASSWORD)
    stage.notes.append(
        f"orders: {customers} customer accounts (created with POST /api/v1/users, each signed "
        f"in through /auth/token from this one address in {seconds:.1f}s in all) shared "
        f"round-robin by the clients; lines cycle over {len(chosen)} products "
        f"with stock raised to {ORDER_STOCK:,}"
    )
