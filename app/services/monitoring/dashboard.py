"""What `/monitoring/dashboard` shows, read in one go every time it refreshes (every 5 s).

Business cards cover the last 24 hours; traffic covers the last hour (see `traffic`); queue
backlogs, live sales, job health and feed freshness are as they stand now. Every figure is
an aggregate over an indexed column or a small table, so a refresh stays cheap with tens of
thousands of open returns and a day of traffic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models.credit import CreditEntry
from app.models.flash_sales import FlashHold, FlashSale, FlashSaleItem, SaleState
from app.models.monitoring import JobState
from app.models.orders import Order, OrderStatus
from app.models.returns import OutboxMessage, ReturnEvent, ReturnRequest
from app.services.feeds import Freshness, feed_freshness, list_partners
from app.services.flash_sales.lifecycle import live_hold_filter
from app.services.monitoring.health import JOB_STATE_EVERY_SECONDS
from app.services.monitoring.traffic import TrafficReport, read_traffic
from app.services.returns import TEAMS, open_filter

DAY = timedelta(hours=24)
COMPLETED = "COMPLETED"  # the workflow's core end state (CONTRACT §3.4)
REPLACEMENT = "replacement"  # an order's kind when it replaces returned goods (no sale)
STALE_AFTER_INTERVALS = 2
STALE_GRACE_SECONDS = 2.0  # the scheduler's own jitter: a 1 s job is not late at 2.1 s


@dataclass(frozen=True)
class Sales:
    orders: int  # placed in the last 24 h, whatever became of their payment
    paid: int
    revenue_cents: int  # of the paid ones
    payment_failed: int


@dataclass(frozen=True)
class Refunds:
    done: int  # card refunds whose money moved in the last 24 h
    amount_cents: int
    waiting: int  # card refunds queued and not yet through
    average_seconds: float | None  # decision to money moved, of the done ones
    store_credit_cents: int  # issued in the last 24 h


@dataclass(frozen=True)
class ReturnsCard:
    opened: int  # in the last 24 h
    completed: int  # reached COMPLETED in the last 24 h
    open_now: int


@dataclass(frozen=True)
class Backlog:
    team: str
    waiting: int
    breached: int  # past their SLA now
    oldest_seconds: float | None


@dataclass(frozen=True)
class LiveSale:
    id: int
    name: str
    ends_at: datetime
    held: int
    sold: int
    available: int


@dataclass(frozen=True)
class JobHealth:
    job_id: str
    interval_seconds: int
    last_run_at: datetime
    duration_ms: float
    outcome: str
    error: str | None
    age_seconds: float
    # Missed two of its intervals (after its last run's own length and a grace); a healthy
    # job's state is rewritten at least every JOB_STATE_EVERY_SECONDS, so never sooner.
    stale: bool


@dataclass(frozen=True)
class Dashboard:
    now: datetime
    sales: Sales
    refunds: Refunds
    returns: ReturnsCard
    traffic: TrafficReport
    orders_per_minute: list[int]  # the last 60 minutes, oldest first
    returns_per_minute: list[int]
    backlogs: list[Backlog]
    live_sales: list[LiveSale]
    jobs: list[JobHealth]
    feeds: list[Freshness]


def read_dashboard(session: Session, *, now: datetime) -> Dashboard:
    """Everything the dashboard shows at `now`. Read-only."""
    since = now - DAY
    return Dashboard(
        now=now,
        sales=_sales(session, since),
        refunds=_refunds(session, since),
        returns=ReturnsCard(
            opened=_count(session, ReturnRequest.created_at >= since),
            completed=int(
                session.scalar(
                    select(func.count()).where(
                        ReturnEvent.to_state == COMPLETED, ReturnEvent.at >= since
                    )
                )
                or 0
            ),
            open_now=_count(session, open_filter(session)),
        ),
        traffic=read_traffic(session, now=now),
        orders_per_minute=_per_minute(session, Order.created_at, now, Order.kind != REPLACEMENT),
        returns_per_minute=_per_minute(session, ReturnRequest.created_at, now),
        backlogs=_backlogs(session, now),
        live_sales=_live_sales(session, now),
        jobs=_jobs(session, now),
        feeds=[feed_freshness(p, now=now) for p in list_partners(session)],
    )


def _count(session: Session, *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(ReturnRequest).where(*where)) or 0)


def _sales(session: Session, since: datetime) -> Sales:
    """Orders placed since `since` (replacement orders sent for returns are not sales).
    One pass over the created_at range: aggregates filtered by status, no GROUP BY (SQLite
    would otherwise walk the status index over every order ever placed)."""
    paid = Order.status == OrderStatus.PAID
    orders, paid_count, revenue, failed = session.execute(
        select(
            func.count(),
            func.count().filter(paid),
            func.coalesce(func.sum(Order.total_cents).filter(paid), 0),
            func.count().filter(Order.status == OrderStatus.PAYMENT_FAILED),
        ).where(Order.created_at >= since, Order.kind != REPLACEMENT)
    ).one()
    return Sales(
        orders=int(orders),
        paid=int(paid_count),
        revenue_cents=int(revenue),
        payment_failed=int(failed),
    )


def _refunds(session: Session, since: datetime) -> Refunds:
    done = session.execute(
        select(OutboxMessage.payload, OutboxMessage.created_at, OutboxMessage.done_at).where(
            OutboxMessage.kind == "refund",
            OutboxMessage.status == "done",
            OutboxMessage.done_at >= since,
        )
    ).all()
    amount, seconds = 0, 0.0
    for payload, created_at, done_at in done:
        amount += int(json.loads(payload).get("amount_cents", 0))
        if done_at is not None:  # the query asks for done ones; this tells the type checker
            seconds += max(0.0, (done_at - created_at).total_seconds())
    # Through the due index (status first): the pending few, not every refund ever.
    waiting = session.scalar(
        select(func.count().filter(OutboxMessage.kind == "refund")).where(
            OutboxMessage.status == "pending"
        )
    )
    credit = session.scalar(
        select(func.coalesce(func.sum(CreditEntry.amount_cents), 0)).where(
            CreditEntry.amount_cents > 0, CreditEntry.created_at >= since
        )
    )
    return Refunds(
        done=len(done),
        amount_cents=amount,
        waiting=int(waiting or 0),
        average_seconds=seconds / len(done) if done else None,
        store_credit_cents=int(credit or 0),
    )


def _per_minute(session: Session, column: Any, now: datetime, *where: Any) -> list[int]:
    """Rows created in each of the last 60 minutes (the current one last), counted by the
    database grouped on the minute."""
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=59)
    if session.get_bind().dialect.name == "postgresql":
        minute: Any = func.date_trunc("minute", column)
    else:  # SQLite keeps UTC as 'YYYY-MM-DD HH:MM:SS.ffffff': its first 16 characters
        minute = func.substr(column, 1, 16)
    rows = session.execute(
        select(minute, func.count()).where(column >= start, *where).group_by(minute)
    ).all()
    counts = [0] * 60
    for at, n in rows:
        if isinstance(at, str):
            at = datetime.fromisoformat(at).replace(tzinfo=UTC)
        index = int((at - start).total_seconds() // 60)
        if 0 <= index < 60:
            counts[index] += int(n)
    return counts


def _backlogs(session: Session, now: datetime) -> list[Backlog]:
    """Two index-only scans: waiting and oldest per team (team, state_entered_at), and the
    late ones per team (team, sla_due_at)."""
    waiting = {
        str(team): (int(n), oldest)
        for team, n, oldest in session.execute(
            select(ReturnRequest.team, func.count(), func.min(ReturnRequest.state_entered_at))
            .where(ReturnRequest.team.in_(TEAMS))
            .group_by(ReturnRequest.team)
        )
    }
    late = {
        str(team): int(n)
        for team, n in session.execute(
            select(ReturnRequest.team, func.count())
            .where(ReturnRequest.team.in_(TEAMS), ReturnRequest.sla_due_at < now)
            .group_by(ReturnRequest.team)
        )
    }
    backlogs = []
    for team in TEAMS:
        count, oldest = waiting.get(team, (0, None))
        backlogs.append(
            Backlog(
                team=team,
                waiting=count,
                breached=late.get(team, 0),
                oldest_seconds=(now - oldest).total_seconds() if oldest is not None else None,
            )
        )
    return backlogs


def _live_sales(session: Session, now: datetime) -> list[LiveSale]:
    held = (
        select(FlashHold.sale_id, func.sum(FlashHold.quantity).label("held"))
        .where(live_hold_filter(now))
        .group_by(FlashHold.sale_id)
        .subquery()
    )
    rows = session.execute(
        select(
            FlashSale.id,
            FlashSale.name,
            FlashSale.ends_at,
            func.sum(FlashSaleItem.quantity),
            func.sum(FlashSaleItem.sold),
            func.sum(FlashSaleItem.returned),
            func.coalesce(func.max(held.c.held), 0),
        )
        .join(FlashSaleItem, FlashSaleItem.sale_id == FlashSale.id)
        .outerjoin(held, held.c.sale_id == FlashSale.id)
        .where(FlashSale.state == SaleState.ACTIVE)
        .group_by(FlashSale.id, FlashSale.name, FlashSale.ends_at)
        .order_by(FlashSale.ends_at, FlashSale.id)
    ).all()
    return [
        LiveSale(
            id=int(sale_id),
            name=name,
            ends_at=ends_at,
            held=int(held_units),
            sold=int(sold),
            available=max(0, int(quantity) - int(sold) - int(returned) - int(held_units)),
        )
        for sale_id, name, ends_at, quantity, sold, returned, held_units in rows
    ]


def _jobs(session: Session, now: datetime) -> list[JobHealth]:
    jobs = []
    for state in session.scalars(select(JobState).order_by(JobState.job_id)):
        age = max(0.0, (now - state.last_run_at).total_seconds())
        jobs.append(
            JobHealth(
                job_id=state.job_id,
                interval_seconds=state.interval_seconds,
                last_run_at=state.last_run_at,
                duration_ms=state.last_duration_ms,
                outcome=state.last_outcome,
                error=state.last_error,
                age_seconds=age,
                stale=age
                > max(STALE_AFTER_INTERVALS * state.interval_seconds, JOB_STATE_EVERY_SECONDS)
                + state.last_duration_ms / 1000
                + STALE_GRACE_SECONDS,
            )
        )
    return jobs
