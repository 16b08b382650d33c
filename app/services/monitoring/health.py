"""Operations: health, the scheduler heartbeat, and the record of job runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, text
from sqlalchemy.orm import Session

from app.db import transaction
from app.models.monitoring import Heartbeat, JobRun, JobState

SCHEDULER = "scheduler"
# A job's latest state is written when its outcome changes, and otherwise at most this
# often (so a healthy 1 s timer's state may be that old: job health allows for it).
JOB_STATE_EVERY_SECONDS = 10


@dataclass
class Health:
    ok: bool
    checks: dict[str, dict[str, object]] = field(default_factory=dict)


def record_heartbeat(session: Session, *, name: str, now: datetime, holder: str) -> None:
    """Upsert the beat row for `name` (one transaction)."""
    with transaction(session):
        beat = session.get(Heartbeat, name)
        if beat is None:
            session.add(Heartbeat(name=name, beat_at=now, holder=holder))
        else:
            beat.beat_at = now
            beat.holder = holder


def check_health(
    session: Session,
    *,
    now: datetime,
    heartbeat_seconds: int,
    probes: Mapping[str, Callable[[], object]] | None = None,
) -> Health:
    """Database answers, the scheduler has beaten within three of its intervals, and each
    of `probes` (shared state the deployment configured: Redis, the serve process's
    limiter) returns without raising."""
    health = Health(ok=True)
    for name, probe in (probes or {}).items():
        try:
            probe()
            health.checks[name] = {"ok": True}
        except Exception as exc:  # whatever the client raises, the check names it
            health.ok = False
            health.checks[name] = {"ok": False, "error": type(exc).__name__}
    try:
        session.execute(text("SELECT 1"))
        health.checks["database"] = {"ok": True}
    except Exception as exc:  # any driver error means the database is not answering
        session.rollback()
        health.ok = False
        health.checks["database"] = {"ok": False, "error": type(exc).__name__}
        health.checks["scheduler"] = {"ok": False, "error": "unknown: database unavailable"}
        return health
    beat = session.get(Heartbeat, SCHEDULER)
    allowed = timedelta(seconds=heartbeat_seconds * 3)
    if beat is None:
        health.ok = False
        health.checks["scheduler"] = {"ok": False, "error": "no heartbeat yet"}
    else:
        age = (now - beat.beat_at).total_seconds()
        fresh = now - beat.beat_at <= allowed
        health.ok = health.ok and fresh
        health.checks["scheduler"] = {
            "ok": fresh,
            "last_beat": beat.beat_at.isoformat(),
            "age_seconds": round(age, 1),
            **({} if fresh else {"error": "heartbeat is stale"}),
        }
    return health


def record_job_run(
    session: Session,
    *,
    job_id: str,
    started_at: datetime,
    duration_ms: float,
    handled: int,
    outcome: str,
    error: str | None = None,
) -> None:
    with transaction(session):
        session.add(
            JobRun(
                job_id=job_id,
                started_at=started_at,
                duration_ms=duration_ms,
                handled=handled,
                outcome=outcome,
                error=error,
            )
        )


def record_job_state(
    session: Session,
    *,
    job_id: str,
    interval_seconds: float,
    started_at: datetime,
    duration_ms: float,
    outcome: str,
    error: str | None = None,
) -> None:
    """Overwrite the job's latest run (one row per job; only the leading scheduler writes)."""
    with transaction(session):
        state = session.get(JobState, job_id)
        if state is None:
            state = JobState(job_id=job_id)
            session.add(state)
        state.interval_seconds = max(1, round(interval_seconds))
        state.last_run_at = started_at
        state.last_duration_ms = duration_ms
        state.last_outcome = outcome
        state.last_error = error
        if outcome == "ok":
            state.last_success_at = started_at


def prune_job_runs(session: Session, *, now: datetime, keep_days: int = 7) -> int:
    """Forget job runs older than `keep_days` so the table stays small, and the latest
    state of jobs that have not run for as long (a job taken off the schedule would
    otherwise stay on the dashboard, stale, for good). Returns the runs forgotten."""
    cut = now - timedelta(days=keep_days)
    with transaction(session):
        result = session.execute(delete(JobRun).where(JobRun.started_at < cut))
        session.execute(delete(JobState).where(JobState.last_run_at < cut))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
