"""The import queue: feed files saved, imports queued, claimed by one worker under a lease.

An import is a row; the worker that claims it (compare-and-set from `queued`, or from a
`running` import whose lease ran out) holds a lease it renews with every batch. A worker
that dies leaves a lease that runs out, and the next claim resumes the import where its
last committed batch left it. An import claimed more than MAX_ATTEMPTS times fails, with
the reason, rather than crash a worker forever.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from app.db import due_ids, transaction
from app.errors import TooLarge, ValidationError
from app.feeds import FORMATS
from app.models.feeds import FeedImport
from app.models.users import User
from app.services.feeds.partners import get_partner

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 3
FEED_DIR = "feeds"


def feed_path(upload_dir: Path, file_name: str) -> Path:
    return upload_dir / FEED_DIR / file_name


def save_feed_file(chunks: Iterable[bytes], upload_dir: Path, *, max_bytes: int) -> tuple[str, int]:
    """Write the body to a new file under `<upload_dir>/feeds/`, chunk by chunk; the file's
    name and size. Raises TooLarge (413) past `max_bytes`, leaving no file behind."""
    folder = upload_dir / FEED_DIR
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{uuid.uuid4().hex}.feed"
    path = folder / name
    size = 0
    try:
        with path.open("wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"a feed may be at most {max_bytes // (1024 * 1024)} MB")
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return name, size


def remove_feed_file(upload_dir: Path, file_name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(feed_path(upload_dir, file_name))


def queue_import(
    session: Session,
    partner_id: int,
    *,
    file_name: str,
    file_size: int,
    now: datetime,
    format: str | None = None,
    content_type: str | None = None,
    original_name: str | None = None,
    dry_run: bool = False,
    complete: bool = False,
    source: str = "upload",
    requested_by: User | None = None,
    key_id: int | None = None,
) -> FeedImport:
    """Queue an import of a saved feed file for the worker, in one transaction.

    `format` overrides the partner's for this file. Raises NotFound (partner) and
    ValidationError (an unknown format, an empty file)."""
    problems = {}
    if format is not None and format not in FORMATS:
        problems["format"] = f"must be one of: {', '.join(FORMATS)}"
    if file_size == 0:
        problems["file"] = "is empty: send the feed's rows"
    if problems:
        raise ValidationError(problems)
    with transaction(session):
        partner = get_partner(session, partner_id)
        record = FeedImport(
            partner_id=partner.id,
            status="queued",
            dry_run=dry_run,
            complete=complete,
            source=source,
            format=format or partner.format,
            content_type=(content_type or None) and content_type[:100],
            file_name=file_name,
            original_name=(original_name or None) and original_name[:200],
            file_size=file_size,
            created_at=now,
            requested_by=requested_by.id if requested_by else None,
            key_id=key_id,
        )
        session.add(record)
    return record


def receive_feed(
    session: Session,
    partner_id: int,
    chunks: Iterable[bytes],
    *,
    upload_dir: Path,
    max_bytes: int,
    now: datetime,
    **options: Any,
) -> FeedImport:
    """Save an uploaded feed and queue its import (`options`: those of `queue_import`).
    Raises NotFound and ValidationError before a byte is saved, TooLarge past
    `max_bytes`; a refused upload leaves no file behind."""
    fmt = options.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise ValidationError({"format": f"must be one of: {', '.join(FORMATS)}"})
    get_partner(session, partner_id)
    session.commit()  # no read transaction stays open while the file streams in
    name, size = save_feed_file(chunks, upload_dir, max_bytes=max_bytes)
    try:
        return queue_import(session, partner_id, file_name=name, file_size=size, now=now, **options)
    except BaseException:
        remove_feed_file(upload_dir, name)
        raise


def _claimable(now: datetime) -> ColumnElement[bool]:
    waiting = and_(
        FeedImport.status == "queued",
        or_(FeedImport.approval.is_(None), FeedImport.approval == "approved"),
        or_(FeedImport.lease_until.is_(None), FeedImport.lease_until <= now),
    )
    abandoned = and_(FeedImport.status == "running", FeedImport.lease_until < now)
    return or_(waiting, abandoned)


def claim_next_import(session: Session, *, holder: str, now: datetime) -> int | None:
    """Claim the oldest import that is due (queued, or running with its lease run out) for
    `holder`; its id, or None. One partner's imports run one at a time, in order: an import
    waits while an older one of its partner is unfinished (backing off after an error
    included), except one the guard holds, which a newer import that lands supersedes."""
    busy = select(FeedImport.partner_id).where(
        FeedImport.status == "running", FeedImport.lease_until >= now
    )
    older = aliased(FeedImport)
    waits_for_older = (
        select(older.id)
        .where(
            older.partner_id == FeedImport.partner_id,
            older.id < FeedImport.id,
            older.status.in_(("queued", "running")),
            or_(older.approval.is_(None), older.approval == "approved"),
        )
        .exists()
    )
    query = (
        select(FeedImport.id)
        .where(_claimable(now), FeedImport.partner_id.not_in(busy), ~waits_for_older)
        .order_by(FeedImport.id)
        .limit(5)
    )
    for candidate in due_ids(session, query):
        with transaction(session):
            claimed = session.execute(
                update(FeedImport)
                .where(FeedImport.id == candidate, _claimable(now))
                .values(
                    status="running",
                    claimed_by=holder,
                    lease_until=now + LEASE,
                    attempts=FeedImport.attempts + 1,
                    started_at=func.coalesce(FeedImport.started_at, now),
                )
                .execution_options(synchronize_session=False)
            )
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            return candidate
    return None
