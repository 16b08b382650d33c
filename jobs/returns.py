"""Return jobs: gateway refunds from the outbox, completing settled returns, notices."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.services import returns
from jobs.context import JobContext


def send_refunds(session: Session, now: datetime, ctx: JobContext) -> int:
    """Due: pending refund messages whose next attempt time has come. Each is claimed by
    compare-and-set and the gateway call is idempotent by the message key, so a repeat or a
    second scheduler refunds nothing twice."""
    return returns.execute_refunds(session, ctx.payments, now=now)


def complete_returns(session: Session, now: datetime, ctx: JobContext) -> int:
    """Due: open returns whose refund or credit succeeded. Completing moves them to a
    terminal state, so a second run finds nothing."""
    return returns.complete_settled_returns(session, now=now)


def deliver_notices(session: Session, now: datetime, ctx: JobContext) -> int:
    """Due: pending notice messages in the outbox. Each becomes one delivered notice, once."""
    return returns.deliver_notices(session, now=now)
