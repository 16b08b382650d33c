"""What the return pages read from the workflow definitions: state labels per version, and
which states a team waits on (for the queue filters), and order numbers for lists. Read
only; engines are cached."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.orders import Order
from app.services.workflows import RMA, load_engine, published_version


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


def order_numbers(session: Session, order_ids: Iterable[int]) -> dict[int, str]:
    """Order number per order id, for lists of returns."""
    ids = sorted(set(order_ids))
    if not ids:
        return {}
    rows = session.execute(select(Order.id, Order.number).where(Order.id.in_(ids)))
    return {row.id: row.number for row in rows}
