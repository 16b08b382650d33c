"""`run_job` records each run; one scheduler leads (file lock on SQLite, advisory lock on PG)."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, select

import jobs.runner as runner
from app import build_payments
from app.config import Config
from app.db import Base, Database, utcnow
from app.models.monitoring import Heartbeat, JobRun, JobState
from app.services.monitoring import JOB_STATE_EVERY_SECONDS
from jobs import Job, JobContext
from jobs.runner import Leadership, Scheduler, holder_name, run_job
from tests.conftest import create_postgres_database, drop_postgres_database, need


def runs(session):
    session.expire_all()
    return session.scalars(select(JobRun).order_by(JobRun.id)).all()


def test_it_records_a_successful_run(session, ctx):
    seen = []

    def count_things(s, now, c):
        seen.append((now, c.holder))
        return 3

    now = utcnow() - timedelta(hours=1)
    assert run_job(ctx, Job("test.count", count_things, 60), now) == 3
    assert seen == [(now, "test")]
    [run] = runs(session)
    assert (run.job_id, run.handled, run.outcome, run.error) == ("test.count", 3, "ok", None)
    assert run.duration_ms >= 0


def test_it_passes_the_start_time_when_no_now_is_given(session, ctx):
    seen = []
    before = utcnow()
    run_job(ctx, Job("test.now", lambda s, now, c: seen.append(now) or 0, 60))
    assert before <= seen[0] <= utcnow()


def test_it_records_a_failing_run_without_raising(session, ctx, caplog):
    def explode(s, now, c):
        raise ValueError("bad item")

    with caplog.at_level(logging.ERROR, logger="backroom.jobs"):
        assert run_job(ctx, Job("test.explode", explode, 60)) == 0
    [run] = runs(session)
    assert (run.job_id, run.handled, run.outcome) == ("test.explode", 0, "error")
    assert run.error == "ValueError: bad item"
    assert "test.explode failed" in caplog.text


def test_it_skips_recording_quiet_jobs_unless_they_fail(session, ctx):
    assert run_job(ctx, Job("test.quiet", lambda s, n, c: 1, 1, record="errors")) == 1
    assert runs(session) == []

    def explode(s, now, c):
        raise RuntimeError("no")

    run_job(ctx, Job("test.quiet", explode, 1, record="errors"))
    assert [(r.job_id, r.outcome) for r in runs(session)] == [("test.quiet", "error")]


def test_it_records_frequent_timers_only_when_they_did_something(session, ctx):
    assert run_job(ctx, Job("test.timer", lambda s, n, c: 0, 1, record="work")) == 0
    assert runs(session) == []
    assert run_job(ctx, Job("test.timer", lambda s, n, c: 2, 1, record="work")) == 2
    assert [(r.job_id, r.handled) for r in runs(session)] == [("test.timer", 2)]


def test_every_run_overwrites_the_jobs_latest_state_even_when_no_run_is_kept(session, ctx):
    """The dashboard's job health reads the latest run of every job, quiet ones included."""
    assert run_job(ctx, Job("test.timer", lambda s, n, c: 0, 1, record="work")) == 0
    assert runs(session) == []
    [state] = session.scalars(select(JobState)).all()
    assert (state.job_id, state.interval_seconds, state.last_outcome) == ("test.timer", 1, "ok")
    assert state.last_success_at == state.last_run_at
    succeeded_at = state.last_run_at

    def explode(s, now, c):
        raise RuntimeError("no")

    run_job(ctx, Job("test.timer", explode, 1, record="work"))
    session.expire_all()
    [failed] = session.scalars(select(JobState)).all()
    assert (failed.last_outcome, failed.last_error) == ("error", "RuntimeError: no")
    assert failed.last_success_at == succeeded_at  # the last success stays
    assert failed.last_run_at >= succeeded_at


def test_a_quiet_timers_state_is_rewritten_only_when_it_changes_or_now_and_then(
    session, ctx, monkeypatch
):
    clock = [1000.0]
    monkeypatch.setattr(runner.time, "monotonic", lambda: clock[0])
    job = Job("test.tick", lambda s, n, c: 0, 1, record="work")
    run_job(ctx, job)
    first = session.scalars(select(JobState.last_run_at)).one()
    clock[0] += 5
    run_job(ctx, job)  # same outcome, 5 s later: nothing written
    session.expire_all()
    assert session.scalars(select(JobState.last_run_at)).one() == first
    clock[0] += JOB_STATE_EVERY_SECONDS
    run_job(ctx, job)  # 15 s after the last write: written
    session.expire_all()
    assert session.scalars(select(JobState.last_run_at)).one() > first


