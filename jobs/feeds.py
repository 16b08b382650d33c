"""Feed jobs: the import worker, and polling partners' feed URLs."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from app.services import feeds
from jobs.context import JobContext

# One run of the worker stops claiming new imports after this long, so the schedule's next
# run (and a clean shutdown) is never far away; an import already claimed runs to its end.
WORK_SECONDS = 60.0


def run_imports(session: Session, now: datetime, ctx: JobContext) -> int:
    """Due: queued imports (oldest first, one partner's in order) and running ones whose
    worker's lease ran out. Each is claimed by compare-and-set, so two workers never run
    one import; a claimed import resumes after its last committed batch, so a repeat is
    safe. Returns how many imports this run carried."""
    handled = 0
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < WORK_SECONDS:
        at = now + timedelta(seconds=elapsed)
        claimed = feeds.claim_next_import(session, holder=ctx.holder, now=at)
        if claimed is None:
            break
        feeds.run_import(session, claimed, holder=ctx.holder, upload_dir=ctx.config.upload_dir)
        handled += 1
    return handled


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
