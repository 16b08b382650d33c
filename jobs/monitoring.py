"""Monitoring jobs: the scheduler heartbeat that /health reads, pruning job history, and
keeping the log store and the per-minute traffic bounded."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.services.monitoring import SCHEDULER, prune_log_events, prune_traffic, record_heartbeat
from app.services.monitoring import prune_job_runs as prune_runs
from jobs.context import JobContext


def beat_heartbeats(session: Session, now: datetime, ctx: JobContext) -> int:
    """Write the scheduler's heartbeat. Always 'due'; a repeat only moves the time."""
    record_heartbeat(session, name=SCHEDULER, now=now, holder=ctx.holder)
    return 1


def prune_job_runs(session: Session, now: datetime, ctx: JobContext) -> int:
    """Forget job runs older than a week. Due: anything past the cut-off; re-runs find none."""
    return prune_runs(session, now=now, keep_days=7)


def prune_logs(session: Session, now: datetime, ctx: JobContext) -> int:
    """Keep the newest LOG_STORE_KEEP log lines. Due: any line past that many; a re-run
    finds none (lines written meanwhile only move the cut-off)."""
    return prune_log_events(session, keep=ctx.config.log_store_keep)


def prune_request_minutes(session: Session, now: datetime, ctx: JobContext) -> int:
    """Forget the per-minute traffic older than two days (the dashboard draws the last
    hour). Due: any minute past the cut-off; a re-run finds none."""
    return prune_traffic(session, now=now)
