"""Customer notices: the messages the notification job delivered (see `services.outbox`),
read by their customer on the returns pages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.db import transaction
from app.models.outbox import Notification


def list_notifications(
    session: Session, customer_id: int, *, limit: int = 10
) -> list[Notification]:
    """The customer's latest notices, newest first. Read only."""
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.customer_id == customer_id)
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(limit)
        )
    )


def count_unread_notifications(session: Session, customer_id: int) -> int:
    """How many of the customer's notices they have not marked read. Read only."""
    count = session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.customer_id == customer_id, Notification.read_at.is_(None))
    )
    return int(count or 0)


def mark_notifications_read(session: Session, customer_id: int, *, now: datetime) -> int:
    """Mark every unread notice of the customer read, in one transaction; how many were."""
    with transaction(session):
        result = session.execute(
            update(Notification)
            .where(Notification.customer_id == customer_id, Notification.read_at.is_(None))
            .values(read_at=now)
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
