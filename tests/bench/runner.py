"""`make bench`: start a fresh server, drive it from a separate process, print the figures.

    .venv/bin/python -m tests.bench [--duration 8] [--clients 20,50] [--scenarios ...]
        [--setup embedded|scaled|all] [--repeat N] [--returns 10000] [--json FILE]
        [--profile DIR]
    make bench BENCH_ARGS="--repeat 3 --profile /tmp/bench-profile"

The embedded default always runs; the scaled setup (PostgreSQL + Redis + gunicorn workers +
a scheduler process) runs as well when TEST_DATABASE_URL and TEST_REDIS_URL are set.

The returns scenarios (queue_page, queue_partial, transitions) need open returns: they are
seeded once per setup, before its server starts (tests/bench/returns_seed.py: the first
--returns-templates through the app's services, the rest bulk copies of their rows; a few
seconds). transitions approves each of them at most once, so its runs share them out;
--returns seeds more for --repeat.

The flash-sale stampede (flash_stampede: --stampede-clients customers at a time racing for
a --stampede-units sale, each reserving one unit and paying for it at once, until sold out)
runs once per --repeat, whatever --clients says. Its customer accounts are seeded once per
setup before the server starts (tests/bench/flash_seed.py), one product per run, and signed
in through /api/v1/auth/token once it answers;
each run creates its own sale through the API just before it starts and checks afterwards
that nothing was oversold (tests/bench/flash_run.py).

The partner feed import (feed_import) also runs once per --repeat, last: a fresh partner's
--feed-rows-row standard CSV (generated once) imported through the running scheduler, the
same file again (all unchanged), and a second fresh partner's import with catalog_page
@20 clients running alongside, against a catalog_page baseline measured just before; the
worker process's peak memory is read from /proc (tests/bench/feeds.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from tests.bench import cpu, feeds, flash_run, profile
from tests.bench.client import LoadSpec
from tests.bench.flash_seed import FlashSeedError, SeededFlash, run_flash_seed
from tests.bench.monitoring_seed import MonitoringSeedError, run_monitoring_seed
from tests.bench.returns_seed import ReturnsSeedError, SeededReturns, run_seed
from tests.bench.scenarios import SCENARIOS, TARGETS, FeedTarget, Scenario
from tests.bench.seed import ADMIN, SeedError, Stage, prepare, token_for
from tests.bench.server import (
    HOST,
    BeforeStart,
    Server,
    ServerError,
    embedded_server,
    scaled_server,
    spawn_client,
)

SCALED_WEB_WORKERS = 3  # gunicorn workers of the scaled setup unless --web-workers says
PROFILE_CLIENTS = {"catalog_page": 20, "orders": 50, "queue_page": 20, "transitions": 20}
NOISE_NOTE = (
    "figures are noisy: the server, the load generator (one process, asyncio, stdlib only), "
    "in the scaled setup PostgreSQL and Redis, and whatever else runs here share this "
    "machine's cores (the 'all cpu' column shows how busy it was); compare runs made on the "
    "same machine, and prefer --repeat 3 (medians) for decisions"
)


INSTRUMENTATION_MIN_PERCENT = 95


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--duration", type=float, default=8.0, help="measured seconds per run (default 8)"
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=None,
        help="measure a fixed number of requests per run instead of a duration",
    )
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="unmeasured seconds before each run (default 2)"
    )
    parser.add_argument(
        "--clients", default="20,50", help="concurrent clients, comma-separated (default 20,50)"
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated subset of {', '.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--setup",
        choices=("embedded", "scaled", "all"),
        default=None,
        help="default: embedded, plus scaled when TEST_DATABASE_URL and TEST_REDIS_URL are set",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per cell; the table shows medians (default 1)"
    )
    parser.add_argument(
        "--customers",
        type=int,
        default=50,
        help="customer accounts (and tokens) shared by the order clients (default 50: one "
        "per client at the largest level)",
    )
    parser.add_argument(
        "--order-products",
        type=int,
        default=10,
        help="products the order lines cycle over (stock raised first)",
    )
    parser.add_argument(
        "--returns",
        type=int,
        default=10_000,
        help="open returns seeded for the returns scenarios (default 10,000); transitions "
        "shares them out over its runs (each approved once)",
    )
    parser.add_argument(
        "--returns-templates",
        type=int,
        default=100,
        help="how many of them are opened through create_return (default 100); the rest are "
        "bulk-inserted copies of those rows. Equal to --returns: every one through the "
        "service (~5 ms each on SQLite, ~20 ms on PostgreSQL here)",
    )
    parser.add_argument(
        "--stampede-clients",
        type=int,
        default=200,
        help="flash_stampede: concurrent customers (default 200)",
    )
    parser.add_argument(
        "--stampede-units",
        type=int,
        default=1000,
        help="flash_stampede: units in each run's sale (default 1,000)",
    )
    parser.add_argument(
        "--feed-rows",
        type=int,
        default=feeds.ROWS,
        help="feed_import: rows in the generated feed (default 100,000; the targets are "
        "for 100,000)",
    )
    parser.add_argument(
        "--web-workers",
        type=int,
        default=None,
        help="web processes: granian workers (embedded; default: the app's own, one per "
        "core) and gunicorn workers (scaled; default 3)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="server threads (granian threads / gunicorn threads per worker); "
        "default: the app's own default",
    )
    parser.add_argument(
        "--instrumentation",
        choices=("both", "on"),
        default="both",
        help="both (default): after each setup, catalog_page once more on a server with "
        "INSTRUMENTATION=0, to show what the request metrics cost; on: skip that",
    )
    parser.add_argument("--json", metavar="FILE", default=None, help="also write results here")
    parser.add_argument(
        "--profile",
        metavar="DIR",
        default=None,
        help="after measuring, run catalog_page@20, queue_page@20, orders@50 and "
        "transitions@20 once more under py-spy (pip install py-spy) and print the hot "
        "spots; raw stacks are kept in DIR",
    )
    parser.add_argument(
        "--profile-mode",
        choices=("gil", "wall", "both"),
        default="both",
        help="py-spy sampling: gil = only the thread holding the GIL (where a GIL-bound "
        "process spends its one core), wall = every thread serving a request (also C code "
        "running without the GIL, e.g. sqlite3, and waits on locks, database, Redis); "
        "default both (one extra run each)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return parser


def _csv_ints(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise SystemExit("--clients needs positive integers, e.g. 20,50")
    return values


def _scenarios(text: str) -> list[Scenario]:
    chosen: list[Scenario] = []
    for part in text.split(","):
        name = part.strip().replace("-", "_")
        if not name:
            continue
        if name not in SCENARIOS:
            raise SystemExit(f"unknown scenario {part!r}; choose from {', '.join(SCENARIOS)}")
        chosen.append(SCENARIOS[name])
    # Reads first: orders change the database the read scenarios look at.
    return sorted(chosen, key=lambda s: list(SCENARIOS).index(s.name))


def _setups(choice: str | None) -> list[str]:
    has_services = bool(os.environ.get("TEST_DATABASE_URL") and os.environ.get("TEST_REDIS_URL"))
    if choice in ("scaled", "all") and not has_services:
        raise SystemExit("the scaled setup needs TEST_DATABASE_URL and TEST_REDIS_URL")
    if choice == "embedded":
        return ["embedded"]
    if choice == "scaled":
        return ["scaled"]
    return ["embedded", "scaled"] if has_services else ["embedded"]


def machine_context() -> dict[str, Any]:
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 0
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable,
        "load_average": [round(x, 2) for x in load],
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def finish_client(proc: subprocess.Popen[bytes], spec: LoadSpec) -> dict[str, Any]:
    """Wait for the load generator's JSON result; kill it if it overruns or we are stopped."""
    budget = float(spec.get("warmup", 0)) + float(spec.get("duration", 0)) + 60.0
    if spec.get("requests"):
        budget += 600.0
    try:
        out, err = proc.communicate(timeout=budget)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed ({proc.returncode}): {err.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(out)
    return result


def run_measured(server: Server, spec: LoadSpec) -> dict[str, Any]:
    """One load run, with the CPU the server and the machine used in its measured window."""
    pgids = {proc.pid for proc in server.procs.values()}
    proc = spawn_client(spec)
    try:
        started = time.monotonic()
        if spec.get("requests"):
            before = cpu.sample(pgids)
            result = finish_client(proc, spec)
            result.update(cpu.usage(before, cpu.sample(pgids), time.monotonic() - started))
            return result
        # The client starts its own clock after it has come up (~0.1 s); sample a little
        # inside its measured window so warm-up and wind-down stay out.
        duration = float(spec.get("duration", 0))
        time.sleep(float(spec.get("warmup", 0)) + min(0.3, duration / 10))
        before = cpu.sample(pgids)
        t0 = time.monotonic()
        # A unique scenario may run out of requests early: its client exits then, and the
        # sample is taken at once so idle time does not dilute the figures.
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, duration - min(0.6, duration / 5)))
        after = cpu.sample(pgids)
        wall = time.monotonic() - t0
        result = finish_client(proc, spec)
        result.update(cpu.usage(before, after, wall))
        return result
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def load_spec(
    server: Server, scenario: Scenario, stage: Stage, clients: int, args: argparse.Namespace
) -> LoadSpec:
    return {
        "host": HOST,
        "port": server.port,
        "clients": clients,
        "warmup": args.warmup,
        "duration": args.duration,
        "requests": args.requests,
        "expect": list(scenario.expect),
        "variants": scenario.variants(
            stage, stage.next_return_batch() if scenario.unique else None
        ),
        "tokens": scenario.tokens(stage),
        "headers": scenario.headers(stage),
        "unique": scenario.unique,
    }


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row from repeated runs: medians of rates and latencies, sums of counts."""
    if len(runs) == 1:
        return dict(runs[0])
    row: dict[str, Any] = {}
    for key in (
        "rps",
        "ok_rps",
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
            row[key] = round(statistics.median(r[key] for r in runs), 2)
    for key in ("requests", "ok", "errors"):
        row[key] = sum(r[key] for r in runs)
    breakdown: Counter[str] = Counter()
    for r in runs:
        breakdown.update(r["error_breakdown"])
    row["error_breakdown"] = dict(breakdown)
    row["clients"] = runs[0]["clients"]
    return row


def _fmt_line(row: dict[str, Any]) -> str:
    ran_out = (
        f"  (ran out of its returns: window {row['window_seconds']:.1f}s)"
        if row.get("exhausted")
        else ""
    )
    return (
        f"{row['requests']:>7} req {row['errors']:>5} err {row['rps']:>8.1f}/s  "
        f"p50 {row['p50_ms']:6.1f}  p95 {row['p95_ms']:6.1f}  p99 {row['p99_ms']:6.1f} ms  "
        f"cores used: {_cores(row)}{ran_out}"
    )


def _cores(row: dict[str, Any]) -> str:
    parts = []
    if "server_cores" in row:
        parts.append(f"server {row['server_cores']:.2f}")
    parts.append(f"client {row['client_cpu_percent'] / 100:.2f}")
    if "machine_cores" in row:
        parts.append(f"machine {row['machine_cores']:.2f}/{os.cpu_count()}")
    return ", ".join(parts)


def run_setup(
    server: Server,
    scenarios: list[Scenario],
    levels: list[int],
    args: argparse.Namespace,
    rows: list[dict[str, Any]],
    setup_info: dict[str, Any],
    seeded: SeededReturns | None = None,
    flash: SeededFlash | None = None,
) -> None:
    with_orders = any(s.needs_orders for s in scenarios)
    with_returns = seeded is not None
    print(
        "  preparing: product ids"
        + (", support sign-in and token" if with_returns else "")
        + (", stock, customers, tokens" if with_orders else ""),
        flush=True,
    )
    stage = prepare(
        server.port,
        customers=args.customers,
        order_products=args.order_products,
        with_orders=with_orders,
        with_returns=with_returns,
        return_ids=seeded.return_ids if seeded else None,
        return_runs=unique_runs(scenarios, levels, args),
    )
    setup_info["notes"].extend(stage.notes)
    for note in stage.notes:
        print(f"  note: {note}")
    for scenario in scenarios:
        if scenario.stampede:
            if flash is None:
                raise RuntimeError("flash_stampede needs its seeded accounts")
            if not flash.tokens:
                note = flash.sign_in(server.port)
                setup_info["notes"].append(note)
                print(f"  note: {note}", flush=True)
            rows.append(run_stampedes(server, scenario, flash, args))
            continue
        if scenario.feed:
            rows.append(run_feed_imports(server, scenario, args))
            continue
        for clients in scenario.clients or levels:
            runs = []
            for rep in range(args.repeat):
                spec = load_spec(server, scenario, stage, clients, args)
                result = run_measured(server, spec)
                server.check_alive()
                runs.append(result)
                tag = f" run {rep + 1}/{args.repeat}" if args.repeat > 1 else ""
                print(
                    f"  {scenario.name:<13} {clients:>3} clients{tag}: {_fmt_line(result)}",
                    flush=True,
                )
                time.sleep(0.5)
            row = aggregate(runs)
            row.update(scenario=scenario.name, setup=server.setup, runs=runs)
            rows.append(row)
    if args.profile:
        profile_setup(server, scenarios, levels, stage, args, setup_info)


def run_stampedes(
    server: Server, scenario: Scenario, flash: SeededFlash, args: argparse.Namespace
) -> dict[str, Any]:
    """--repeat stampedes, each on a fresh sale of its own product with its own customers."""
    clients = args.stampede_clients
    per_run = flash_run.accounts_per_run(args.stampede_units, clients)
    admin_token = token_for(server.port, *ADMIN)
    runs = []
    for rep in range(args.repeat):
        tokens = flash.tokens[rep * per_run : (rep + 1) * per_run]
        result = flash_run.stampede_once(
            server, admin_token, flash.product_ids[rep], args.stampede_units, tokens, clients
        )
        server.check_alive()
        runs.append(result)
        tag = f" run {rep + 1}/{args.repeat}" if args.repeat > 1 else ""
        print(
            f"  {scenario.name:<13} {clients:>3} clients{tag}: sale {result['sale']['sale_id']}, "
            f"{flash_run.run_line(result)}; cores used: {_cores(result)}",
            flush=True,
        )
        time.sleep(0.5)
    row = flash_run.aggregate(runs)
    row.update(scenario=scenario.name, setup=server.setup, runs=runs)
    return row


def run_feed_imports(
    server: Server, scenario: Scenario, args: argparse.Namespace
) -> dict[str, Any]:
    """--repeat feed import runs, each with its own two fresh partners."""
    path = feeds.feed_file(args.feed_rows)
    admin_token = token_for(server.port, *ADMIN)
    runs = []
    for rep in range(args.repeat):
        run = f"{os.getpid()}-{server.setup}-{rep + 1}-{time.time_ns() % 10**6}"
        result = feeds.import_once(server, admin_token, path, run)
        server.check_alive()
        runs.append(result)
        tag = f" run {rep + 1}/{args.repeat}" if args.repeat > 1 else ""
        print(f"  {scenario.name:<13}{tag}: {feeds.run_line(result)}", flush=True)
        time.sleep(0.5)
    row = feeds.aggregate(runs)
    row.update(scenario=scenario.name, setup=server.setup, runs=runs)
    return row


def unique_runs(scenarios: list[Scenario], levels: list[int], args: argparse.Namespace) -> int:
    """How many runs will draw on the seeded returns (measured and profiled)."""
    runs = 0
    for scenario in scenarios:
        if not scenario.unique:
            continue
        runs += len(levels) * args.repeat
        if args.profile and scenario.name in PROFILE_CLIENTS:
            runs += 2 if args.profile_mode == "both" else 1
    return runs


def profile_setup(
    server: Server,
    scenarios: list[Scenario],
    levels: list[int],
    stage: Stage,
    args: argparse.Namespace,
    setup_info: dict[str, Any],
) -> None:
    """Extra runs under py-spy (not part of the table: the sampler costs CPU)."""
    if profile.py_spy() is None:
        print("  profile: py-spy not found (.venv/bin/pip install py-spy)")
        return
    modes = ["gil", "wall"] if args.profile_mode == "both" else [args.profile_mode]
    profiles: dict[str, str] = setup_info.setdefault("profiles", {})
    for scenario in scenarios:
        clients = PROFILE_CLIENTS.get(scenario.name)
        if clients is None:
            continue
        if clients not in levels:
            clients = max(levels)
        for mode in modes:
            key = f"{scenario.name}@{clients} ({mode})"
            raw = Path(args.profile) / f"{server.setup}-{scenario.name}-{clients}-{mode}.txt"
            result, text = profiled_run(server, scenario, stage, clients, args, mode, raw)
            print(
                f"\n  profile [{mode}] of {server.setup} {scenario.name} @{clients} clients "
                f"(extra run under py-spy: {result.get('ok_rps', 0):.0f} ok/s, "
                f"p99 {result.get('p99_ms', 0):.1f} ms; stacks in {raw}):"
            )
            print(text, flush=True)
            profiles[key] = text
            time.sleep(0.5)


def profiled_run(
    server: Server,
    scenario: Scenario,
    stage: Stage,
    clients: int,
    args: argparse.Namespace,
    mode: str,
    raw: Path,
) -> tuple[dict[str, Any], str]:
    spec = load_spec(server, scenario, stage, clients, args)
    spec["requests"] = None
    proc = spawn_client(spec)
    spy: subprocess.Popen[bytes] | None = None
    try:
        time.sleep(args.warmup + 0.2)
        spy = profile.start(server.web_pid, args.duration - 0.5, raw, mode=mode)
        assert spy is not None
        _, spy_err = spy.communicate(timeout=args.duration + 60)
        result = finish_client(proc, spec)
    finally:
        for child in (proc, spy):
            if child is not None and child.poll() is None:
                child.kill()
                child.wait()
    if spy.returncode != 0 or not raw.exists():
        return result, f"  py-spy failed: {spy_err.decode(errors='replace')[-500:]}"
    return result, profile.summarize(raw.read_text(), drop_idle=mode == "wall")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_table(rows: list[dict[str, Any]], setups: list[dict[str, Any]]) -> list[str]:
    """Print the results and the target verdicts; return the list of missed targets."""
    print(
        "\nResults (latency in ms, from request written to last body byte; req/s counts "
        "every response, targets count only the expected status):"
    )
    header = (
        f"{'scenario':<14} {'setup':<12} {'clients':>7} {'requests':>9} {'errors':>7} "
        f"{'req/s':>8} {'p50':>7} {'p95':>7} {'p99':>7} {'srv cpu':>7} {'all cpu':>7}  target"
    )
    print(header)
    print("-" * len(header))
    embedded_rps = {
        (r["scenario"], r["clients"]): float(r["ok_rps"]) for r in rows if r["setup"] == "embedded"
    }
    missed: list[str] = []
    footnotes: list[str] = []
    for row in rows:
        verdict = ""
        for target in TARGETS:
            if target.applies(row["scenario"], row["setup"], row["clients"]):
                met, why = target.check(row, embedded_rps.get((row["scenario"], row["clients"])))
                verdict = "MET" if met else f"MISSED ({why})"
                row.setdefault("targets", []).append(
                    {"target": target.text, "met": met, "detail": why}
                )
                if not met:
                    missed.append(f"{target.text}: {why}")
        print(
            f"{row['scenario']:<14} {row['setup']:<12} {row['clients']:>7} {row['requests']:>9} "
            f"{row['errors']:>7} {row['rps']:>8.1f} {row['p50_ms']:>7.1f} {row['p95_ms']:>7.1f} "
            f"{row['p99_ms']:>7.1f} {_num(row.get('server_cores')):>7} "
            f"{_num(row.get('machine_cores')):>7}  {verdict}"
        )
        if row["error_breakdown"]:
            detail = ", ".join(f"{k} x{n}" for k, n in row["error_breakdown"].items())
            footnotes.append(f"  {row['scenario']} {row['setup']} @{row['clients']}: {detail}")
    if footnotes:
        print("\nErrors (non-expected status or transport failure):")
        print("\n".join(footnotes))
    stampedes = [row for row in rows if row["scenario"] == "flash_stampede"]
    if stampedes:
        print(
            "\nFlash-sale stampede (holds/s: 201 reservations from the first request to the "
            "last one granted; paid/s: 201 checkouts from the first request to the last one "
            "paid; req/s above counts every call, sold_out answers included):"
        )
        for row in stampedes:
            print("\n".join(flash_run.summary_lines(row)))
    imports = [row for row in rows if row["scenario"] == "feed_import"]
    if imports:
        print(
            "\nFeed import (the row above: catalog_page @20 clients while a first import "
            "runs; import times are the report's finished_at - started_at):"
        )
        for row in imports:
            for target in TARGETS:
                if isinstance(target, FeedTarget) and target.applies(
                    row["scenario"], row["setup"], row["clients"]
                ):
                    print("\n".join(feeds.summary_lines(row, target.figures(row))))
    cost_lines, cost_missed = instrumentation_cost(rows)
    if cost_lines:
        print(
            "\nInstrumentation (request metrics and per-minute traffic) on against off, "
            f"catalog_page throughput (target: on >= {INSTRUMENTATION_MIN_PERCENT}% of off):"
        )
        print("\n".join(cost_lines))
        missed.extend(cost_missed)
    print(
        f"(srv cpu / all cpu: cores used by the server's processes / by the whole machine, "
        f"of {os.cpu_count()}, during the measured window)"
    )
    print("\nTargets:")
    for target in TARGETS:
        print(f"  - {target.text}")
    for info in setups:
        for note in info["notes"]:
            print(f"note ({info['setup']}): {note}")
    return missed


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Turn SIGINT/SIGTERM/SIGHUP into KeyboardInterrupt so every `finally` (server teardown)
    runs - also when SIGINT was inherited as ignored (a background job of a script)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {
        sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    levels = _csv_ints(args.clients)
    scenarios = _scenarios(args.scenarios)
    setups = _setups(args.setup)
    if args.customers < 1 or args.repeat < 1 or args.duration <= 0 or args.warmup < 0:
        raise SystemExit("--customers and --repeat must be >= 1, --duration > 0, --warmup >= 0")
    if args.requests is not None and args.requests < 1:
        raise SystemExit("--requests must be >= 1")
    if args.returns < 1 or args.returns_templates < 1:
        raise SystemExit("--returns and --returns-templates must be >= 1")
    if args.stampede_clients < 1 or args.stampede_units < 1:
        raise SystemExit("--stampede-clients and --stampede-units must be >= 1")
    if args.feed_rows < 1:
        raise SystemExit("--feed-rows must be >= 1")
    with_returns = any(s.needs_returns for s in scenarios)
    with_flash = any(s.stampede for s in scenarios)
    with_feed = any(s.feed for s in scenarios)
    with_monitoring = any(s.needs_monitoring for s in scenarios)
    bare = (
        [s for s in scenarios if s.name == "catalog_page"] if args.instrumentation == "both" else []
    )
    machine = machine_context()
    print(
        f"Backroom benchmark - {machine['usable_cpus']} usable CPU cores "
        f"(of {machine['cpu_count']}), load average {machine['load_average']}, "
        f"Python {machine['python']}"
    )
    print(f"note: {NOISE_NOTE}")
    run_mode = f"{args.requests} requests" if args.requests else f"{args.duration:g}s"
    print(
        f"each run: {args.warmup:g}s warm-up, then {run_mode}; clients {levels}; "
        f"scenarios {[s.name for s in scenarios]}; setups {setups}; repeat {args.repeat}"
        + (
            f"\nflash_stampede: {args.stampede_clients} clients, a {args.stampede_units:,}-unit "
            "sale per run, one unit per customer, until sold out (no warm-up, no fixed duration)"
            if with_flash
            else ""
        )
        + (
            f"\nfeed_import: a {args.feed_rows:,}-row standard CSV per import, 3 imports per "
            f"run (first, unchanged, first under catalog_page @{feeds.CATALOG_CLIENTS} "
            f"clients after a {feeds.BASELINE_SECONDS:g}s baseline)"
            if with_feed
            else ""
        )
        + "\n"
    )

    rows: list[dict[str, Any]] = []
    setup_infos: list[dict[str, Any]] = []
    status = 0
    with _terminate_as_interrupt():
        try:
            for setup in setups:
                info: dict[str, Any] = {"setup": setup, "notes": []}
                setup_infos.append(info)
                print(f"[{setup}] starting a fresh server ...", flush=True)
                seeded: list[SeededReturns] = []
                flash: list[SeededFlash] = []
                seeder = (
                    _seeder(
                        args,
                        info,
                        seeded if with_returns else None,
                        flash if with_flash else None,
                        monitoring=with_monitoring,
                    )
                    if with_returns or with_flash or with_monitoring
                    else None
                )
                started = time.monotonic()
                with _server(setup, args, seeder) as server:
                    info.update(
                        description=server.description,
                        port=server.port,
                        healthy_after_s=server.healthy_after,
                    )
                    info["notes"].extend(server.notes)
                    print(
                        f"[{setup}] {server.description} on {server.base_url} "
                        f"(ready in {time.monotonic() - started:.1f}s, /health 200 after "
                        f"{server.healthy_after}s)",
                        flush=True,
                    )
                    for note in server.notes:
                        print(f"  note: {note}")
                    run_setup(
                        server,
                        scenarios,
                        levels,
                        args,
                        rows,
                        info,
                        seeded[0] if seeded else None,
                        flash[0] if flash else None,
                    )
                print(f"[{setup}] server stopped", flush=True)
                if bare:
                    run_bare(setup, bare, levels, args, rows, setup_infos)
        except KeyboardInterrupt:
            print("\ninterrupted; servers stopped", file=sys.stderr)
            status = 130
        except (
            ServerError,
            SeedError,
            ReturnsSeedError,
            FlashSeedError,
            MonitoringSeedError,
            RuntimeError,
        ) as exc:
            # feeds.FeedBenchError is a RuntimeError: a failed or held import ends here.
            print(f"\nbenchmark failed: {exc}", file=sys.stderr)
            status = 2
    missed = print_table(rows, setup_infos) if rows else []
    if args.json:
        document = {
            "machine": machine,
            "settings": dict(vars(args).items()),
            "setups": setup_infos,
            "results": rows,
            "missed_targets": missed,
        }
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
        print(f"\nresults written to {args.json}")
    if status:
        return status
    if missed:
        print(
            f"\n{len(missed)} target(s) missed"
            + ("" if args.strict else " (exit 0; --strict fails the run)")
        )
        return 1 if args.strict else 0
    return 0


def run_bare(
    setup: str,
    scenarios: list[Scenario],
    levels: list[int],
    args: argparse.Namespace,
    rows: list[dict[str, Any]],
    setup_infos: list[dict[str, Any]],
) -> None:
    """The catalog once more on a fresh server with INSTRUMENTATION=0 (no request metrics,
    no per-minute traffic): the rows' setup is '<setup>-off'."""
    label = f"{setup}-off"
    info: dict[str, Any] = {"setup": label, "notes": []}
    setup_infos.append(info)
    print(f"[{label}] starting a fresh server with INSTRUMENTATION=0 ...", flush=True)
    with _server(setup, args, None, extra_env={"INSTRUMENTATION": "0"}) as server:
        server.setup = label
        info.update(description=server.description + ", INSTRUMENTATION=0", port=server.port)
        run_setup(server, scenarios, levels, args, rows, info)
    print(f"[{label}] server stopped", flush=True)


