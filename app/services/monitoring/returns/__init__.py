"""Returns analytics (issue 13's `/monitoring/returns`): what happened to returns over a
half-open UTC range [start, end), read from the rows at request time so every web process
answers alike. Read only; a dozen GROUP BY queries whatever the number of returns.

Two kinds of figures, each named on the page:
- flows in the range: returns opened per day (`created_at`), returns closed per day (a
  terminal state of their version entered), the cycle time of those closed (opened to
  closed), time in each state and SLA compliance per team, from the event log;
- the returns opened in the range (a cohort): dispositions, reasons by product category,
  refunds and store credit;
- the orders placed in the range (another cohort): the most returned products, with the
  units those orders sold and the units returned from those same orders whenever the
  return was opened (cancelled and rejected returns left out), so the return rate never
  mixes one range's returns with another's sales and never passes 100%.

A stage visit is the time between the event that entered a state and the return's next
state-changing event (self-loops such as a refund retry keep the clock, as the queues do).
Its team and SLA come from the definition of the version the event was written on, the team
resolved with the return's disposition, as `Engine.team_for` does.

This module is the door: `range_problems` and `returns_analytics`, which gathers the rest.
- figures: the result objects (`ReturnsAnalytics` and its parts), the constants, and the
  shared helpers (`load_engines`, `epoch_of`, `day_of`, `state_label`, `average`)
- flows: `count_per_day`, `closed_returns` (cycle times), `stage_visits` (time in each
  state, SLA compliance per team, breaches now)
- cohort: `dispositions`, `products` (return rate), `categories` (reasons), `card_refunds`,
  `store_credit`
- export: `returns_analytics_csv`
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import and_
from sqlalchemy.orm import Session

from app.errors import ValidationError
from app.models.returns import ReturnRequest
from app.services.monitoring.returns.cohort import (
    card_refunds,
    categories,
    dispositions,
    products,
    store_credit,
)
from app.services.monitoring.returns.export import returns_analytics_csv
from app.services.monitoring.returns.figures import MAX_DAYS, Day, ReturnsAnalytics, load_engines
from app.services.monitoring.returns.flows import closed_returns, count_per_day, stage_visits

__all__ = ["ReturnsAnalytics", "range_problems", "returns_analytics", "returns_analytics_csv"]


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
    engines = load_engines(session)
    opened = dict(count_per_day(session, ReturnRequest.created_at, start, end))
    closed, cycle, outcomes = closed_returns(session, engines, start, end)
    stages, teams = stage_visits(session, engines, start, min(now, end), now)
    cohort = and_(ReturnRequest.created_at >= start, ReturnRequest.created_at < end)
    days = []
    for n in range(math.ceil((end - start) / timedelta(days=1))):
        day = (start + timedelta(days=n)).date()
        days.append(Day(day, opened.get(day, 0), closed.get(day, 0)))
    return ReturnsAnalytics(
        start=start, end=end, now=now, days=tuple(days), cycle=cycle, outcomes=outcomes,
        stages=stages, teams=teams, dispositions=dispositions(session, cohort),
        products=products(session, start, end),
        categories=categories(session, cohort), card_refunds=card_refunds(session, cohort),
        store_credit=store_credit(session, cohort),
    )  # fmt: skip
