"""The feed_import scenario (issue 12): a partner's 100,000-row feed through the real server
and its real scheduler, and what shoppers notice while it runs.

Once per --repeat, against the running server (nothing is called in-process):

1. first import - a fresh partner is onboarded as the seeded admin (POST /api/v1/partners,
   its `api_key` shown once); the feed is uploaded with that key (POST /api/v1/feeds,
   text/csv, raw body -> 202) and its report polled every 0.2 s (GET /api/v1/feeds/<id>)
   until `succeeded`. The import's duration is the report's `finished_at - started_at` (the
   worker's own time); the wall time runs from the upload to the poll that saw it done
   (queueing for the scheduler's next tick and the upload itself included).
2. worker peak memory - the scheduler runs each import in a child process
   (`python -m jobs.feeds <id> <holder>`, jobs/feeds.py); while an import runs, a thread
   here scans /proc every 50 ms for such processes and keeps the largest VmHWM (the peak
   resident set the kernel recorded for the process), whoever started it.
3. re-import unchanged - the same file again for the same partner: every row `unchanged`.
4. catalog while importing - catalog_page (GET /products, 20 clients) alone for a few
   seconds (the baseline), then a second fresh partner's first import with the same load
   running from the moment the import is `running` until its report says it finished
   (the load generator ends its window on SIGUSR1). A fresh partner, so the import writes
   100,000 new products rather than tripping the change guard (which holds an import that
   changes more than half of the prices) and is as heavy as the first one.

The file is generated once per bench invocation (a `standard` CSV: sku, name, price,
stock, description, category, image_url; unique skus, prices like 12.99, ~150 bytes a row)
and shared by every setup and run. Why: an import is CPU work that runs beside the web
processes on the same cores, so its speed, its memory and its cost to shoppers are
measured together, on the setups the shop really runs.
"""

from __future__ import annotations

import atexit
import csv
import http.client
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.bench import cpu
from tests.bench.client import LoadSpec
from tests.bench.seed import SeedError
from tests.bench.server import HOST, Server, spawn_client

ROWS = 100_000
CATALOG_CLIENTS = 20
BASELINE_SECONDS = 5.0
POLL_SECONDS = 0.2
SAMPLE_SECONDS = 0.05
# The import under load runs at the worker's idle priority: while the catalog load keeps
# both cores busy it gets only what is left (100,000 rows took about 4 minutes here).
IMPORT_TIMEOUT = 600.0
WORKER_ARGS = ("-m", "jobs.feeds")
DONE = ("succeeded", "failed")

ADJECTIVES = ("Classic", "Compact", "Deluxe", "Everyday", "Rugged", "Slim", "Organic", "Pro")
MATERIALS = ("steel", "bamboo", "cotton", "ceramic", "oak", "linen", "glass", "wool")
NOUNS = ("water bottle", "desk lamp", "tote bag", "mug", "cutting board", "throw", "kettle")
CATEGORIES = ("Kitchen", "Home", "Outdoor", "Office", "Bags", "Lighting", "Textiles")


class FeedBenchError(RuntimeError):
    """An import failed, was held by the change guard, or did not finish in time."""


def write_feed(path: Path, rows: int, seed: int = 12) -> int:
    """A realistic `standard` CSV of `rows` products; its size in bytes."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("sku", "name", "price", "stock", "description", "category", "image_url"))
        for i in range(rows):
            sku = f"PTR-{i:06d}"
            name = f"{rng.choice(ADJECTIVES)} {rng.choice(MATERIALS)} {rng.choice(NOUNS)}"
            size = rng.choice(("S", "M", "L", "XL", "350 ml", "1 l"))
            writer.writerow(
                (
                    sku,
                    f"{name}, {size}",
                    f"{rng.randint(1, 250)}.{rng.choice((0, 49, 95, 99)):02d}",
                    rng.randint(0, 500),
                    f"{name} in {size}; ships within {rng.randint(2, 5)} days.",
                    rng.choice(CATEGORIES),
                    f"https://img.partner.example/{sku.lower()}.jpg",
                )
            )
    return path.stat().st_size


_FILES: dict[int, Path] = {}


def feed_file(rows: int) -> Path:
    """The feed of `rows` rows, generated once per process into a temporary directory."""
    if rows not in _FILES:
        folder = Path(tempfile.mkdtemp(prefix="backroom-bench-feed-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _FILES[rows] = folder / f"standard-{rows}.csv"
        write_feed(_FILES[rows], rows)
    return _FILES[rows]


def request(
    port: int,
    method: str,
    path: str,
    *,
    headers: dict[str, str],
    body: bytes | None = None,
    timeout: float = 120.0,
) -> tuple[int, Any]:
    """One API call; (status, decoded JSON body or None)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Accept": "application/json", **headers})
        response = conn.getresponse()
        raw = response.read()
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, raw[:300].decode(errors="replace")
    finally:
        conn.close()


