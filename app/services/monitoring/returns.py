"""Returns analytics (issue 13's `/monitoring/returns`): what happened to returns over a
half-open UTC range [start, end), read from the rows at request time so every web process
answers alike. Read only; a dozen GROUP BY queries whatever the number of returns.

Two kinds of figures, each named on the page:
- flows in the range: returns opened per day (`created_at`), returns closed per day (a
  terminal state of their version entered), the cycle time of those closed (opened to
  closed), time in each state and SLA compliance per team, from the event log;
- the returns opened in the range (a cohort): dispositions, reasons by product category,
  the most returned products with their return rate, refunds and store credit.

A stage visit is the time between the event that entered a state and the return's next
state-changing event (self-loops such as a refund retry keep the clock, as the queues do).
Its team and SLA come from the definition of the version the event was written on, the team
resolved with the return's disposition, as `Engine.team_for` does.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Float, and_, case, cast, false, func, null, or_, select
from sqlalchemy.orm import Session

from app.errors import ValidationError
from app.models.catalog import Product
from app.models.credit import CreditEntry
from app.models.orders import Order, OrderLine, OrderStatus
from app.models.returns import ReturnEvent, ReturnLine, ReturnRequest
from app.models.workflows import WorkflowDefinition
from app.services.feeds.reports import safe_cell
from app.services.returns import REASONS
from app.services.workflows import DRAFT, RMA, load_engine
from workflows.engine import Engine
from workflows.schema import StateSpec

MAX_DAYS = 366
TOP_PRODUCTS = 10
REFUND_STATUSES = ("succeeded", "pending", "failed")
TEAM_ORDER = ("support", "warehouse", "finance", "customer")
# SQLite's julianday() arithmetic is exact to ~50 µs; a visit that left at its due second
# must not be called late because of that.
SLA_TOLERANCE_SECONDS = 0.001


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


def range_problems(start: datetime, end: datetime) -> dict[str, str]:
    """What is wrong with [start, end) as a range (empty when nothing is)."""
    if end <= start:
        return {"to": "must be on or after the first day"}
    if end - start > timedelta(days=MAX_DAYS):
        return {"to": f"must be at most {MAX_DAYS} days after the first day"}
    return {}


def returns_analytics(
    session: Session, *, start: datetime, end: datetime, now: datetime
) -> ReturnsAnalytics:
    """Every figure of the analytics page for [start, end) as of `now` (aware UTC times).
    Read only. Raises ValidationError when `end` is not after `start` or the range is longer
    than MAX_DAYS days."""
    problems = range_problems(start, end)
    if problems:
        raise ValidationError(problems)
    engines = _engines(session)
    opened = dict(_per_day(session, ReturnRequest.created_at, start, end))
    closed, cycle, outcomes = _closed(session, engines, start, end)
    stages, teams = _visits(session, engines, start, min(now, end), now)
    cohort = and_(ReturnRequest.created_at >= start, ReturnRequest.created_at < end)
    days = []
    for n in range(math.ceil((end - start) / timedelta(days=1))):
        day = (start + timedelta(days=n)).date()
        days.append(Day(day, opened.get(day, 0), closed.get(day, 0)))
    return ReturnsAnalytics(
        start=start, end=end, now=now, days=tuple(days), cycle=cycle, outcomes=outcomes,
        stages=stages, teams=teams, dispositions=_dispositions(session, cohort),
        products=_products(session, cohort, start, end),
        categories=_categories(session, cohort), card_refunds=_card_refunds(session, cohort),
        store_credit=_store_credit(session, cohort),
    )  # fmt: skip


def _engines(session: Session) -> dict[int, Engine]:
    """Every RMA version records may be on (published or retired; drafts have none)."""
    versions = session.scalars(
        select(WorkflowDefinition.version).where(
            WorkflowDefinition.name == RMA, WorkflowDefinition.status != DRAFT
        )
    )
    return {v: load_engine(session, RMA, v) for v in versions}


def _states(engines: dict[int, Engine]) -> dict[tuple[int, str], StateSpec]:
    return {(v, s.name): s for v, e in engines.items() for s in e.definition.states}


def _label(engines: dict[int, Engine], state: str) -> str:
    """The state's label in the newest version that has the state."""
    labels = {s.name: s.label for v in sorted(engines) for s in engines[v].definition.states}
    return labels.get(state, state)


