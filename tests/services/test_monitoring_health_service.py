"""Operations: health checks, the scheduler heartbeat and the record of job runs."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from app.db import Database, utcnow
from app.models.monitoring import Heartbeat, JobRun
from app.services.monitoring import (
    SCHEDULER,
    check_health,
    prune_job_runs,
    record_heartbeat,
    record_job_run,
)


def test_it_reports_a_missing_heartbeat(session):
    health = check_health(session, now=utcnow(), heartbeat_seconds=10)
    assert not health.ok
    assert health.checks["database"] == {"ok": True}
    assert health.checks["scheduler"] == {"ok": False, "error": "no heartbeat yet"}


def test_it_reports_a_fresh_heartbeat_as_healthy(session):
    now = utcnow()
    record_heartbeat(session, name=SCHEDULER, now=now - timedelta(seconds=30), holder="h")
    health = check_health(session, now=now, heartbeat_seconds=10)
    assert health.ok
    assert health.checks["scheduler"]["ok"] is True
    assert health.checks["scheduler"]["age_seconds"] == 30.0


def test_it_reports_a_stale_heartbeat(session):
    now = utcnow()
    record_heartbeat(session, name=SCHEDULER, now=now - timedelta(seconds=31), holder="h")
    health = check_health(session, now=now, heartbeat_seconds=10)
    assert not health.ok
    assert health.checks["scheduler"]["error"] == "heartbeat is stale"


def test_it_reports_a_database_that_does_not_answer(tmp_path):
    broken = Database(f"sqlite:///{tmp_path}/missing-dir/nothing.db")
    session = broken.session()
    try:
        health = check_health(session, now=utcnow(), heartbeat_seconds=10)
    finally:
        session.close()
        broken.dispose()
    assert not health.ok
    assert health.checks["database"]["ok"] is False
    assert health.checks["database"]["error"] == "OperationalError"
    assert health.checks["scheduler"]["ok"] is False


def test_it_keeps_one_heartbeat_row_per_name(session):
    first = utcnow()
    record_heartbeat(session, name=SCHEDULER, now=first, holder="a")
    record_heartbeat(session, name=SCHEDULER, now=first + timedelta(seconds=5), holder="b")
    session.expire_all()
    beats = session.scalars(select(Heartbeat)).all()
    assert [(b.name, b.holder, b.beat_at) for b in beats] == [
        (SCHEDULER, "b", first + timedelta(seconds=5))
    ]


def record(session, job_id, started_at, outcome="ok"):
    record_job_run(
        session, job_id=job_id, started_at=started_at, duration_ms=1.5, handled=2, outcome=outcome
    )


def test_it_prunes_job_runs_older_than_a_week_only(session):
    now = utcnow()
    record(session, "old", now - timedelta(days=8))
    record(session, "recent", now - timedelta(days=6))
    assert prune_job_runs(session, now=now) == 1
    assert prune_job_runs(session, now=now) == 0
    assert session.scalar(select(func.count()).select_from(JobRun)) == 1
