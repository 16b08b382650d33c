"""Executing the outbox: gateway refunds (and, through `notices`, customer notices), each at
most once.

A message is claimed by compare-and-set on its status, so two schedulers (or a late retry)
never perform it twice; the gateway refund itself is idempotent by the message's key too.
Failures back off and retry; a refund that keeps failing is marked failed on its return,
where finance sees it and can retry it (a new message, a new key).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from app.db import due_ids, transaction
from app.errors import DomainError
from app.logs import caused_by
from app.models.returns import OutboxMessage, ReturnRequest
from app.payments import BreakerOpen, GatewayFailure, Payments
from app.services.read_cache import returns_reads
from app.services.returns.reads import open_filter
from app.services.returns.transitions import fire_return_trigger

log = logging.getLogger("backroom.outbox")
MAX_REFUND_ATTEMPTS = 5
_outbox = cast(Table, OutboxMessage.__table__)
_returns = cast(Table, ReturnRequest.__table__)


def due_messages(session: Session, kind: str, now: datetime, limit: int) -> list[OutboxMessage]:
    messages = list(
        session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.kind == kind,
                OutboxMessage.status == "pending",
                OutboxMessage.next_attempt_at <= now,
            )
            .order_by(OutboxMessage.id)
            .limit(limit)
            # Attempts and status change through Core updates: never trust a cached copy.
            .execution_options(populate_existing=True)
        )
    )
    session.commit()
    return messages


def close_message(session: Session, message_id: int, status: str, now: datetime) -> bool:
    """Mark a pending message done/failed; False if someone else already did."""
    result = session.connection().execute(
        update(_outbox)
        .where(_outbox.c.id == message_id, _outbox.c.status == "pending")
        .values(status=status, done_at=now)
    )
    return bool(result.rowcount == 1)


def execute_refunds(session: Session, payments: Payments, *, now: datetime, limit: int = 20) -> int:
    """Send due refunds to the gateway. Returns how many succeeded. What is logged while
    sending one carries the id of the request that decided it (`caused_by`)."""
    succeeded = 0
    for message in due_messages(session, "refund", now, limit):
        with caused_by(message.request_id):
            succeeded += _send_refund(session, payments, message, now)
    return succeeded


def _send_refund(
    session: Session, payments: Payments, message: OutboxMessage, now: datetime
) -> int:
    payload: dict[str, Any] = json.loads(message.payload)
    try:
        reference = payments.breaker.call(
            payments.gateway.refund,
            amount_cents=int(payload["amount_cents"]),
            charge_reference=str(payload["charge_reference"]),
            idempotency_key=message.idempotency_key,
        )
    except (BreakerOpen, GatewayFailure) as exc:
        _refund_failed_attempt(session, message, str(exc) or type(exc).__name__, now)
        return 0
    number = None
    with transaction(session):
        if close_message(session, message.id, "done", now):
            session.connection().execute(
                update(_returns)
                .where(_returns.c.id == payload["return_id"])
                .values(refund_status="succeeded", refund_reference=reference)
            )
            number = session.scalar(
                select(ReturnRequest.number).where(ReturnRequest.id == payload["return_id"])
            )
    returns_reads.changed()
    if number is None:
        return 0
    log.info("refund sent for %s (message %s)", number, message.id)
    return 1


def _refund_failed_attempt(
    session: Session, message: OutboxMessage, error: str, now: datetime
) -> None:
    attempts = message.attempts + 1
    payload = json.loads(message.payload)
    with transaction(session):
        if attempts >= MAX_REFUND_ATTEMPTS:
            if close_message(session, message.id, "failed", now):
                session.connection().execute(
                    update(_returns)
                    .where(_returns.c.id == payload["return_id"])
                    .values(refund_status="failed")
                )
            log.warning("refund %s failed for good: %s", message.idempotency_key, error)
        else:
            log.info("refund %s failed (attempt %s), retrying: %s",
                     message.idempotency_key, attempts, error)  # fmt: skip
        backoff = timedelta(seconds=30 * 2 ** min(attempts, 6))
        session.connection().execute(
            update(_outbox)
            .where(_outbox.c.id == message.id)
            .values(attempts=attempts, last_error=error[:500], next_attempt_at=now + backoff)
        )
    if attempts >= MAX_REFUND_ATTEMPTS:
        returns_reads.changed()


def complete_settled_returns(session: Session, *, now: datetime, limit: int = 50) -> int:
    """Fire the system's `complete` on returns whose refund or credit has succeeded."""
    due = due_ids(
        session,
        select(ReturnRequest.id)
        .where(ReturnRequest.refund_status == "succeeded", open_filter(session))
        .order_by(ReturnRequest.id)
        .limit(limit),
    )
    completed = 0
    for return_id in due:
        try:
            fire_return_trigger(session, return_id, "complete", actor=None, fields={},
                                expected_version=None, now=now)  # fmt: skip
            completed += 1
        except DomainError as exc:  # not completable from its state: leave it be
            log.info("return %s not completed: %s", return_id, exc.message)
    return completed