def onboard(port: int, admin_token: str, name: str) -> str:
    """A new `standard` partner; its API key (shown this once)."""
    body = json.dumps({"name": name, "format": "standard"}).encode()
    headers = {"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"}
    status, data = request(port, "POST", "/api/v1/partners", headers=headers, body=body)
    if status != 201 or not isinstance(data, dict) or not data.get("api_key"):
        raise SeedError(f"POST /api/v1/partners: {status} {data}")
    return str(data["api_key"])


def upload(port: int, key: str, data: bytes) -> int:
    """POST the feed as the partner; the queued import's id."""
    headers = {"X-API-Key": key, "Content-Type": "text/csv"}
    status, answer = request(port, "POST", "/api/v1/feeds", headers=headers, body=data)
    if status != 202 or not isinstance(answer, dict):
        raise FeedBenchError(f"POST /api/v1/feeds: {status} {answer}")
    return int(answer["id"])


def report(port: int, key: str, import_id: int) -> dict[str, Any]:
    status, data = request(port, "GET", f"/api/v1/feeds/{import_id}", headers={"X-API-Key": key})
    if status != 200 or not isinstance(data, dict):
        raise FeedBenchError(f"GET /api/v1/feeds/{import_id}: {status} {data}")
    return data


def wait_for(
    port: int, key: str, import_id: int, statuses: tuple[str, ...], deadline: float
) -> dict[str, Any]:
    """Poll the report every 0.2 s until its status is one of `statuses`. Loud on a failed
    import, one the change guard holds, or the deadline."""
    while True:
        data = report(port, key, import_id)
        if data["status"] == "failed" and "failed" not in statuses:
            raise FeedBenchError(f"feed import {import_id} failed: {data.get('error')}")
        if data.get("approval") == "required":
            raise FeedBenchError(f"the change guard held feed import {import_id}: {data}")
        if data["status"] in statuses:
            return data
        if time.monotonic() > deadline:
            raise FeedBenchError(
                f"feed import {import_id} still {data['status']} after {IMPORT_TIMEOUT:.0f}s"
            )
        time.sleep(POLL_SECONDS)


class WorkerMemory(threading.Thread):
    """Scan /proc every 50 ms for import worker processes; keep each one's largest VmHWM."""

    def __init__(self) -> None:
        super().__init__(name="feed-worker-memory", daemon=True)
        self.peaks_kb: dict[int, int] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(SAMPLE_SECONDS)

    def stop(self) -> float | None:
        """Stop sampling; the largest peak seen, in MB (None: no worker process was seen)."""
        self._halt.set()
        self.join(timeout=5)
        return round(max(self.peaks_kb.values()) / 1024, 1) if self.peaks_kb else None

    def sample(self) -> None:
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                args = Path(entry.path, "cmdline").read_bytes().split(b"\0")
                if not _is_worker([a.decode(errors="replace") for a in args]):
                    continue
                status = Path(entry.path, "status").read_text()
            except OSError:
                continue  # gone in between
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    pid, kb = int(entry.name), int(line.split()[1])
                    self.peaks_kb[pid] = max(kb, self.peaks_kb.get(pid, 0))


def _is_worker(args: list[str]) -> bool:
    return any(tuple(args[i : i + 2]) == WORKER_ARGS for i in range(len(args) - 1))


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 2)


