"""The load generator: raw HTTP/1.1 keep-alive over asyncio streams, standard library only.

Run as its own process so it never shares an interpreter (or a GIL) with the server or the
orchestrator: `python -m tests.bench.client < spec.json > result.json`. The spec names the
server, the number of simulated clients (one keep-alive connection each), the warm-up and the
measured duration (or a fixed request count), and the requests to send. Every client cycles
through its own list of prebuilt request bytes; latency is taken per request from writing the
request to reading the last byte of the body.

A request counts when it *starts* inside the measured window; clients stop starting new
requests when the window closes and get a grace period to finish the one in flight (anything
still open after that is an error, `timeout`). Throughput is counted requests / window.

With `unique` set, every request of the list is sent at most once in the whole run, warm-up
included (for requests that consume what they act on, e.g. approving a return): the clients
share one cursor over the list and stop when it runs out. If it runs out inside the measured
window, the window ends with the last response (`exhausted` in the result).
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import resource
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict

GRACE_SECONDS = 10.0
TRANSPORT_ERRORS = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError)


class RequestSpec(TypedDict, total=False):
    method: str
    path: str
    body: str | None


class LoadSpec(TypedDict, total=False):
    host: str
    port: int
    clients: int
    warmup: float
    duration: float
    requests: int | None
    expect: list[int]
    variants: list[RequestSpec]
    tokens: list[str]
    headers: dict[str, str]
    unique: bool
    until_signal: bool


class LoadResult(TypedDict):
    clients: int
    requests: int
    ok: int
    errors: int
    error_breakdown: dict[str, int]
    window_seconds: float
    rps: float
    ok_rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    client_cpu_percent: float
    exhausted: bool


def build_request(
    host: str,
    port: int,
    method: str,
    path: str,
    body: str | None,
    token: str | None,
    headers: dict[str, str],
) -> bytes:
    """One HTTP/1.1 request as bytes, ready to write on a keep-alive connection."""
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "User-Agent: backroom-bench",
        "Accept: */*",
        "Connection: keep-alive",
    ]
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    if token:
        lines.append(f"Authorization: Bearer {token}")
    payload = body.encode() if body is not None else b""
    if body is not None:
        lines.append("Content-Type: application/json")
    if body is not None or method not in {"GET", "HEAD"}:
        lines.append(f"Content-Length: {len(payload)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


async def read_head(reader: asyncio.StreamReader) -> tuple[int, bool, int | None, bool]:
    """Read a response's head; return (status, keep_alive, content_length, chunked)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        raise ValueError(f"bad status line {lines[0][:80]!r}")
    status = int(parts[1])
    keep_alive = parts[0] == b"HTTP/1.1"
    length: int | None = None
    chunked = False
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        if key == b"content-length":
            length = int(value.strip())
        elif key == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif key == b"connection":
            token = value.strip().lower()
            if token == b"close":
                keep_alive = False
            elif token == b"keep-alive":
                keep_alive = True
    return status, keep_alive, length, chunked


async def read_response(reader: asyncio.StreamReader, method: str) -> tuple[int, bool]:
    """Read one response; return (status, keep_alive). Raises on a broken or closed stream."""
    status, keep_alive, _body = await read_response_body(reader, method, keep=False)
    return status, keep_alive


async def read_response_body(
    reader: asyncio.StreamReader, method: str, *, keep: bool = True
) -> tuple[int, bool, bytes]:
    """Read one response; return (status, keep_alive, body) - the body only with `keep`
    (otherwise it is read and dropped, b"" returned). Raises on a broken or closed stream."""
    status, keep_alive, length, chunked = await read_head(reader)
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return status, keep_alive, b""
    body = b""
    if chunked:
        pieces: list[bytes] = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                # Trailers, if any, end with an empty line.
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                break
            chunk = await reader.readexactly(size + 2)
            if keep:
                pieces.append(chunk[:-2])
        body = b"".join(pieces)
    elif length is not None:
        if length:
            body = await reader.readexactly(length)
    else:
        body = await reader.read()  # the body runs to the end of the connection
        keep_alive = False
    return status, keep_alive, body if keep else b""


@dataclass
class Window:
    """When measuring starts and ends; shared by every client coroutine."""

    measure_start: float
    measure_end: float
    limit: int | None
    started_in_window: int = 0
    stop: bool = False
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    last_done: float = 0.0
    ran_out: bool = False  # a unique list ran out before the window closed

    def may_start(self, now: float) -> bool:
        if self.stop or now >= self.measure_end:
            return False
        if now < self.measure_start or self.limit is None:
            return True
        if self.started_in_window >= self.limit:
            self.stop = True
            return False
        return True

    def close(self) -> None:
        """End the measured window now (SIGUSR1 with `until_signal`)."""
        self.measure_end = max(self.measure_start, min(self.measure_end, time.perf_counter()))


Picker = Callable[[], tuple[str, bytes] | None]


def cycling(requests: list[tuple[str, bytes]], offset: int) -> Picker:
    """The client's own list, round and round, starting at `offset`."""
    index = offset
    count = len(requests)

    def pick() -> tuple[str, bytes] | None:
        nonlocal index
        chosen = requests[index % count]
        index += 1
        return chosen

    return pick


