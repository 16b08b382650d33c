"""Returns analytics, the flows in the range: returns opened and closed per day, the cycle
time of those closed (overall and per terminal state), the stage visits read from the event
log with the time spent in each state and the SLA compliance of each team, and the returns
waiting on each team past their due time now.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, and_, case, cast, false, func, null, or_, select
from sqlalchemy.orm import Session

from app.models.returns import ReturnEvent, ReturnRequest
from app.services.monitoring.returns.figures import (
    SLA_TOLERANCE_SECONDS,
    TEAM_ORDER,
    TeamSla,
    Timing,
    average,
    day_of,
    epoch_of,
    state_label,
)
from workflows.engine import Engine
from workflows.schema import StateSpec


def _states(engines: dict[int, Engine]) -> dict[tuple[int, str], StateSpec]:
    """Every state of every version, by (version, name)."""
    return {(v, s.name): s for v, e in engines.items() for s in e.definition.states}


def count_per_day(
    session: Session, column: Any, start: datetime, end: datetime
) -> Iterator[tuple[date, int]]:
    """(UTC day, rows) for the rows whose `column` falls in [start, end), days with none
    left out."""
    day = day_of(session, column)
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


def closed_returns(
    session: Session, engines: dict[int, Engine], start: datetime, end: datetime
) -> tuple[dict[date, int], Timing, tuple[Timing, ...]]:
    """Returns closed in the range: per day, and their cycle time overall and per terminal
    state. A terminal state is never left, so its `state_entered_at` is when it closed."""
    closed_at = ReturnRequest.state_entered_at
    day = day_of(session, closed_at)
    length = epoch_of(session, closed_at) - epoch_of(session, ReturnRequest.created_at)
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
        Timing(state, state_label(engines, state), n, average(seconds, n))
        for state, (n, seconds) in sorted(per_state.items(), key=lambda kv: (-kv[1][0], kv[0]))
    )
    count = sum(n for n, _ in per_state.values())
    total = sum(seconds for _, seconds in per_state.values())
    return per_day, Timing("all", "All closed returns", count, average(total, count)), outcomes


def stage_visits(
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
        Timing(name, state_label(engines, name), n, average(total, n))
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
    at = epoch_of(session, event.at)
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
    """State names in definition order, the newest version's first."""
    return [s.name for v in sorted(engines, reverse=True) for s in engines[v].definition.states]


def _rank(team: str) -> int:
    """A team's place in TEAM_ORDER; teams not named there come after."""
    return TEAM_ORDER.index(team) if team in TEAM_ORDER else len(TEAM_ORDER)