def instrumentation_cost(rows: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Lines comparing catalog_page with request metrics on and off, and the missed goals
    (on must keep at least 95% of off's throughput)."""
    lines, missed = [], []
    off = {
        (r["setup"].removesuffix("-off"), r["clients"]): r
        for r in rows
        if r["scenario"] == "catalog_page" and r["setup"].endswith("-off")
    }
    for row in rows:
        bare = off.get((row["setup"], row["clients"]))
        if row["scenario"] != "catalog_page" or bare is None or not bare["ok_rps"]:
            continue
        ratio = 100 * row["ok_rps"] / bare["ok_rps"]
        met = ratio >= INSTRUMENTATION_MIN_PERCENT
        lines.append(
            f"  catalog_page @{row['clients']} {row['setup']}: on {row['ok_rps']:.0f} req/s "
            f"(p99 {row['p99_ms']:.1f} ms), off {bare['ok_rps']:.0f} req/s "
            f"(p99 {bare['p99_ms']:.1f} ms): {ratio:.1f}% "
            + ("MET" if met else f"MISSED (< {INSTRUMENTATION_MIN_PERCENT}%)")
        )
        if not met:
            missed.append(
                f"instrumentation costs <= 5% (catalog_page @{row['clients']} "
                f"{row['setup']}): {ratio:.1f}% of off"
            )
    return lines, missed


def _seeder(
    args: argparse.Namespace,
    info: dict[str, Any],
    seeded: list[SeededReturns] | None,
    flash: list[SeededFlash] | None,
    *,
    monitoring: bool = False,
) -> BeforeStart:
    """Seed the open returns, the stampede's customers and/or a day of monitoring data into
    the fresh database before the server starts."""

    def before_start(env: dict[str, str]) -> None:
        if seeded is not None:
            seed_returns(env)
        if flash is not None:
            seed_flash(env)
        if monitoring:
            print("  seeding a day of traffic and 20,000 log lines ...", flush=True)
            result = run_monitoring_seed(env)
            info["notes"].append(
                f"monitoring store seeded: {result['traffic_rows']:,} traffic rows (a day), "
                f"{result['log_lines']:,} log lines, and history ({result['history']}), "
                f"in {result['seconds']}s"
            )

    def seed_flash(env: dict[str, str]) -> None:
        assert flash is not None
        accounts = args.repeat * flash_run.accounts_per_run(
            args.stampede_units, args.stampede_clients
        )
        print(
            f"  seeding {accounts:,} flash-sale customers, stock for "
            f"{args.repeat} sale(s) (before the server starts) ...",
            flush=True,
        )
        result = run_flash_seed(env, accounts, args.repeat, args.stampede_units)
        flash.append(result)
        info["flash_seed_seconds"] = result.wall_seconds
        info["notes"].append(result.describe())
        print(f"  seeded in {result.wall_seconds:.1f}s", flush=True)

    def seed_returns(env: dict[str, str]) -> None:
        assert seeded is not None
        count = args.returns
        print(f"  seeding {count:,} open returns (before the server starts) ...", flush=True)
        result = run_seed(env, count, args.returns_templates)
        seeded.append(result)
        info["returns_seed_seconds"] = result.wall_seconds
        info["notes"].append(result.describe())
        print(f"  seeded in {result.wall_seconds:.1f}s: {result.describe()}", flush=True)

    return before_start


def _server(
    setup: str,
    args: argparse.Namespace,
    before_start: BeforeStart | None,
    extra_env: dict[str, str] | None = None,
) -> contextlib.AbstractContextManager[Server]:
    if setup == "embedded":
        return embedded_server(
            workers=args.web_workers,
            threads=args.threads,
            before_start=before_start,
            extra_env=extra_env,
        )
    return scaled_server(
        database_url=os.environ["TEST_DATABASE_URL"],
        redis_url=os.environ["TEST_REDIS_URL"],
        workers=args.web_workers or SCALED_WEB_WORKERS,
        threads=args.threads,
        before_start=before_start,
        extra_env=extra_env,
    )
