"""Feed jobs: the import worker, and polling partners' feed URLs.

An import is CPU work (parsing, hashing) that would hold the interpreter of the process
the scheduler shares with a web worker: with `FEED_WORKER=process` (the default) each one
runs in a child process (`python -m jobs.feeds <import id> <holder>`) that takes only CPU
time nobody else wants (`SCHED_IDLE`; FEED_WORKER_PRIORITY), so shoppers' requests come
first and an import's memory goes when it ends. The job does not wait for the child: it
starts one and returns, and claims the next import once that child has exited, so the
scheduler's other jobs and its log are never held up by an import.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from app.services import feeds
from jobs.context import JobContext

log = logging.getLogger("backroom.feeds")
# One run of the worker stops claiming new imports after this long, so the schedule's next
# run (and a clean shutdown) is never far away; an import already claimed runs to its end.
WORK_SECONDS = 60.0


def run_imports(session: Session, now: datetime, ctx: JobContext) -> int:
    """Due: queued imports (oldest first, one partner's in order) and running ones whose
    worker's lease ran out. Each is claimed by compare-and-set, so two workers never run
    one import; a claimed import resumes after its last committed batch, so a repeat is
    safe. Returns how many imports this run carried."""
    if ctx.config.feed_worker == "process" and CHILDREN.busy():
        return 0
    handled = 0
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < WORK_SECONDS:
        at = now + timedelta(seconds=elapsed)
        claimed = feeds.claim_next_import(session, holder=ctx.holder, now=at)
        if claimed is None:
            break
        if ctx.config.feed_worker == "process":
            CHILDREN.start(ctx, claimed)
            return handled + 1
        feeds.run_import(session, claimed, holder=ctx.holder, upload_dir=ctx.config.upload_dir)
        handled += 1
    return handled


class Children:
    """The one import child process this scheduler runs at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._child: tuple[int, subprocess.Popen[bytes]] | None = None

    def busy(self) -> bool:
        """Is a child still running? A finished one is reaped (its exit logged)."""
        with self._lock:
            if self._child is None:
                return False
            import_id, process = self._child
            code = process.poll()
            if code is None:
                return True
            if code != 0:  # its lease runs out and the next claim resumes the import
                log.error("feed import %s: the worker process exited with %s", import_id, code)
            self._child = None
            return False

    def start(self, ctx: JobContext, import_id: int) -> None:
        """Run a claimed import in a child process on this process's database and data
        folder, at the configured CPU priority."""
        env = {
            **os.environ,
            "DATABASE_URL": ctx.config.database_url,
            "BACKROOM_DATA_DIR": str(ctx.config.data_dir),
            "FEED_WORKER_PRIORITY": ctx.config.feed_worker_priority,
        }
        command = [sys.executable, "-m", "jobs.feeds", str(import_id), ctx.holder]
        with self._lock:
            self._child = (import_id, subprocess.Popen(command, env=env))

    def wait(self, timeout: float) -> int | None:
        """Wait for the running child (tests, shutdown); its exit code, or None."""
        with self._lock:
            child = self._child
        return child[1].wait(timeout) if child else None


CHILDREN = Children()


def poll_feeds(session: Session, now: datetime, ctx: JobContext) -> int:
    """Due: partners with a feed URL whose next poll time has come. Each is claimed by
    moving that time on (compare-and-set), so a repeat or a second scheduler polls nothing
    twice; an unchanged feed costs one conditional request. Returns how many were polled."""
    polled = 0
    for partner_id in feeds.due_for_poll(session, now):
        outcome = feeds.poll_feed(
            session,
            partner_id,
            now=now,
            upload_dir=ctx.config.upload_dir,
            max_bytes=ctx.config.feed_max_mb * 1024 * 1024,
        )
        polled += outcome != "claimed_elsewhere"
    return polled


def prune_imports(session: Session, now: datetime, ctx: JobContext) -> int:
    """Due: imports finished long enough ago whose details are still kept. Each is marked
    when cleared, so a repeat clears nothing more."""
    return feeds.prune_imports(session, now=now, upload_dir=ctx.config.upload_dir)


def child_main(argv: list[str]) -> int:
    """The child process: lower its priority, run the one import it was given, exit."""
    from app.config import load_config
    from app.db import Database
    from app.logs import configure_logging
    from app.services.monitoring import flush_log_store, install_log_store

    configure_logging()
    import_id, holder = int(argv[0]), argv[1]
    config = load_config()
    lower_priority(config.feed_worker_priority)
    db = Database(config.database_url, pool_size=1)
    install_log_store(db, enabled=config.log_store)  # its lines reach /monitoring/logs too
    try:
        status = feeds.run_import(
            db.session(), import_id, holder=holder, upload_dir=config.upload_dir
        )
        log.info("feed import %s finished its run: %s", import_id, status)
    finally:
        flush_log_store()
        db.dispose()
    return 0


def lower_priority(priority: str) -> None:
    """`idle`: run only on CPU time nobody else wants (Linux SCHED_IDLE; elsewhere nice
    19); `low`: nice 19; `normal`: as the scheduler. A process may always lower its own."""
    if priority == "idle":
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except (AttributeError, OSError):
            os.nice(19)
    elif priority == "low":
        os.nice(19)


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
