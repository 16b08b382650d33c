"""Flash-sale timers: start and end sales on time, and tidy expired holds.

All three are level-triggered: they select what is due and not done (a scheduled sale whose
start has passed, an open sale whose end has passed, a hold past its expiry still marked
held), so a late, repeated or doubled run changes nothing more. Readers never wait for them:
a sale's state and price are computed from its times, and an expired hold counts for
nothing before it is swept.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.services.flash_sales import end_due_sales, start_due_sales, sweep_expired_holds
from jobs.context import JobContext


def start_sales(session: Session, now: datetime, ctx: JobContext) -> int:
    """Due: scheduled sales whose start has passed (and whose end has not)."""
    return start_due_sales(session, now)


def end_sales(session: Session, now: datetime, ctx: JobContext) -> int:
    """Due: scheduled or active sales whose end has passed; their live holds are released
    and unsold units go back to stock, once."""
    return end_due_sales(session, now)


def expire_holds(session: Session, now: datetime, ctx: JobContext) -> int:
    """Due: holds past their expiry still marked held."""
    return sweep_expired_holds(session, now)