def _epoch(session: Session, column: Any) -> ColumnElement[Any]:
    """Seconds since 1970 of a stored time (SQLite keeps text; PostgreSQL timestamptz)."""
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(column) - 2440587.5) * 86400.0
    return func.date_part("epoch", column)  # double precision (extract gives numeric)


def _day(session: Session, column: Any) -> ColumnElement[Any]:
    """The UTC calendar day of a stored time as 'YYYY-MM-DD' text."""
    if session.get_bind().dialect.name == "sqlite":
        return func.substr(column, 1, 10)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")


def _per_day(
    session: Session, column: Any, start: datetime, end: datetime
) -> Iterator[tuple[date, int]]:
    day = _day(session, column)
    rows = session.execute(
        select(day, func.count()).where(column >= start, column < end).group_by(day)
    )
    for text, n in rows:
        yield date.fromisoformat(str(text)), int(n)


def _terminal(engines: dict[int, Engine]) -> ColumnElement[bool]:
    """The return is in a terminal state of its own version."""
    return or_(
        false(),
        *(
            and_(
                ReturnRequest.workflow_version == v,
                ReturnRequest.state.in_([s.name for s in e.definition.states if s.terminal]),
            )
            for v, e in engines.items()
        ),
    )


def _average(total: Any, count: int) -> int | None:
    return round(float(total or 0) / count) if count else None


def _closed(
    session: Session, engines: dict[int, Engine], start: datetime, end: datetime
) -> tuple[dict[date, int], Timing, tuple[Timing, ...]]:
    """Returns closed in the range: per day, and their cycle time overall and per terminal
    state. A terminal state is never left, so its `state_entered_at` is when it closed."""
    closed_at = ReturnRequest.state_entered_at
    day = _day(session, closed_at)
    length = _epoch(session, closed_at) - _epoch(session, ReturnRequest.created_at)
    rows = session.execute(
        select(day, ReturnRequest.state, func.count(), func.sum(length))
        .where(_terminal(engines), closed_at >= start, closed_at < end)
        .group_by(day, ReturnRequest.state)
    ).all()
    per_day: dict[date, int] = {}
    per_state: dict[str, tuple[int, float]] = {}
    for text, state, n, total in rows:
        key = date.fromisoformat(str(text))
        per_day[key] = per_day.get(key, 0) + int(n)
        count, seconds = per_state.get(state, (0, 0.0))
        per_state[state] = (count + int(n), seconds + float(total or 0))
    outcomes = tuple(
        Timing(state, _label(engines, state), n, _average(seconds, n))
        for state, (n, seconds) in sorted(per_state.items(), key=lambda kv: (-kv[1][0], kv[0]))
    )
    count = sum(n for n, _ in per_state.values())
    total = sum(seconds for _, seconds in per_state.values())
    return per_day, Timing("all", "All closed returns", count, _average(total, count)), outcomes