def import_figures(data: dict[str, Any], wall: float, peak_mb: float | None) -> dict[str, Any]:
    """What one import's report and the sampler say."""
    counts = ("rows_total", "created", "updated", "unchanged", "rejected", "dropped")
    return {
        "import_id": data["id"],
        "import_s": _seconds_between(data.get("started_at"), data.get("finished_at")),
        "wall_s": round(wall, 2),
        "worker_peak_mb": peak_mb,
        **{name: data.get(name) for name in counts},
    }


def measure_import(port: int, key: str, body: bytes) -> dict[str, Any]:
    """Upload, wait for `succeeded` with the memory sampler running; the figures."""
    sampler = WorkerMemory()
    sampler.start()
    started = time.monotonic()
    try:
        import_id = upload(port, key, body)
        upload_s = time.monotonic() - started
        data = wait_for(port, key, import_id, ("succeeded",), started + IMPORT_TIMEOUT)
    finally:
        peak = sampler.stop()
    figures = import_figures(data, time.monotonic() - started, peak)
    figures["upload_s"] = round(upload_s, 2)
    return figures


def catalog_spec(server: Server, duration: float, warmup: float) -> LoadSpec:
    return {
        "host": HOST,
        "port": server.port,
        "clients": CATALOG_CLIENTS,
        "warmup": warmup,
        "duration": duration,
        "requests": None,
        "expect": [200],
        "variants": [{"method": "GET", "path": "/products"}],
        "unique": False,
    }


