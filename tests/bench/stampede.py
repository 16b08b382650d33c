"""The flash-sale stampede load generator: simulated customers racing for one sale.

Run as its own process, like the plain load generator (`tests.bench.client`), so it never
shares an interpreter or a GIL with the server or the orchestrator:

    python -m tests.bench.stampede < spec.json > result.json

`clients` simulated customers at a time, each on its own keep-alive connection (all opened
before the start, so the stampede begins at one instant). A slot takes the next unused
customer token from one shared list and plays that customer: POST
/api/v1/flash-sales/<id>/reservations {"product_id", "quantity"}; on 201, at once POST
/api/v1/reservations/<hold>/checkout with an approved card; then the next customer. A slot
stops at the first 409 sold_out (or sale_not_active) it is answered: the sale is over for
it. Every customer makes at most two calls, so the per-user FLASH_RATE_LIMIT is never what
limits the run.

Latency is taken per request from writing it to reading the last body byte. Holds/s is the
201 reservations over the time from the first request to the last successful reservation;
paid/s the 201 checkouts over the time from the first request to the last successful
checkout. Percentiles cover every request (sold_out answers included).
"""

from __future__ import annotations

import asyncio
import gc
import json
import resource
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypedDict

from tests.bench.client import TRANSPORT_ERRORS, build_request, percentile, read_response_body

REQUEST_TIMEOUT = 30.0
CARD_APPROVED = "4242424242424242"
# Answers that are part of a healthy stampede; anything else is counted as an error.
EXPECTED = frozenset({"reserve 201", "reserve 409 sold_out", "checkout 201"})


class StampedeSpec(TypedDict):
    host: str
    port: int
    clients: int
    sale_id: int
    product_id: int
    quantity: int
    sale_price_cents: int
    tokens: list[str]


@dataclass
class Tally:
    """Everything the slots record, shared by every slot."""

    start: float = 0.0
    latencies: dict[str, list[float]] = field(
        default_factory=lambda: {"reserve": [], "checkout": []}
    )
    statuses: Counter[str] = field(default_factory=Counter)
    last_hold: float = 0.0
    last_paid: float = 0.0
    last_done: float = 0.0
    first_sold_out: float | None = None
    hold_ids: list[int] = field(default_factory=list)
    order_ids: list[int] = field(default_factory=list)
    units_paid: int = 0
    wrong_price: int = 0
    ran_out: bool = False  # every token was used before the sale sold out


def _code(body: bytes) -> str:
    """The error code of a JSON error body, or '' when there is none."""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    error = data.get("error") if isinstance(data, dict) else None
    return str(error.get("code", "")) if isinstance(error, dict) else ""


class Slot:
    """One simulated customer at a time on one keep-alive connection."""

    def __init__(self, spec: StampedeSpec, tally: Tally) -> None:
        self.spec = spec
        self.tally = tally
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(
            self.spec["host"], self.spec["port"]
        )

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def send(self, kind: str, path: str, body: str, token: str) -> tuple[str, bytes]:
        """One POST; records it and returns (outcome label, body)."""
        spec = self.spec
        raw = build_request(spec["host"], spec["port"], "POST", path, body, token, {})
        clock = time.perf_counter
        t0 = clock()
        try:
            if self.writer is None:
                await self.connect()
            assert self.reader is not None
            assert self.writer is not None
            self.writer.write(raw)
            status, keep_alive, payload = await asyncio.wait_for(
                read_response_body(self.reader, "POST"), REQUEST_TIMEOUT
            )
        except TimeoutError:
            label = f"{kind} timeout"
            payload, keep_alive = b"", False
        except TRANSPORT_ERRORS as exc:
            label = f"{kind} transport:{type(exc).__name__}"
            payload, keep_alive = b"", False
        else:
            code = _code(payload) if status >= 400 else ""
            label = f"{kind} {status}" + (f" {code}" if code else "")
        t1 = clock()
        tally = self.tally
        tally.latencies[kind].append((t1 - t0) * 1000.0)
        tally.statuses[label] += 1
        tally.last_done = max(tally.last_done, t1)
        if label == "reserve 201":
            tally.last_hold = max(tally.last_hold, t1)
        elif label == "checkout 201":
            tally.last_paid = max(tally.last_paid, t1)
        elif label == "reserve 409 sold_out" and tally.first_sold_out is None:
            tally.first_sold_out = t1
        if not keep_alive:
            self.close()
        return label, payload

    async def run(self, tokens: Iterator[str]) -> None:
        spec = self.spec
        reserve_path = f"/api/v1/flash-sales/{spec['sale_id']}/reservations"
        reserve_body = json.dumps({"product_id": spec["product_id"], "quantity": spec["quantity"]})
        checkout_body = json.dumps({"payment": {"card_number": CARD_APPROVED}})
        try:
            while True:
                token = next(tokens, None)
                if token is None:
                    self.tally.ran_out = True
                    return
                label, payload = await self.send("reserve", reserve_path, reserve_body, token)
                if label in ("reserve 409 sold_out", "reserve 409 sale_not_active"):
                    return  # the sale is over for this slot
                if label != "reserve 201":
                    continue  # counted as an error; the next customer tries
                hold_id = int(json.loads(payload)["id"])
                self.tally.hold_ids.append(hold_id)
                label, payload = await self.send(
                    "checkout", f"/api/v1/reservations/{hold_id}/checkout", checkout_body, token
                )
                if label == "checkout 201":
                    self.record_order(json.loads(payload))
        finally:
            self.close()

    def record_order(self, order: dict[str, Any]) -> None:
        tally = self.tally
        tally.order_ids.append(int(order["id"]))
        units = sum(int(line["quantity"]) for line in order.get("lines", []))
        tally.units_paid += units
        if int(order["total_cents"]) != units * self.spec["sale_price_cents"]:
            tally.wrong_price += 1