def test_a_failed_jobs_error_is_kept_masked(session, ctx):
    def leak(s, now, c):
        raise ValueError("duplicate key jane.doe@example.org card 4242424242424242")

    run_job(ctx, Job("test.leak", leak, 60))
    [state] = session.scalars(select(JobState)).all()
    [run] = runs(session)
    for error in (state.last_error, run.error):
        assert error is not None
        assert error.startswith("ValueError: duplicate key")
        assert "jane.doe@example.org" not in error
        assert "4242424242424242" not in error


def test_it_survives_failing_to_record_a_run(session, ctx, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(runner, "record_job_run", broken)
    with caplog.at_level(logging.ERROR, logger="backroom.jobs"):
        assert run_job(ctx, Job("test.count", lambda s, n, c: 2, 60)) == 2
    assert "could not record the run of test.count" in caplog.text


def test_it_names_the_holder_by_host_and_pid():
    assert holder_name().endswith(f":{os.getpid()}")


@pytest.fixture
def sqlite_ctx(tmp_path):
    """A job context on its own SQLite file (real commits, for real scheduler threads)."""
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    database = Database(url)
    config = replace(Config(), database_url=url, data_dir=tmp_path, heartbeat_seconds=1)
    yield JobContext(
        config=config,
        db=database,
        payments=build_payments(config, database, None),
        holder="first",
    )
    database.dispose()


def test_it_admits_one_leader_per_sqlite_data_dir(sqlite_ctx):
    first = Leadership(sqlite_ctx)
    second = Leadership(replace(sqlite_ctx, holder="second"))
    assert first.acquire() is True
    assert second.acquire() is False
    assert (sqlite_ctx.config.data_dir / "scheduler.lock").read_text() == "first\n"
    first.release()
    assert second.acquire() is True
    second.release()
    second.release()  # releasing twice is harmless


@pytest.mark.postgres
def test_it_admits_one_leader_per_postgres_database(sqlite_ctx):
    base = os.environ.get("TEST_DATABASE_URL", "")
    need("PostgreSQL", bool(base), "set TEST_DATABASE_URL=postgresql+psycopg://...")
    url = create_postgres_database(base)
    database = Database(url, pool_size=2)
    try:
        ctx = replace(sqlite_ctx, db=database)
        first, second = Leadership(ctx), Leadership(replace(ctx, holder="second"))
        assert first.acquire() is True
        assert second.acquire() is False
        first.release()
        assert second.acquire() is True
        second.release()
    finally:
        database.dispose()
        drop_postgres_database(base, url)


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def heartbeat_holder(ctx):
    with ctx.db.session() as session:
        beat = session.get(Heartbeat, "scheduler")
        return beat.holder if beat is not None else None


def test_it_runs_the_schedule_on_one_leader_and_hands_over_when_it_stops(sqlite_ctx):
    first = Scheduler(sqlite_ctx, retry_seconds=0.05)
    second = Scheduler(replace(sqlite_ctx, holder="second"), retry_seconds=0.05)
    try:
        first.start()
        assert wait_for(lambda: heartbeat_holder(sqlite_ctx) == "first")
        assert first.leading
        second.start()
        time.sleep(0.2)
        assert not second.leading
        first.stop()
        assert wait_for(lambda: second.leading)
        assert wait_for(lambda: heartbeat_holder(sqlite_ctx) == "second")
    finally:
        first.stop()
        second.stop()
    assert not second.leading


def test_it_stops_waiting_for_leadership_when_stopped(sqlite_ctx):
    holder = Leadership(sqlite_ctx)
    assert holder.acquire()
    waiting = Scheduler(replace(sqlite_ctx, holder="waiting"), retry_seconds=0.05)
    try:
        waiting.start()
        time.sleep(0.15)
        waiting.stop()
        waiting._thread.join(2)
        assert not waiting._thread.is_alive()
        assert not waiting.leading
        assert heartbeat_holder(sqlite_ctx) is None
    finally:
        holder.release()


def test_a_standby_says_once_that_another_leads(sqlite_ctx, caplog):
    holder = Leadership(sqlite_ctx)
    assert holder.acquire()
    waiting = Scheduler(replace(sqlite_ctx, holder="waiting"), retry_seconds=0.02)
    try:
        with caplog.at_level(logging.DEBUG, logger="backroom.jobs"):
            waiting.start()
            assert wait_for(lambda: len(caplog.records) >= 4)
        said = [r.levelno for r in caplog.records if "another scheduler leads" in r.message]
        assert said[0] == logging.INFO
        assert set(said[1:]) == {logging.DEBUG}  # not a line every few seconds in the log
    finally:
        waiting.stop()
        holder.release()