def finish_load(proc: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed ({proc.returncode}): {err.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(out)
    return result


def catalog_baseline(server: Server, seconds: float) -> dict[str, Any]:
    """catalog_page at 20 clients with nothing else running (1 s warm-up)."""
    pgids = {proc.pid for proc in server.procs.values()}
    proc = spawn_client(catalog_spec(server, seconds, warmup=1.0))
    time.sleep(1.1)
    before, t0 = cpu.sample(pgids), time.monotonic()
    proc.wait(timeout=seconds + 30)
    after = cpu.sample(pgids)
    result = finish_load(proc, 30)
    result.update(cpu.usage(before, after, time.monotonic() - t0))
    return result


def import_under_load(server: Server, key: str, body: bytes) -> dict[str, Any]:
    """A first import with catalog_page running from `running` until it has finished."""
    port, pgids = server.port, {proc.pid for proc in server.procs.values()}
    sampler = WorkerMemory()
    sampler.start()
    started = time.monotonic()
    load: subprocess.Popen[bytes] | None = None
    try:
        import_id = upload(port, key, body)
        deadline = started + IMPORT_TIMEOUT
        wait_for(port, key, import_id, ("running", *DONE), deadline)
        spec = catalog_spec(server, IMPORT_TIMEOUT, warmup=0.3)
        load, spawned = spawn_client({**spec, "until_signal": True}), time.monotonic()
        before = cpu.sample(pgids)
        data = wait_for(port, key, import_id, DONE, deadline)
        time.sleep(max(0.0, spawned + 0.6 - time.monotonic()))  # its SIGUSR1 handler is set
        after, window = cpu.sample(pgids), time.monotonic() - spawned
        load.send_signal(signal.SIGUSR1)
        catalog = finish_load(load, 30)
        catalog.update(cpu.usage(before, after, window))
    finally:
        peak = sampler.stop()
        if load is not None and load.poll() is None:
            load.kill()
            load.wait()
    if data["status"] != "succeeded":
        raise FeedBenchError(f"feed import {import_id} failed: {data.get('error')}")
    return {"import": import_figures(data, time.monotonic() - started, peak), "catalog": catalog}


def import_once(server: Server, admin_token: str, path: Path, run: str) -> dict[str, Any]:
    """One repeat: first import, unchanged re-import, baseline, import under catalog load."""
    body = path.read_bytes()
    key = onboard(server.port, admin_token, f"Bench feed {run} A")
    first = measure_import(server.port, key, body)
    again = measure_import(server.port, key, body)
    baseline = catalog_baseline(server, BASELINE_SECONDS)
    fresh = onboard(server.port, admin_token, f"Bench feed {run} B")
    during = import_under_load(server, fresh, body)
    catalog = during["catalog"]
    peaks = [f["worker_peak_mb"] for f in (first, again, during["import"])]
    return {
        **{k: catalog[k] for k in ("requests", "ok", "errors", "error_breakdown", "clients")},
        **{k: catalog.get(k) for k in ("rps", "ok_rps", "p50_ms", "p95_ms", "p99_ms")},
        **{k: catalog[k] for k in ("server_cores", "machine_cores") if k in catalog},
        "rows": first["rows_total"],
        "file_bytes": len(body),
        "first": first,
        "reimport": again,
        "under_load": during["import"],
        "baseline": baseline,
        "catalog_during": catalog,
        "import_s": first["import_s"],
        "reimport_s": again["import_s"],
        "unchanged": again["unchanged"],
        "worker_peak_mb": max((p for p in peaks if p is not None), default=None),
        "catalog_ratio_percent": _ratio(catalog["ok_rps"], baseline["ok_rps"]),
        "catalog_p99_ms": catalog["p99_ms"],
    }


def _ratio(during: float, baseline: float) -> float:
    return round(100.0 * during / baseline, 1) if baseline else 0.0


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row from repeated runs: medians, but the largest worker peak and the fewest
    unchanged rows (the worse run decides those)."""
    row: dict[str, Any] = dict(runs[-1])
    for key in (
        "rps",
        "ok_rps",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "server_cores",
        "machine_cores",
        "import_s",
        "reimport_s",
        "catalog_ratio_percent",
        "catalog_p99_ms",
    ):
        values = [r[key] for r in runs if r.get(key) is not None]
        row[key] = round(statistics.median(values), 2) if values else None
    for key in ("requests", "ok", "errors"):
        row[key] = sum(r[key] for r in runs)
    peaks = [r["worker_peak_mb"] for r in runs if r["worker_peak_mb"] is not None]
    row["worker_peak_mb"] = max(peaks) if peaks else None
    row["unchanged"] = min(r["unchanged"] or 0 for r in runs)
    row["rows"] = min(r["rows"] or 0 for r in runs)
    return row


def _num(value: float | None, unit: str = "") -> str:
    return "?" if value is None else f"{value:g}{unit}"


def run_line(result: dict[str, Any]) -> str:
    first, again, under = result["first"], result["reimport"], result["under_load"]
    base, during = result["baseline"], result["catalog_during"]
    return (
        f"import {_num(first['import_s'], 's')} (wall {first['wall_s']}s, upload "
        f"{first['upload_s']}s), re-import {_num(again['import_s'], 's')} "
        f"({again['unchanged']} unchanged), under load {_num(under['import_s'], 's')}; "
        f"worker peak {_num(result['worker_peak_mb'], ' MB')}; catalog {base['ok_rps']:.0f}/s "
        f"p99 {base['p99_ms']:.1f} ms alone, {during['ok_rps']:.0f}/s p99 "
        f"{during['p99_ms']:.1f} ms during ({result['catalog_ratio_percent']}%, window "
        f"{during['window_seconds']}s)"
    )


def summary_lines(row: dict[str, Any], figures: list[tuple[str, Any, str, bool]]) -> list[str]:
    """The feed_import figures under the results table: one line per goal, then detail."""
    n = len(row.get("runs", [])) or 1
    how = " (medians; worker peak: the largest)" if n > 1 else ""
    lines = [f"  {row['setup']}: {n} run(s){how}, {row['file_bytes']:,}-byte file"]
    lines.append(f"    {'figure':<36} {'value':>10}  {'target':<10} verdict")
    for name, value, goal, met in figures:
        shown = "-" if value is None else f"{value:,}" if isinstance(value, int) else f"{value:g}"
        lines.append(f"    {name:<36} {shown:>10}  {goal:<10} {'MET' if met else 'MISSED'}")
    for number, run in enumerate(row.get("runs", []), start=1):
        lines.append(f"    run {number}: {run_line(run)}")
    return lines