async def run_stampede(spec: StampedeSpec) -> dict[str, Any]:
    tally = Tally()
    slots = [Slot(spec, tally) for _ in range(int(spec["clients"]))]
    # Every connection first: the stampede starts at one instant, not at connect speed.
    connected = await asyncio.gather(*(slot.connect() for slot in slots), return_exceptions=True)
    failed_connects = sum(1 for c in connected if isinstance(c, BaseException))
    tokens = iter(spec["tokens"])
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    tally.start = time.perf_counter()
    await asyncio.gather(*(slot.run(tokens) for slot in slots))
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter() - tally.start
    return summarize(spec, tally, wall, cpu_after, cpu_before, failed_connects)


def summarize(
    spec: StampedeSpec,
    tally: Tally,
    wall: float,
    cpu_after: Any,
    cpu_before: Any,
    failed_connects: int,
) -> dict[str, Any]:
    start = tally.start
    every = sorted(tally.latencies["reserve"] + tally.latencies["checkout"])
    holds = tally.statuses["reserve 201"]
    paid = tally.statuses["checkout 201"]
    hold_window = max(1e-9, tally.last_hold - start) if holds else 0.0
    paid_window = max(1e-9, tally.last_paid - start) if paid else 0.0
    span = max(1e-9, tally.last_done - start)
    errors = {k: n for k, n in sorted(tally.statuses.items()) if k not in EXPECTED}
    five_xx = sum(n for k, n in tally.statuses.items() if k.split(" ")[1].startswith("5"))
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)

    def pct(values: list[float]) -> dict[str, float]:
        ordered = sorted(values)
        return {
            "p50_ms": round(percentile(ordered, 0.50), 2),
            "p95_ms": round(percentile(ordered, 0.95), 2),
            "p99_ms": round(percentile(ordered, 0.99), 2),
            "max_ms": round(ordered[-1], 2) if ordered else 0.0,
        }

    return {
        "clients": int(spec["clients"]),
        "accounts_used": sum(n for k, n in tally.statuses.items() if k.startswith("reserve ")),
        "requests": len(every),
        "ok": len(every) - sum(errors.values()),
        "errors": sum(errors.values()),
        "error_breakdown": errors,
        "statuses": dict(sorted(tally.statuses.items())),
        "five_xx": five_xx,
        "failed_connects": failed_connects,
        "holds": holds,
        "paid": paid,
        "units_paid": tally.units_paid,
        "wrong_price_orders": tally.wrong_price,
        "duplicate_order_ids": len(tally.order_ids) - len(set(tally.order_ids)),
        "duplicate_hold_ids": len(tally.hold_ids) - len(set(tally.hold_ids)),
        "holds_seconds": round(hold_window, 3),
        "paid_seconds": round(paid_window, 3),
        "holds_rps": round(holds / hold_window, 1) if holds else 0.0,
        "paid_rps": round(paid / paid_window, 1) if paid else 0.0,
        "sold_out_after_s": (
            None if tally.first_sold_out is None else round(tally.first_sold_out - start, 3)
        ),
        "window_seconds": round(span, 3),
        "rps": round(len(every) / span, 1),
        "ok_rps": round(paid / paid_window, 1) if paid else 0.0,
        **pct(every),
        "mean_ms": round(sum(every) / len(every), 2) if every else 0.0,
        "reserve": pct(tally.latencies["reserve"]),
        "checkout": pct(tally.latencies["checkout"]),
        "ran_out_of_accounts": tally.ran_out,
        "client_cpu_percent": round(100.0 * cpu / max(wall, 1e-9), 1),
    }


def main() -> int:
    spec: StampedeSpec = json.load(sys.stdin)
    gc.freeze()  # the tokens live for the whole run; keep the collector cheap
    result = asyncio.run(run_stampede(spec))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
