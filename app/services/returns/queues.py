"""Team queues: the returns a team must act on, oldest first, with their SLA clocks.

Which team waits on a return is decided by the workflow definition (each state's team,
possibly by disposition) and stored on the return at every transition, so a queue is one
indexed range scan however many returns exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, lazyload

from app.db import clean_text, contains
from app.errors import NotFound
from app.models.orders import Order
from app.models.returns import ReturnRequest
from app.models.users import User
from app.services.pagination import Page, paginate
from app.services.read_cache import returns_reads
from app.services.users import Person, display_name

TEAMS = ("support", "warehouse", "finance")


@dataclass(frozen=True)
class QueueItem:
    record: ReturnRequest
    person: Person  # the customer
    order_number: str
    age_seconds: int
    breached: bool

    @property
    def customer(self) -> str:
        """The customer as pages and the API name them (`display_name`)."""
        return display_name(self.person)


@dataclass(frozen=True)
class QueueFilters:
    state: str = ""
    reason: str = ""
    older_than_hours: int | None = None
    search: str = ""


def list_queue(
    session: Session,
    team: str,
    *,
    filters: QueueFilters,
    now: datetime,
    page: int = 1,
    per_page: int = 20,
    with_lines: bool = True,
    total: int | None = None,
) -> Page[QueueItem]:
    """One page of what `team` waits on, oldest first. Raises NotFound for unknown teams.
    Without `with_lines` the returns' lines and photos are not read (queue rows show none;
    they still load if touched). `total`: how many the queue holds, when the caller has
    read it already (`queue_counts`) and no filter is set."""
    if team not in TEAMS:
        raise NotFound("no such team")
    # Every filter but the search is on the return itself; the count needs no joins then
    # (each return has exactly one customer and one order).
    conditions = [ReturnRequest.team == team]
    # PostgreSQL refuses NUL in a parameter; no state, reason or name contains one.
    state, reason = clean_text(filters.state), clean_text(filters.reason)
    if state:
        conditions.append(ReturnRequest.state == state)
    if reason:
        conditions.append(ReturnRequest.reason == reason)
    if filters.older_than_hours is not None:
        cutoff = now - timedelta(hours=filters.older_than_hours)
        conditions.append(ReturnRequest.state_entered_at <= cutoff)
    query = (
        select(ReturnRequest, User.username, User.name, Order.number)
        .join(User, User.id == ReturnRequest.customer_id)
        .join(Order, Order.id == ReturnRequest.order_id)
        .where(*conditions)
        .order_by(ReturnRequest.state_entered_at, ReturnRequest.id)
    )
    if not with_lines:
        query = query.options(lazyload(ReturnRequest.lines), lazyload(ReturnRequest.photos))
    count_query: Select[*tuple[Any, ...]] = select(ReturnRequest.id).where(*conditions)
    term = clean_text(filters.search).strip()[:100]
    if term:
        query = query.where(
            or_(
                contains(ReturnRequest.number, term),
                contains(User.username, term),
                contains(User.name, term),
                contains(Order.number, term),
            )
        )
        count_query = query
    result = paginate(
        session, query, page=page, per_page=per_page, rows=True, count_query=count_query,
        total=total if filters == QueueFilters() else None,
    )  # fmt: skip
    items = [
        _item(record, username, name, number, now)
        for record, username, name, number in result.items
    ]
    return Page(items, result.total, result.page, result.per_page)


def queue_item(session: Session, record: ReturnRequest, now: datetime) -> QueueItem:
    """`record` as a queue row shows it (its customer's name, its order number, its clock),
    for a row shown again after an action. Read only."""
    username, name, order_number = session.execute(
        select(User.username, User.name, Order.number)
        .select_from(ReturnRequest)
        .join(User, User.id == ReturnRequest.customer_id)
        .join(Order, Order.id == ReturnRequest.order_id)
        .where(ReturnRequest.id == record.id)
    ).one()
    return _item(record, username, name, order_number, now)


def _item(
    record: ReturnRequest, username: str, name: str, order_number: str, now: datetime
) -> QueueItem:
    return QueueItem(
        record=record,
        person=Person(username, name or ""),
        order_number=order_number,
        age_seconds=max(0, int((now - record.state_entered_at).total_seconds())),
        breached=record.sla_due_at is not None and record.sla_due_at < now,
    )


def queue_counts(session: Session) -> dict[str, int]:
    """How many returns wait on each team (for navigation badges). Every staff page shows
    them, so the process reads them at most once a second, and at once after it moved a
    return (another process's changes show within that second)."""
    return dict(returns_reads.get(session, "queue_counts", lambda: _count_queues(session)))


def _count_queues(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(ReturnRequest.team, func.count())
        .where(ReturnRequest.team.in_(TEAMS))
        .group_by(ReturnRequest.team)
    ).all()
    counts = dict.fromkeys(TEAMS, 0)
    counts.update({str(team): int(n) for team, n in rows})
    return counts
