"""Customer notices: the messages the notification job delivered (see `services.outbox`),
read by their customer on the returns pages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.db import transaction
from app.models.returns import Notice


def list_notifications(session: Session, customer_id: int, *, limit: int = 10) -> list[Notice]:
    """The customer's latest notices, newest first. Read only."""
    return list(
        session.scalars(
            select(Notice)
            .where(Notice.customer_id == customer_id)
            .order_by(Notice.created_at.desc(), Notice.id.desc())
            .limit(limit)
        )
    )


def count_unread_notifications(session: Session, customer_id: int) -> int:
    """How many of the customer's notices they have not marked read. Read only."""
    count = session.scalar(
        select(func.count())
        .select_from(Notice)
        .where(Notice.customer_id == customer_id, Notice.read_at.is_(None))
    )
    return int(count or 0)


def mark_notifications_read(session: Session, customer_id: int, *, now: datetime) -> int:
    """Mark every unread notice of the customer read, in one transaction; how many were."""
    with transaction(session):
        result = session.execute(
            update(Notice)
            .where(Notice.customer_id == customer_id, Notice.read_at.is_(None))
            .values(read_at=now)
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
