"""Running jobs: one run recorded per call, and the scheduler with exactly one leader.

Leadership: on PostgreSQL an advisory lock held on a dedicated connection; on SQLite an
exclusive file lock next to the database. A process that is not the leader waits and
retries, so a second worker is harmless and takes over when the first one dies.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import text

from app.db import utcnow
from app.logs import redact, request_id_var
from app.services.monitoring import JOB_STATE_EVERY_SECONDS, record_job_run, record_job_state
from jobs import Job, JobContext, schedule

log = logging.getLogger("backroom.jobs")
ADVISORY_LOCK_ID = 0x6261636B  # "back"


def run_job(ctx: JobContext, job: Job, now: datetime | None = None) -> int:
    """Run one job in its own session; record start, duration, count and outcome."""
    started = utcnow()
    clock = time.perf_counter()
    session = ctx.db.session()
    token = request_id_var.set(f"job:{job.id}:{started.strftime('%H%M%S')}")
    try:
        handled = job.func(session, now or started, ctx)
        outcome, error = "ok", None
    except Exception as exc:
        session.rollback()
        log.exception("job %s failed", job.id, extra={"job_id": job.id})
        # Kept for the dashboard, whose every staff role reads it: a driver's error may
        # quote the row it choked on, so it is masked like a log line.
        handled, outcome, error = 0, "error", redact(f"{type(exc).__name__}: {exc}")[:2000]
    finally:
        session.close()
        request_id_var.reset(token)
    duration_ms = (time.perf_counter() - clock) * 1000
    session = ctx.db.session()
    try:
        if _state_due(ctx, job.id, outcome):
            record_job_state(
                session,
                job_id=job.id,
                interval_seconds=job.seconds,
                started_at=started,
                duration_ms=duration_ms,
                outcome=outcome,
                error=error,
            )
            ctx.written[job.id] = (time.monotonic(), outcome)
        if job.record == "always" or outcome != "ok" or (job.record == "work" and handled):
            record_job_run(
                session,
                job_id=job.id,
                started_at=started,
                duration_ms=duration_ms,
                handled=handled,
                outcome=outcome,
                error=error,
            )
    except Exception:
        log.exception("could not record the run of %s", job.id)
    finally:
        session.close()
    return handled


def _state_due(ctx: JobContext, job_id: str, outcome: str) -> bool:
    """Write a job's latest state when its outcome changed or JOB_STATE_EVERY_SECONDS have
    passed: the 1 s timers would otherwise cost the database a write each, every second."""
    last = ctx.written.get(job_id)
    return (
        last is None or last[1] != outcome or time.monotonic() - last[0] >= JOB_STATE_EVERY_SECONDS
    )


class Leadership:
    """Try to become the one scheduler; `acquire` never blocks."""

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self._conn: Any = None
        self._file: IO[str] | None = None

    def acquire(self) -> bool:
        if self.ctx.db.is_sqlite:
            return self._acquire_file()
        conn = self.ctx.db.engine.connect()
        got = bool(
            conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_LOCK_ID}).scalar()
        )
        conn.commit()
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def _acquire_file(self) -> bool:
        path = Path(self.ctx.config.data_dir) / "scheduler.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a")  # not "w": a loser must not wipe the leader's name
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.truncate(0)
        handle.write(f"{self.ctx.holder}\n")
        handle.flush()
        self._file = handle
        return True

    def release(self) -> None:
        if self._conn is not None:
            # Merely returned to the pool, the session would keep holding the advisory
            # lock and no other scheduler could lead: close the session for real.
            self._conn.invalidate()
            self._conn.close()
            self._conn = None
        if self._file is not None:
            self._file.close()
            self._file = None


class Scheduler:
    """APScheduler in a background thread, started once this process leads."""

    def __init__(self, ctx: JobContext, *, retry_seconds: float = 5.0) -> None:
        self.ctx = ctx
        self.retry_seconds = retry_seconds
        self.leadership = Leadership(ctx)
        self._aps = BackgroundScheduler(timezone="UTC")
        self._stop = threading.Event()
        self._state_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.leading = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._lead, name="scheduler-leader", daemon=True)
        self._thread.start()

    def _lead(self) -> None:
        said = False
        while not self._stop.is_set():
            # Taking the lock and starting happen under the same lock as stopping, so a stop
            # that arrives meanwhile either prevents the start or sees it and shuts it down.
            with self._state_lock:
                if self._stop.is_set():
                    return
                if self.leadership.acquire():
                    self._begin()
                    return
            # Said once: a standby retries every few seconds for as long as the leader lives.
            log.log(
                logging.DEBUG if said else logging.INFO,
                "another scheduler leads; retrying every %ss",
                self.retry_seconds,
            )
            said = True
            self._stop.wait(self.retry_seconds)

    def _begin(self) -> None:
        self.leading = True
        for job in schedule(self.ctx):
            self._aps.add_job(
                run_job,
                "interval",
                seconds=job.seconds,
                args=(self.ctx, job),
                id=job.id,
                max_instances=1,
                coalesce=True,
                next_run_time=utcnow(),
                misfire_grace_time=None,
            )
        self._aps.start()
        log.info("scheduler started as leader (%s)", self.ctx.holder)

    def stop(self) -> None:
        with self._state_lock:
            self._stop.set()
            if self._aps.running:
                self._aps.shutdown(wait=False)
            self.leadership.release()
            self.leading = False


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
