"""Settling orders a crash left between stock taken and payment answered."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.services.orders import reconcile_pending_orders
from jobs.context import JobContext


def reconcile_orders(session: Session, now: datetime, ctx: JobContext) -> int:
    """Due: orders still `pending_payment` past the grace period. Each is settled by a
    compare-and-set on its status, so a second run (or a late in-flight request) finds
    nothing left to do."""
    return reconcile_pending_orders(
        session, ctx.payments, now=now, grace_seconds=ctx.config.order_pending_grace_seconds
    )