def _visits(
    session: Session, engines: dict[int, Engine], start: datetime, as_of: datetime, now: datetime
) -> tuple[tuple[Timing, ...], tuple[TeamSla, ...]]:
    """Time in each state (visits that left it in [start, as_of)) and SLA compliance per
    team (those visits, plus the visits still open at `as_of`, measured then)."""
    states = _states(engines)
    stage: dict[str, tuple[int, float]] = {}
    team: dict[str, tuple[int, int]] = {}
    for (
        version,
        state,
        disposition,
        left,
        seconds,
        left_on_time,
        open_,
        open_on_time,
    ) in _visit_rows(session, engines, start, as_of):
        spec = states.get((int(version), str(state)))
        if spec is None or spec.terminal:
            continue
        n, total = stage.get(spec.name, (0, 0.0))
        stage[spec.name] = (n + int(left or 0), total + float(seconds or 0))
        who = engines[int(version)].team_for(spec.name, {"disposition": disposition})
        if who is not None and spec.sla_hours:
            visits, on_time = team.get(who, (0, 0))
            team[who] = (
                visits + int(left or 0) + int(open_ or 0),
                on_time + int(left_on_time or 0) + int(open_on_time or 0),
            )
    order = {name: i for i, name in enumerate(_state_order(engines))}
    stages = tuple(
        Timing(name, _label(engines, name), n, _average(total, n))
        for name, (n, total) in sorted(stage.items(), key=lambda kv: (order.get(kv[0], 999), kv[0]))
        if n
    )
    breached = _breached(session, now)
    names = sorted(set(team) | set(breached), key=lambda t: (_rank(t), t))
    teams = tuple(
        TeamSla(t, *team.get(t, (0, 0)), breached_now=int(breached.get(t, 0))) for t in names
    )
    return stages, teams


def _visit_rows(
    session: Session, engines: dict[int, Engine], start: datetime, as_of: datetime
) -> list[Any]:
    """Per (version, state, disposition): visits that left in [start, as_of), their total
    seconds, how many of them within the SLA; visits still open at `as_of`, how many of
    them within the SLA then."""
    event, ret = ReturnEvent, ReturnRequest
    at = _epoch(session, event.at)
    # Times as seconds, computed once per event; only returns alive during the range
    # (opened before it ended, not closed before it began) are read.
    moves = (
        select(
            event.workflow_version.label("version"),
            event.to_state.label("state"),
            ret.disposition,
            _sla_seconds(engines, event.workflow_version, event.to_state).label("sla"),
            at.label("entered"),
            func.lead(at).over(partition_by=event.return_id, order_by=event.id).label("left"),
        )
        .join(ret, ret.id == event.return_id)
        .where(
            ret.created_at < as_of,
            or_(~_terminal(engines), ret.state_entered_at >= start),
            or_(event.from_state.is_(None), event.from_state != event.to_state),
        )
        .subquery()
    )
    sla = moves.c.sla
    until = as_of.timestamp()
    finished = and_(moves.c.left.is_not(None), moves.c.left < until)
    length = moves.c.left - moves.c.entered
    limit = sla + SLA_TOLERANCE_SECONDS
    rows = session.execute(
        select(
            moves.c.version,
            moves.c.state,
            moves.c.disposition,
            func.sum(case((finished, 1), else_=0)),
            func.sum(case((finished, length), else_=0)),
            func.sum(case((finished, case((length <= limit, 1), else_=0)), else_=0)),
            func.sum(case((finished, 0), else_=1)),
            func.sum(
                case((finished, 0), else_=case((until - moves.c.entered <= limit, 1), else_=0))
            ),
        )
        .where(
            moves.c.entered < until,
            or_(moves.c.left.is_(None), moves.c.left >= start.timestamp()),
        )
        .group_by(moves.c.version, moves.c.state, moves.c.disposition)
    ).all()
    return list(rows)


def _breached(session: Session, now: datetime) -> dict[str, int]:
    """Returns waiting on each team past their due time at `now`."""
    rows = session.execute(
        select(ReturnRequest.team, func.count())
        .where(ReturnRequest.team.is_not(None), ReturnRequest.sla_due_at < now)
        .group_by(ReturnRequest.team)
    )
    return {str(team): int(n) for team, n in rows}


def _sla_seconds(engines: dict[int, Engine], version: Any, state: Any) -> ColumnElement[Any]:
    """The SLA in seconds of (version, state), NULL where the state has none."""
    by_version = {
        v: {s.name: s.sla_hours * 3600.0 for s in e.definition.states if s.sla_hours}
        for v, e in engines.items()
    }
    whens = {v: case(slas, value=state) for v, slas in by_version.items() if slas}
    return case(whens, value=version) if whens else cast(null(), Float)


def _state_order(engines: dict[int, Engine]) -> list[str]:
    return [s.name for v in sorted(engines, reverse=True) for s in engines[v].definition.states]


