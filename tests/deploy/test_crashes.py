"""A web process of `backroom serve` killed during traffic (as the OOM killer does): the
server keeps answering, the process is replaced, the scheduler's lead moves, nothing is lost."""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.deploy.processes import call, free_port, get, running, wait_healthy

pytestmark = pytest.mark.slow
CARD = "4242424242424242"
STOCK = 5000


def children(pid: int) -> set[int]:
    """The processes whose parent is `pid` (granian's web processes under serve)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after its parenthesis
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.add(int(entry.name))
    return found


def leader_pid(data: Path) -> int:
    """The web process leading the scheduler, from the name its lock file holds."""
    return int((data / "scheduler.lock").read_text().strip().rsplit(":", 1)[1])


class Shoppers:
    """Customers placing one-unit orders as fast as the server answers, remembering every
    order it confirmed and every call that failed to get an answer."""

    def __init__(self, port: int, product_id: int, tokens: list[str]) -> None:
        self.port, self.product_id, self.tokens = port, product_id, tokens
        self.confirmed: list[int] = []
        self.statuses: list[tuple[float, int]] = []  # (when, status); 0: no answer
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.shop, args=(t,)) for t in tokens]

    def shop(self, token: str) -> None:
        order = {"lines": [{"product_id": self.product_id, "quantity": 1}],
                 "payment": {"card_number": CARD}}  # fmt: skip
        while not self.stop.is_set():
            try:
                status, body = call(self.port, "POST", "/api/v1/orders", order, token)
            except (OSError, http.client.HTTPException):  # died with the process that had it
                status, body = 0, b""
            with self.lock:
                self.statuses.append((time.monotonic(), status))
                if status == 201:
                    self.confirmed.append(json.loads(body)["id"])

    def __enter__(self) -> Shoppers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def confirmed_since(self, moment: float) -> int:
        with self.lock:
            return sum(1 for when, status in self.statuses if when > moment and status == 201)


def test_serve_replaces_a_killed_web_process_and_loses_no_order(tmp_path, tmp_path_factory):
    port = free_port()
    env = {
        "BACKROOM_DATA_DIR": str(tmp_path),
        "DATABASE_URL": "",
        "REDIS_URL": "",
        "SECRET_KEY": "",
        "BACKROOM_DEMO_DATA": "0",
        "BACKROOM_ADMIN_USERNAME": "boss",
        "BACKROOM_ADMIN_PASSWORD": "boss-password",
        "PORT": str(port),
        "TMPDIR": str(tmp_path_factory.mktemp("t")),  # serve's socket path must stay short
    }
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with running(["serve", "--workers", "2"], env, log) as server:
        wait_healthy(base)
        status, body = call(port, "POST", "/api/v1/auth/token",
                            {"username": "boss", "password": "boss-password"})  # fmt: skip
        assert status == 200, body
        admin = json.loads(body)["token"]
        product = {"sku": "CRASH-1", "name": "Sturdy mug", "price_cents": 1200, "stock": STOCK}
        status, body = call(port, "POST", "/api/v1/products", product, admin)
        assert status == 201, body
        product_id = json.loads(body)["id"]
        tokens = []
        for n in range(6):
            account = {"username": f"shopper{n}", "password": "password123", "role": "customer"}
            assert call(port, "POST", "/api/v1/users", account, admin)[0] == 201
            status, body = call(port, "POST", "/api/v1/auth/token", account)
            tokens.append(json.loads(body)["token"])
        workers = children(server.pid)
        assert len(workers) == 2, workers
        victim = leader_pid(tmp_path)  # the one running the scheduler too
        assert victim in workers

        with Shoppers(port, product_id, tokens) as shoppers:
            time.sleep(2)
            assert shoppers.confirmed_since(0) > 0, shoppers.statuses[-5:]
            os.kill(victim, signal.SIGKILL)
            killed_at = time.monotonic()
            deadline = killed_at + 15
            while time.monotonic() < deadline:
                replaced = children(server.pid) - {victim}
                if len(replaced) == 2 and shoppers.confirmed_since(time.monotonic() - 0.5):
                    break
                time.sleep(0.2)
            recovered_in = time.monotonic() - killed_at
            time.sleep(1)
        assert server.poll() is None, log.read_text()[-2000:]
        assert len(children(server.pid) - {victim}) == 2, "the killed process was not replaced"
        assert recovered_in < 10, f"orders succeeded again only after {recovered_in:.1f}s"
        assert shoppers.confirmed_since(killed_at + recovered_in) > 0

        # The scheduler's lead moved to a live process, and it beats.
        deadline = time.monotonic() + 30
        while leader_pid(tmp_path) == victim and time.monotonic() < deadline:
            time.sleep(0.2)
        assert leader_pid(tmp_path) in children(server.pid)
        assert wait_healthy(base, seconds=40)["checks"]["scheduler"]["ok"] is True

        # Nothing lost: every confirmed order is there and paid, and every unit that left
        # stock is in an order (paid, or pending until the reconciler settles it).
        status, body = get(f"{base}/api/v1/products/{product_id}")
        stock = body["stock"]
        orders: dict[int, dict[str, object]] = {}
        page = 1
        while True:
            status, listing = call(port, "GET", f"/api/v1/orders?per_page=100&page={page}", None,
                                   admin)  # fmt: skip
            items = json.loads(listing)["items"]
            orders.update({order["id"]: order for order in items})
            if len(items) < 100:
                break
            page += 1
        assert set(shoppers.confirmed) <= set(orders)
        assert all(orders[oid]["status"] == "paid" for oid in shoppers.confirmed)
        holding = [o for o in orders.values() if o["status"] in ("paid", "pending_payment")]
        assert stock + len(holding) == STOCK
        assert stock < STOCK
