"""What the return pages and jobs read from the workflow definitions: state labels and specs
per version, which states a team waits on (for the queue filters), which returns are still
open in their own version, and order numbers for lists. Read only; engines are cached."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, and_, func, not_, or_, select, true
from sqlalchemy.orm import Session

from app.models.orders import Order
from app.models.returns import ReturnRequest
from app.models.workflows import WorkflowDefinition
from app.services.workflows import DRAFT, RMA, load_engine, published_version
from workflows.schema import StateSpec


def state_labels(session: Session, version: int) -> dict[str, str]:
    """Each state's label in that RMA workflow version."""
    engine = load_engine(session, RMA, version)
    return {state.name: state.label for state in engine.definition.states}


def published_states(session: Session) -> list[tuple[str, str]]:
    """(name, label) of every state of the published RMA workflow, in definition order."""
    engine = load_engine(session, RMA, published_version(session, RMA))
    return [(state.name, state.label) for state in engine.definition.states]


def team_states(session: Session, team: str) -> list[tuple[str, str]]:
    """(name, label) of the published states where `team` may wait, in definition order."""
    engine = load_engine(session, RMA, published_version(session, RMA))
    waits = []
    for state in engine.definition.states:
        teams = set(state.team_by[1].values()) if state.team_by else {state.team}
        if team in teams:
            waits.append((state.name, state.label))
    return waits


def state_of(session: Session, record: ReturnRequest, state: str | None = None) -> StateSpec:
    """The return's state (or `state`) as the return's own workflow version defines it."""
    return load_engine(session, RMA, record.workflow_version).state(state or record.state)


def open_filter(session: Session) -> ColumnElement[bool]:
    """Returns whose state is not terminal in their own workflow version (each version ever
    published asked once; their engines are cached)."""
    versions = session.scalars(
        select(WorkflowDefinition.version).where(
            WorkflowDefinition.name == RMA, WorkflowDefinition.status != DRAFT
        )
    ).all()  # returns run only on versions once published (a few rows)
    closed = [
        and_(
            ReturnRequest.workflow_version == version,
            ReturnRequest.state.in_(
                [s.name for s in load_engine(session, RMA, version).definition.states if s.terminal]
            ),
        )
        for version in versions
    ]
    return not_(or_(*closed)) if closed else true()


def count_returns_in_flight(session: Session) -> dict[int, int]:
    """Returns whose state is not terminal in their own workflow version, by that version:
    they stay on the version they started on whatever is published next. Reads only."""
    query = (
        select(ReturnRequest.workflow_version, func.count())
        .where(open_filter(session))
        .group_by(ReturnRequest.workflow_version)
    )
    return {int(version): int(count) for version, count in session.execute(query).all()}


def order_numbers(session: Session, order_ids: Iterable[int]) -> dict[int, str]:
    """Order number per order id, for lists of returns."""
    ids = sorted(set(order_ids))
    if not ids:
        return {}
    rows = session.execute(select(Order.id, Order.number).where(Order.id.in_(ids)))
    return {row.id: row.number for row in rows}
