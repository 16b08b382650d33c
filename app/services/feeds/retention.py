"""Retention: what an import leaves behind is kept for a while, then cleared.

A finished import keeps its row (its counts and times) for good. Its staged changes and
rejected rows (the diff and the report's rows) go KEEP_DETAILS after it finished, with its
file when it was a dry run (kept until then so that it can be imported for real).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app.db import transaction
from app.models.feeds import FeedChange, FeedImport, FeedRejection
from app.services.feeds.queue import remove_feed_file

KEEP_DETAILS = timedelta(days=14)
BATCH = 100


def prune_imports(session: Session, *, now: datetime, upload_dir: Path) -> int:
    """Clear the details (and a dry run's file) of up to BATCH imports finished more than
    KEEP_DETAILS ago; how many. Each is marked `cleaned_at`, so a repeat finds nothing."""
    due = session.execute(
        select(FeedImport.id, FeedImport.file_name)
        .where(FeedImport.finished_at < now - KEEP_DETAILS, FeedImport.cleaned_at.is_(None))
        .order_by(FeedImport.id)
        .limit(BATCH)
    ).all()
    session.commit()
    if not due:
        return 0
    ids = [import_id for import_id, _ in due]
    with transaction(session):
        session.execute(delete(FeedChange).where(FeedChange.import_id.in_(ids)))
        session.execute(delete(FeedRejection).where(FeedRejection.import_id.in_(ids)))
        session.execute(update(FeedImport).where(FeedImport.id.in_(ids)).values(cleaned_at=now))
    for _, file_name in due:  # a real import's file went when it finished
        remove_feed_file(upload_dir, file_name)
    return len(ids)
