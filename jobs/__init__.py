"""Scheduled jobs: the schedule table and the job functions.

Every job is `verb_plural_noun(session, now, ctx) -> int`, selects what is due and not
done, handles a bounded batch, and returns how many things it handled. Jobs are
level-triggered: running one twice, late, or on two schedulers at once changes nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from jobs.context import JobContext
from jobs.ops import beat_heartbeats, prune_job_runs
from jobs.orders import reconcile_orders
from jobs.returns import complete_returns, deliver_notices, send_refunds


class JobFunc(Protocol):
    def __call__(self, session: Session, now: datetime, ctx: JobContext) -> int: ...


@dataclass(frozen=True)
class Job:
    id: str
    func: JobFunc
    seconds: float
    record: bool = True


def schedule(ctx: JobContext) -> list[Job]:
    """The schedule table: stable ids (`area.verb`) and how often each job runs."""
    return [
        Job("ops.heartbeat", beat_heartbeats, ctx.config.heartbeat_seconds, record=False),
        Job("orders.reconcile", reconcile_orders, 30),
        Job("returns.send_refunds", send_refunds, 5),
        Job("returns.complete", complete_returns, 5),
        Job("notifications.deliver", deliver_notices, 5),
        Job("ops.prune_job_runs", prune_job_runs, 3600),
    ]


__all__ = ["Job", "JobContext", "schedule"]
