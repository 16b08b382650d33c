"""A day of traffic in the monitoring store, and a year of history, for the dashboard
scenario (issue 13: the dashboard's refresh answers in p95 <= 50 ms with 10,000 open
returns and a day of traffic).

Run by the bench with the server's environment before the server starts, like
tests/bench/returns_seed.py: every minute of the last 24 hours gets request counts for the
shop's areas (successes, client errors, a few throttled and failed ones, spread over the
latency buckets), every job a latest run, and the log store its newest lines. The year
before holds 200,000 orders, 200,000 return events (on the seeded returns) and 50,000
store-credit entries, so the dashboard's day reads must go by index, not over history.
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

HISTORY_ORDERS, HISTORY_EVENTS, HISTORY_CREDIT = 200_000, 200_000, 50_000
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
        _seed_history(session, now, rng)
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
        "history": f"{HISTORY_ORDERS:,} orders, {HISTORY_EVENTS:,} return events, "
        f"{HISTORY_CREDIT:,} credit entries over the year before",
        "seconds": round(time.monotonic() - started, 1),
    }


def _seed_history(session: Any, now: Any, rng: random.Random) -> None:
    """Older rows the dashboard must not read: spread over the year before yesterday."""
    from sqlalchemy import insert, select

    from app.db import transaction
    from app.models.credit import CreditEntry
    from app.models.orders import Order
    from app.models.returns import ReturnEvent, ReturnRequest
    from app.models.users import User

    customer = session.scalar(select(User.id).where(User.role == "customer").limit(1))
    returns = session.scalars(select(ReturnRequest.id).limit(1000)).all()

    def long_ago() -> Any:
        return now - timedelta(days=2, seconds=rng.randint(0, 363 * 86400))

    with transaction(session):
        session.execute(
            insert(Order),
            [
                {
                    "number": f"H-{n:09d}",
                    "customer_id": customer,
                    "status": "paid" if n % 7 else "payment_failed",
                    "total_cents": rng.randint(500, 50_000),
                    "store_credit_cents": 0,
                    "kind": "standard",
                    "created_at": long_ago(),
                    "updated_at": now,
                }
                for n in range(HISTORY_ORDERS)
            ],
        )
        session.execute(
            insert(ReturnEvent),
            [
                {
                    "return_id": returns[n % len(returns)],
                    "at": long_ago(),
                    "actor_role": "system",
                    "trigger": "complete",
                    "from_state": "PROCESSING",
                    "to_state": "COMPLETED",
                    "data": "{}",
                    "workflow_version": 1,
                }
                for n in range(HISTORY_EVENTS)
            ],
        )
        session.execute(
            insert(CreditEntry),
            [
                {
                    "customer_id": customer,
                    "amount_cents": rng.randint(100, 5000),
                    "reason": "goodwill",
                    "created_at": long_ago(),
                }
                for _ in range(HISTORY_CREDIT)
            ],
        )


def main() -> int:
    if os.environ.get("BACKROOM_DATA_DIR") is None and os.environ.get("DATABASE_URL") is None:
        raise SystemExit("run by the bench with the server's environment (BACKROOM_DATA_DIR)")
    sys.stdout.write(json.dumps(seed()) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
