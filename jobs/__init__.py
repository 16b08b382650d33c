"""Scheduled jobs: the schedule table and the job functions.

Every job is `verb_plural_noun(session, now, ctx) -> int`, selects what is due and not
done, handles a bounded batch, and returns how many things it handled. Jobs are
level-triggered: running one twice, late, or on two schedulers at once changes nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from sqlalchemy.orm import Session

from jobs.context import JobContext
from jobs.feeds import poll_feeds, prune_imports, run_imports
from jobs.flash_sales import end_sales, expire_holds, start_sales
from jobs.monitoring import beat_heartbeats, prune_job_runs, prune_logs, prune_request_minutes
from jobs.orders import reconcile_orders
from jobs.returns import complete_returns, deliver_notices, send_refunds


class JobFunc(Protocol):
    def __call__(self, session: Session, now: datetime, ctx: JobContext) -> int: ...


@dataclass(frozen=True)
class Job:
    id: str
    func: JobFunc
    seconds: float
    # Which runs leave a row in job_runs: every one, those that handled something (frequent
    # timers), or only failures (the heartbeat, which /health reads from its own table).
    record: Literal["always", "work", "errors"] = "always"


def schedule(ctx: JobContext) -> list[Job]:
    """The schedule table: stable ids (`area.verb`) and how often each job runs."""
    return [
        Job("monitoring.heartbeat", beat_heartbeats, ctx.config.heartbeat_seconds, record="errors"),
        Job("orders.reconcile", reconcile_orders, 30),
        # Sale boundaries: a state follows its boundary within a second (2 s promised).
        Job("flash_sales.start", start_sales, 1, record="work"),
        Job("flash_sales.end", end_sales, 1, record="work"),
        Job("flash_sales.expire_holds", expire_holds, 10, record="work"),
        Job("returns.send_refunds", send_refunds, 5),
        Job("returns.complete", complete_returns, 5),
        Job("returns.deliver_notices", deliver_notices, 5),
        # A queued import starts within a second or two of its upload.
        Job("feeds.run_imports", run_imports, 1, record="work"),
        Job("feeds.poll", poll_feeds, 15, record="work"),
        Job("feeds.prune", prune_imports, 3600, record="work"),
        Job("monitoring.prune_job_runs", prune_job_runs, 3600),
        Job("monitoring.prune_logs", prune_logs, 60, record="work"),
        Job("monitoring.prune_traffic", prune_request_minutes, 3600, record="work"),
    ]


__all__ = ["Job", "JobContext", "schedule"]
