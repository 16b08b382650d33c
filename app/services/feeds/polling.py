"""Polling partners' feed URLs: due partners are claimed one by one (compare-and-set on
`next_poll_at`), fetched with their ETag / Last-Modified outside any transaction, and a
changed feed is queued as a complete import (`source` "poll"); an unchanged one costs a 304.

A failed fetch is written down for the partner page and retried with backoff: 1, 2, 4 …
minutes after a transient failure, never later than the partner's own interval.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db import due_ids, transaction
from app.models.feeds import Partner
from app.services.feeds.fetching import Fetched, FetchError, fetch_feed
from app.services.feeds.partners import get_partner
from app.services.feeds.queue import feed_path, queue_import, remove_feed_file

POLL_BATCH = 20
MAX_BACKOFF_MINUTES = 60

Fetcher = Callable[..., Fetched]


def due_for_poll(session: Session, now: datetime) -> list[int]:
    """Active partners with a feed URL whose next poll time has come, most overdue first."""
    query = (
        select(Partner.id)
        .where(
            Partner.active.is_(True),
            Partner.feed_url.is_not(None),
            Partner.next_poll_at <= now,
        )
        .order_by(Partner.next_poll_at)
        .limit(POLL_BATCH)
    )
    return due_ids(session, query)


def poll_feed(
    session: Session,
    partner_id: int,
    *,
    now: datetime,
    upload_dir: Path,
    max_bytes: int,
    fetch: Fetcher = fetch_feed,
) -> str:
    """Poll one partner's feed if it is still due; what happened: "claimed_elsewhere",
    "not_modified", "queued" (a changed feed, queued for import) or "failed"."""
    partner = session.get(Partner, partner_id, populate_existing=True)
    session.commit()
    if partner is None or not partner.feed_url or not _claim(session, partner, now):
        return "claimed_elsewhere"
    name = f"{uuid.uuid4().hex}.feed"
    feed_path(upload_dir, name).parent.mkdir(parents=True, exist_ok=True)
    try:
        fetched = fetch(
            partner.feed_url,
            feed_path(upload_dir, name),
            etag=partner.poll_etag,
            last_modified=partner.poll_last_modified,
            max_bytes=max_bytes,
        )
    except FetchError as error:
        _record_failure(session, partner, error, now)
        return "failed"
    if fetched.changed and fetched.size == 0:
        remove_feed_file(upload_dir, name)
        _record_failure(session, partner, FetchError("the feed is empty", transient=False), now)
        return "failed"
    seen: dict[str, Any] = {
        "last_polled_at": now,
        "poll_failures": 0,
        "last_poll_error": None,
        # Validators too long to keep are not kept: the next poll fetches the whole feed.
        "poll_etag": _fits(fetched.etag, 500),
        "poll_last_modified": _fits(fetched.last_modified, 100),
    }
    if not fetched.changed:
        _record(session, partner.id, seen)
        return "not_modified"
    try:
        queue_import(
            session,
            partner.id,
            file_name=name,
            file_size=fetched.size,
            now=now,
            content_type=fetched.content_type,
            complete=True,
            source="poll",
        )
    except BaseException:
        remove_feed_file(upload_dir, name)
        raise
    _record(session, partner.id, seen)
    return "queued"


def _fits(value: str | None, limit: int) -> str | None:
    return value if value is not None and len(value) <= limit else None


def _claim(session: Session, partner: Partner, now: datetime) -> bool:
    """Move the partner's next poll to a full interval from now, only if it is still the
    due time we read: of two schedulers racing, one polls."""
    with transaction(session):
        result = session.execute(
            update(Partner)
            .where(Partner.id == partner.id, Partner.next_poll_at == partner.next_poll_at)
            .where(Partner.next_poll_at <= now)
            .values(next_poll_at=now + timedelta(minutes=partner.poll_minutes or 60))
            .execution_options(synchronize_session=False)
        )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _record_failure(session: Session, partner: Partner, error: FetchError, now: datetime) -> None:
    failures = partner.poll_failures + 1
    interval = partner.poll_minutes or 60
    minutes = (
        min(interval, MAX_BACKOFF_MINUTES, 2 ** (failures - 1)) if error.transient else interval
    )
    _record(
        session,
        partner.id,
        {
            "last_polled_at": now,
            "poll_failures": failures,
            "last_poll_error": str(error)[:500],
            "next_poll_at": now + timedelta(minutes=minutes),
        },
    )


def _record(session: Session, partner_id: int, values: dict[str, Any]) -> None:
    with transaction(session):
        session.execute(
            update(Partner)
            .where(Partner.id == partner_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def poll_now(session: Session, partner_id: int, *, now: datetime) -> Partner:
    """Make the partner's feed due at once (an admin's "poll now"). Raises NotFound."""
    with transaction(session):
        partner = get_partner(session, partner_id)
        if partner.feed_url:
            partner.next_poll_at = now
    return partner