def _rank(team: str) -> int:
    return TEAM_ORDER.index(team) if team in TEAM_ORDER else len(TEAM_ORDER)


def _dispositions(session: Session, cohort: ColumnElement[bool]) -> tuple[Count, ...]:
    rows = session.execute(
        select(ReturnRequest.disposition, func.count())
        .where(cohort)
        .group_by(ReturnRequest.disposition)
    ).all()
    counts = [Count(d or "", _words(d) if d else "Not decided yet", int(n)) for d, n in rows]
    return tuple(sorted(counts, key=lambda c: (not c.key, -c.count, c.key)))


def _words(code: str) -> str:
    return code.replace("_", " ").capitalize()


def _products(
    session: Session, cohort: ColumnElement[bool], start: datetime, end: datetime
) -> tuple[ProductReturns, ...]:
    """The TOP_PRODUCTS products with the most units on returns opened in the range, and
    the units of them sold in the range (paid orders; replacements are not sales)."""
    units = func.sum(ReturnLine.quantity)
    top = session.execute(
        select(ReturnLine.product_id, Product.sku, Product.name, Product.category, units)
        .join(ReturnRequest, ReturnRequest.id == ReturnLine.return_id)
        .join(Product, Product.id == ReturnLine.product_id)
        .where(cohort)
        .group_by(ReturnLine.product_id, Product.sku, Product.name, Product.category)
        .order_by(units.desc(), ReturnLine.product_id)
        .limit(TOP_PRODUCTS)
    ).all()
    sold: dict[int, int] = {}
    if top:
        sold = {
            int(p): int(n)
            for p, n in session.execute(
                select(OrderLine.product_id, func.sum(OrderLine.quantity))
                .join(Order, Order.id == OrderLine.order_id)
                .where(
                    OrderLine.product_id.in_([row[0] for row in top]),
                    Order.created_at >= start,
                    Order.created_at < end,
                    Order.status == OrderStatus.PAID,
                    Order.kind != "replacement",
                )
                .group_by(OrderLine.product_id)
            )
        }
    return tuple(
        ProductReturns(sku, name, category, int(n), sold.get(product_id, 0))
        for product_id, sku, name, category, n in top
    )


def _categories(session: Session, cohort: ColumnElement[bool]) -> tuple[CategoryReasons, ...]:
    """Returns per product category and reason (a return counts once in each category its
    lines are in)."""
    rows = session.execute(
        select(Product.category, ReturnRequest.reason, func.count(ReturnRequest.id.distinct()))
        .join(ReturnLine, ReturnLine.return_id == ReturnRequest.id)
        .join(Product, Product.id == ReturnLine.product_id)
        .where(cohort)
        .group_by(Product.category, ReturnRequest.reason)
    ).all()
    reasons: dict[str, dict[str, int]] = {}
    for category, reason, n in rows:
        reasons.setdefault(category, dict.fromkeys(REASONS, 0))[reason] = int(n)
    # A return has one reason: its category's returns are the sum over the reasons.
    totals = {category: sum(by_reason.values()) for category, by_reason in reasons.items()}
    return tuple(
        CategoryReasons(category, by_reason, int(totals[category]))
        for category, by_reason in sorted(reasons.items(), key=lambda kv: (-totals[kv[0]], kv[0]))
    )


def _card_refunds(session: Session, cohort: ColumnElement[bool]) -> tuple[Count, ...]:
    """Refunds to the card by status: the decided amount less what went to store credit
    because the card could not take it back (the part of the order paid with credit)."""
    credited = (
        select(CreditEntry.return_id, func.sum(CreditEntry.amount_cents).label("cents"))
        .where(CreditEntry.reason == "return_refund", CreditEntry.amount_cents > 0)
        .group_by(CreditEntry.return_id)
        .subquery()
    )
    to_card = func.coalesce(ReturnRequest.amount_cents, 0) - func.coalesce(credited.c.cents, 0)
    rows = session.execute(
        select(ReturnRequest.refund_status, func.count(), func.sum(to_card))
        .outerjoin(credited, credited.c.return_id == ReturnRequest.id)
        .where(cohort, ReturnRequest.disposition == "REFUND", to_card > 0)
        .where(ReturnRequest.refund_status.in_(REFUND_STATUSES))
        .group_by(ReturnRequest.refund_status)
    ).all()
    found = {str(s): (int(n), int(c or 0)) for s, n, c in rows}
    return tuple(Count(s, _words(s), *found.get(s, (0, 0))) for s in REFUND_STATUSES)


