"""Customer notices: what a return's transitions tell its customer. The `notify_customer`
effect puts a message in the outbox; `deliver_notices` (the scheduler's job) sends each one
once and keeps it where the customer reads it on the returns pages."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.db import transaction
from app.logs import caused_by
from app.models.returns import Notice
from app.services.returns.outbox import close_message, due_messages
from app.services.workflows import RMA
from workflows.definitions import load_shipped

email_log = logging.getLogger("backroom.email")


def list_notices(session: Session, customer_id: int, *, limit: int = 10) -> list[Notice]:
    """The customer's latest notices, newest first. Read only."""
    return list(
        session.scalars(
            select(Notice)
            .where(Notice.customer_id == customer_id)
            .order_by(Notice.created_at.desc(), Notice.id.desc())
            .limit(limit)
        )
    )


def count_unread_notices(session: Session, customer_id: int) -> int:
    """How many of the customer's notices they have not marked read. Read only."""
    count = session.scalar(
        select(func.count())
        .select_from(Notice)
        .where(Notice.customer_id == customer_id, Notice.read_at.is_(None))
    )
    return int(count or 0)


def mark_notices_read(session: Session, customer_id: int, *, now: datetime) -> int:
    """Mark every unread notice of the customer read, in one transaction; how many were."""
    with transaction(session):
        result = session.execute(
            update(Notice)
            .where(Notice.customer_id == customer_id, Notice.read_at.is_(None))
            .values(read_at=now)
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def deliver_notices(session: Session, *, now: datetime, limit: int = 100) -> int:
    """The email adapter: log each message and keep it where the customer can read it. The
    line logged carries the id of the request that decided the notice (`caused_by`)."""
    delivered = 0
    for message in due_messages(session, "notification", now, limit):
        payload = json.loads(message.payload)
        subject, body = render_notice(payload)
        with transaction(session):
            if not close_message(session, message.id, "done", now):
                continue
            session.add(
                Notice(
                    customer_id=payload["customer_id"],
                    return_id=payload.get("return_id"),
                    subject=subject,
                    body=body,
                    created_at=now,
                )
            )
        with caused_by(message.request_id):
            email_log.info("email to customer %s: %s (message %s)",
                           payload["customer_id"], subject, message.id)  # fmt: skip
        delivered += 1
    return delivered


# What the shipped version 1 says of each state: for notices enqueued before the words
# travelled with the message (the words now come from the return's own version).
_SHIPPED_WORDS = {s["name"]: s.get("notice", "") for s in load_shipped(RMA)["states"]}


def render_notice(payload: dict[str, Any]) -> tuple[str, str]:
    state = str(payload.get("state", ""))
    words = payload.get("words") or _SHIPPED_WORDS.get(state) or "was updated"
    subject = f"Your return {payload.get('number', '')} {words}"
    body = subject + "."
    if payload.get("note"):
        body += f"\n\nNote from our team: {payload['note']}"
    return subject, body
