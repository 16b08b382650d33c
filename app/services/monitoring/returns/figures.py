"""Returns analytics, the figures: the plain objects the page and the CSV are made of, the
constants that bound them, and the helpers the modules beside it use (the RMA engines a
return may be on, a state's label, a stored time as epoch seconds or as its UTC day in SQL
that SQLite and PostgreSQL both run, and an average in whole seconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from app.models.workflows import WorkflowDefinition
from app.services.workflows import DRAFT, RMA, load_engine
from workflows.engine import Engine

MAX_DAYS = 366
TOP_PRODUCTS = 10
REFUND_STATUSES = ("succeeded", "pending", "failed")
TEAM_ORDER = ("support", "warehouse", "finance", "customer")
# SQLite's julianday() arithmetic is exact to ~50 µs; a visit that left at its due second
# must not be called late because of that.
SLA_TOLERANCE_SECONDS = 0.001
CREDIT_REASONS = {
    "return_store_credit": "Store credit chosen as the disposition",
    "return_refund": "Refund the card could not take back",
}


@dataclass(frozen=True)
class Day:
    day: date
    opened: int
    closed: int


@dataclass(frozen=True)
class Timing:
    """Visits (or returns) counted and their average length, in whole seconds."""

    key: str
    label: str
    count: int
    average_seconds: int | None


@dataclass(frozen=True)
class TeamSla:
    team: str
    visits: int  # left in the range, or still in the state when it ends
    on_time: int  # of those: left within the state's SLA (or still within it then)
    breached_now: int  # returns waiting on the team past their due time at `now`

    @property
    def compliance(self) -> float | None:
        return None if not self.visits else 100.0 * self.on_time / self.visits


@dataclass(frozen=True)
class Count:
    key: str
    label: str
    count: int
    cents: int = 0


@dataclass(frozen=True)
class ProductReturns:
    sku: str
    name: str
    category: str
    units_returned: int
    units_sold: int

    @property
    def rate(self) -> float | None:
        return None if not self.units_sold else 100.0 * self.units_returned / self.units_sold


@dataclass(frozen=True)
class CategoryReasons:
    category: str
    reasons: dict[str, int]  # reason -> returns with a line in this category
    returns: int


@dataclass(frozen=True)
class ReturnsAnalytics:
    start: datetime
    end: datetime
    now: datetime
    days: tuple[Day, ...]
    cycle: Timing  # every return closed in the range
    outcomes: tuple[Timing, ...]  # the same, per terminal state
    stages: tuple[Timing, ...]  # visits that left each state in the range
    teams: tuple[TeamSla, ...]
    dispositions: tuple[Count, ...]  # of returns opened in the range; "" = not decided yet
    products: tuple[ProductReturns, ...]
    categories: tuple[CategoryReasons, ...]
    card_refunds: tuple[Count, ...]  # by refund status: returns and cents to the card
    store_credit: tuple[Count, ...]  # by ledger reason: entries and cents

    @property
    def opened(self) -> int:
        return sum(d.opened for d in self.days)

    @property
    def closed(self) -> int:
        return sum(d.closed for d in self.days)

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(microseconds=1)).date()


def load_engines(session: Session) -> dict[int, Engine]:
    """Every RMA version records may be on (published or retired; drafts have none)."""
    versions = session.scalars(
        select(WorkflowDefinition.version).where(
            WorkflowDefinition.name == RMA, WorkflowDefinition.status != DRAFT
        )
    )
    return {v: load_engine(session, RMA, v) for v in versions}


def state_label(engines: dict[int, Engine], state: str) -> str:
    """The state's label in the newest version that has the state."""
    labels = {s.name: s.label for v in sorted(engines) for s in engines[v].definition.states}
    return labels.get(state, state)


def epoch_of(session: Session, column: Any) -> ColumnElement[Any]:
    """Seconds since 1970 of a stored time (SQLite keeps text; PostgreSQL timestamptz)."""
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(column) - 2440587.5) * 86400.0
    return func.date_part("epoch", column)  # double precision (extract gives numeric)


def day_of(session: Session, column: Any) -> ColumnElement[Any]:
    """The UTC calendar day of a stored time as 'YYYY-MM-DD' text."""
    if session.get_bind().dialect.name == "sqlite":
        return func.substr(column, 1, 10)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")


def average(total: Any, count: int) -> int | None:
    return round(float(total or 0) / count) if count else None
