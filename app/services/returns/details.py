"""A return as one viewer sees it: its state label, its history with who did each step,
and what that viewer may do next (and what guards may look at: `subject_of`, `actor_of`).

Lists of returns are described in a fixed number of queries (one for every event of every
return on the page, one engine per workflow version), never one query per return.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.returns import ReturnEvent, ReturnRequest
from app.models.users import User
from app.services.users import Person
from app.services.workflows import RMA, load_engine
from workflows.engine import Available, Engine
from workflows.registry import SYSTEM, Actor
from workflows.schema import StateSpec


def subject_of(record: ReturnRequest) -> dict[str, Any]:
    """What guards may look at."""
    return {
        "owner_id": record.customer_id,
        "disposition": record.disposition,
        "refund_status": record.refund_status,
        "max_amount_cents": record.paid_cents,
        "condition": record.condition,
    }


def actor_of(user: User | None) -> Actor:
    return SYSTEM if user is None else Actor(user.id, user.role)


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    actor: str  # the username, or "system"
    role: str
    trigger: str
    source: str | None
    dest: str
    data: dict[str, Any]
    person: Person | None = None  # who, as pages name them (`display_name`); None: the system


@dataclass(frozen=True)
class ReturnDetails:
    record: ReturnRequest
    state_label: str
    terminal: bool
    history: list[HistoryEntry]
    triggers: list[Available]
    # How the state shows, from the return's own workflow version: its spec (tone, step,
    # notice, guidance), and that version's milestones with the states' steps.
    state: StateSpec
    milestones: tuple[str, ...]
    step_of: dict[str, str]


def describe_return(session: Session, viewer: User, record: ReturnRequest) -> ReturnDetails:
    """`record` (which the caller already checked `viewer` may see) with its history and
    the triggers `viewer` may fire now. Read only."""
    return describe_returns(session, viewer, [record])[0]


def describe_returns(
    session: Session,
    viewer: User,
    records: Sequence[ReturnRequest],
    *,
    with_history: bool = True,
) -> list[ReturnDetails]:
    """Like `describe_return`, for a page of returns, in the given order. Read only.
    Without `with_history` (queue rows show none) the events are not read."""
    history: dict[int, list[HistoryEntry]] = {record.id: [] for record in records}
    if records and with_history:
        rows = session.execute(
            select(ReturnEvent, User.username, User.name)
            .outerjoin(User, User.id == ReturnEvent.actor_id)
            .where(ReturnEvent.return_id.in_(list(history)))
            .order_by(ReturnEvent.id)
        ).all()
        for event, username, name in rows:
            person = Person(username, name or "") if username is not None else None
            history[event.return_id].append(
                HistoryEntry(
                    at=event.at,
                    actor=person.username if person else "system",
                    role=event.actor_role,
                    trigger=event.trigger,
                    source=event.from_state,
                    dest=event.to_state,
                    data=json.loads(event.data or "{}"),
                    person=person,
                )
            )
    engines: dict[int, Engine] = {}
    who = actor_of(viewer)
    described = []
    for record in records:
        engine = engines.get(record.workflow_version)
        if engine is None:
            engine = engines[record.workflow_version] = load_engine(
                session, RMA, record.workflow_version
            )
        state = engine.state(record.state)
        definition = engine.definition
        described.append(
            ReturnDetails(
                record=record,
                state_label=state.label,
                terminal=state.terminal,
                history=history[record.id],
                triggers=engine.available(record.state, who, subject_of(record)),
                state=state,
                milestones=definition.steps,
                step_of={s.name: s.step for s in definition.states if s.step},
            )
        )
    return described