CREDIT_REASONS = {
    "return_store_credit": "Store credit chosen as the disposition",
    "return_refund": "Refund the card could not take back",
}


def _store_credit(session: Session, cohort: ColumnElement[bool]) -> tuple[Count, ...]:
    rows = session.execute(
        select(CreditEntry.reason, func.count(), func.sum(CreditEntry.amount_cents))
        .join(ReturnRequest, ReturnRequest.id == CreditEntry.return_id)
        .where(cohort, CreditEntry.amount_cents > 0)
        .group_by(CreditEntry.reason)
    ).all()
    found = {str(r): (int(n), int(c or 0)) for r, n, c in rows}
    reasons = [*CREDIT_REASONS, *sorted(set(found) - set(CREDIT_REASONS))]
    return tuple(Count(r, CREDIT_REASONS.get(r, _words(r)), *found.get(r, (0, 0))) for r in reasons)


def returns_analytics_csv(result: ReturnsAnalytics) -> str:
    """The analytics as CSV, one figure a row (section, item, measure, value), ready to
    filter or pivot in a spreadsheet: durations in hours, money in dollars, shares in
    percent. Every cell that a spreadsheet would read as a formula is defused."""
    rows: list[tuple[str, str, str, object]] = [
        ("range", "first day", "date", result.start.date().isoformat()),
        ("range", "last day", "date", result.last_day.isoformat()),
        ("summary", "returns", "opened", result.opened),
        ("summary", "returns", "closed", result.closed),
    ]
    for day in result.days:
        rows += [("volume", day.day.isoformat(), "opened", day.opened)]
        rows += [("volume", day.day.isoformat(), "closed", day.closed)]
    for timing in (result.cycle, *result.outcomes):
        rows += _timing("cycle time", timing, "returns closed")
    for timing in result.stages:
        rows += _timing("time in state", timing, "visits ended")
    for team in result.teams:
        rows += [
            ("sla", team.team, "visits", team.visits),
            ("sla", team.team, "on time", team.on_time),
            ("sla", team.team, "compliance %", _number(team.compliance)),
            ("sla", team.team, "breached now", team.breached_now),
        ]
    rows += [("disposition", c.label, "returns", c.count) for c in result.dispositions]
    for product in result.products:
        item = f"{product.sku} {product.name}"
        rows += [
            ("top product", item, "category", product.category),
            ("top product", item, "units returned", product.units_returned),
            ("top product", item, "units sold", product.units_sold),
            ("top product", item, "return rate %", _number(product.rate)),
        ]
    for category in result.categories:
        name = category.category or "Uncategorised"
        rows += [("reason by category", name, reason, n) for reason, n in category.reasons.items()]
        rows += [("reason by category", name, "all reasons", category.returns)]
    for refund in result.card_refunds:
        rows += [("card refund", refund.label, "returns", refund.count)]
        rows += [("card refund", refund.label, "amount $", _dollars(refund.cents))]
    for credit in result.store_credit:
        rows += [("store credit", credit.label, "entries", credit.count)]
        rows += [("store credit", credit.label, "amount $", _dollars(credit.cents))]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "item", "measure", "value"])
    writer.writerows([safe_cell(str(cell)) for cell in row] for row in rows)
    return out.getvalue()


def _timing(section: str, timing: Timing, counted: str) -> list[tuple[str, str, str, object]]:
    hours = None if timing.average_seconds is None else timing.average_seconds / 3600
    return [
        (section, timing.label, counted, timing.count),
        (section, timing.label, "average hours", _number(hours)),
    ]


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}".rstrip("0").rstrip(".")


def _dollars(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"