def once_each(requests: list[tuple[str, bytes]]) -> Picker:
    """One list shared by every client, each request handed out once, then None."""
    cursor = iter(requests)

    def pick() -> tuple[str, bytes] | None:
        return next(cursor, None)

    return pick


async def run_client(
    host: str,
    port: int,
    pick: Picker,
    expect: frozenset[int],
    window: Window,
) -> None:
    """One simulated client: a single keep-alive connection, requests back to back."""
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    clock = time.perf_counter
    try:
        while True:
            t0 = clock()
            if not window.may_start(t0):
                return
            chosen = pick()
            if chosen is None:
                window.ran_out = True  # every unique request has been sent
                return
            measured = t0 >= window.measure_start
            if measured:
                window.started_in_window += 1
            method, raw = chosen
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                assert reader is not None
                writer.write(raw)
                status, keep_alive = await read_response(reader, method)
            except TRANSPORT_ERRORS as exc:
                if measured:
                    window.statuses[f"transport:{type(exc).__name__}"] += 1
                    window.last_done = clock()
                if writer is not None:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.01)  # do not spin on a refusing server
                continue
            if measured:
                t1 = clock()
                window.latencies.append((t1 - t0) * 1000.0)
                window.statuses[str(status) if status in expect else f"http:{status}"] += 1
                window.last_done = t1
            if not keep_alive:
                assert writer is not None
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values) - 1e-9))
    return sorted_values[min(rank, len(sorted_values)) - 1]


async def run_load(spec: LoadSpec) -> LoadResult:
    host = spec.get("host", "127.0.0.1")
    port = int(spec["port"])
    clients = int(spec["clients"])
    warmup = float(spec.get("warmup", 2.0))
    duration = float(spec.get("duration", 8.0))
    limit = spec.get("requests")
    expect = frozenset(spec.get("expect", [200]))
    variants = spec["variants"]
    tokens = spec.get("tokens") or []
    headers = spec.get("headers") or {}
    unique = bool(spec.get("unique"))

    def prebuilt(token: str | None) -> list[tuple[str, bytes]]:
        return [
            (
                v.get("method", "GET"),
                build_request(
                    host, port, v.get("method", "GET"), v["path"], v.get("body"), token, headers
                ),
            )
            for v in variants
        ]

    if unique:
        shared = once_each(prebuilt(tokens[0] if tokens else None))
        pickers = [shared] * clients
    else:
        pickers = [
            cycling(prebuilt(tokens[i % len(tokens)] if tokens else None), i)
            for i in range(clients)
        ]

    now = time.perf_counter()
    measure_start = now + warmup
    measure_end = measure_start + (duration if limit is None else 3600.0)
    window = Window(measure_start=measure_start, measure_end=measure_end, limit=limit)
    until_signal = bool(spec.get("until_signal"))
    if until_signal:
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, window.close)
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    tasks = [
        asyncio.create_task(run_client(host, port, pickers[i], expect, window))
        for i in range(clients)
    ]
    if limit is None:
        # Every client ends early only when a unique list runs out.
        await asyncio.wait(tasks, timeout=max(0.0, measure_end - time.perf_counter()))
        window.stop = True
    else:
        while not window.stop and not all(task.done() for task in tasks):
            await asyncio.sleep(0.05)
    _done, pending = await asyncio.wait(tasks, timeout=GRACE_SECONDS)
    for task in pending:
        task.cancel()
        window.statuses["timeout"] += 1
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            window.statuses[f"client:{type(task.exception()).__name__}"] += 1
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)

    exhausted = window.ran_out
    if limit is None and not exhausted:
        span = max(1e-09, window.measure_end - measure_start) if until_signal else duration
    else:
        span = max(1e-09, min(window.last_done, measure_end) - measure_start)
    latencies = sorted(window.latencies)
    ok = sum(n for key, n in window.statuses.items() if key.isdigit())
    errors = sum(n for key, n in window.statuses.items() if not key.isdigit())
    total = ok + errors
    wall = time.perf_counter() - now
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    return {
        "clients": clients,
        "requests": total,
        "ok": ok,
        "errors": errors,
        "error_breakdown": {k: n for k, n in sorted(window.statuses.items()) if not k.isdigit()},
        "window_seconds": round(span, 3),
        "rps": round(total / span, 1),
        "ok_rps": round(ok / span, 1),
        "p50_ms": round(percentile(latencies, 0.50), 2),
        "p95_ms": round(percentile(latencies, 0.95), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "max_ms": round(latencies[-1], 2) if latencies else 0.0,
        "mean_ms": round(sum(latencies) / len(latencies), 2) if latencies else 0.0,
        "client_cpu_percent": round(100.0 * cpu / max(wall, 1e-9), 1),
        "exhausted": exhausted,
    }


def main() -> int:
    spec: LoadSpec = json.load(sys.stdin)
    gc.freeze()  # the prebuilt requests live for the whole run; keep the collector cheap
    result: dict[str, Any] = dict(asyncio.run(run_load(spec)))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
