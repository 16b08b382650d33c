"""A day of traffic in the monitoring store, for the dashboard scenario (issue 13: the
dashboard's refresh answers in p95 <= 50 ms with 10,000 open returns and a day of traffic).

Run by the bench with the server's environment before the server starts, like
tests/bench/returns_seed.py: every minute of the last 24 hours gets request counts for the
shop's areas (successes, client errors, a few throttled and failed ones, spread over the
latency buckets), every job a latest run, and the log store its newest lines.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from datetime import timedelta
from typing import Any

from tests.bench.server import run_seeder

AREAS = ("catalog", "orders", "returns", "flash_sales", "users", "monitoring", "feeds", "static")
LOG_LINES = 20_000


class MonitoringSeedError(RuntimeError):
    pass


def run_monitoring_seed(env: dict[str, str], *, timeout: float = 600.0) -> dict[str, Any]:
    """Seed in a child process with the server's environment (same database)."""
    return run_seeder(
        "monitoring_seed", [], env,
        timeout=timeout, what="a day of traffic", error=MonitoringSeedError,
    )  # fmt: skip


def seed() -> dict[str, Any]:
    from sqlalchemy import insert

    from app.config import load_config
    from app.db import Database, transaction, utcnow
    from app.models.monitoring import LogEvent
    from app.services.monitoring import record_job_state
    from app.services.monitoring.traffic import BUCKETS, add_minutes

    started = time.monotonic()
    database = Database(load_config().database_url, pool_size=2)
    session = database.session()
    rng = random.Random(13)
    now = utcnow().replace(second=0, microsecond=0)
    rows: list[dict[str, object]] = []
    try:
        for back in range(24 * 60, 0, -1):
            minute = now - timedelta(minutes=back)
            for area in AREAS:
                for status, share in (("2xx", 1.0), ("4xx", 0.05), ("429", 0.01), ("5xx", 0.002)):
                    count = max(1, int(rng.randint(200, 2000) * share))
                    buckets = [0] * len(BUCKETS)
                    for _ in range(min(count, 50)):
                        buckets[min(len(BUCKETS) - 1, int(rng.expovariate(0.6)))] += 1
                    buckets[2] += count - min(count, 50)
                    row: dict[str, object] = {
                        "minute": minute,
                        "area": area,
                        "status": status,
                        "count": count,
                        "seconds": count * 0.004,
                    }
                    row.update(zip(BUCKETS, buckets, strict=True))
                    rows.append(row)
            if len(rows) >= 5000:
                add_minutes(session, rows)
                rows = []
        if rows:
            add_minutes(session, rows)
        with transaction(session):
            session.execute(
                insert(LogEvent),
                [
                    {
                        "at": now - timedelta(seconds=LOG_LINES - i),
                        "level": "warning" if i % 10 == 0 else "info",
                        "logger": "backroom.access",
                        "message": f"GET /products/{i % 500} 404",
                        "request_id": f"{i:032x}",
                        "job_id": None,
                        "fields": json.dumps({"method": "GET", "status": 404}),
                    }
                    for i in range(LOG_LINES)
                ],
            )
        for job in ("flash_sales.start", "returns.send_refunds", "orders.reconcile"):
            record_job_state(
                session,
                job_id=job,
                interval_seconds=5,
                started_at=now,
                duration_ms=3.0,
                outcome="ok",
            )
    finally:
        session.close()
        database.dispose()
    return {
        "traffic_rows": 24 * 60 * len(AREAS) * 4,
        "log_lines": LOG_LINES,
        "seconds": round(time.monotonic() - started, 1),
    }


def main() -> int:
    if os.environ.get("BACKROOM_DATA_DIR") is None and os.environ.get("DATABASE_URL") is None:
        raise SystemExit("run by the bench with the server's environment (BACKROOM_DATA_DIR)")
    sys.stdout.write(json.dumps(seed()) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
