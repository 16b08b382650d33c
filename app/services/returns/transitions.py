"""Moving a return: one trigger, checked by the engine, written with its event and effects.

`act_on_return` is what a page does: one call that loads the return once, authorises, fires
and hands back what the page shows next (the return described for the viewer, and its queue
row if it still waits on the queue the action came from). `fire_return_trigger` is the same
action for the JSON API, the jobs and the builders, returning the record.

Either is one transaction: the state change is a compare-and-set on the
return's `version` (two staff clicking at once get exactly one transition; the other a
409), the event row is appended, and every effect the transition names is performed in
the same transaction or recorded in the outbox for a job (gateway refunds, customer
notices). No network call runs inside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, update
from sqlalchemy.orm import Session

from app.db import is_row_id, transaction
from app.errors import Conflict, Forbidden, NotFound, ValidationError
from app.models.returns import ReturnEvent, ReturnRequest
from app.models.users import User
from app.services.read_cache import returns_reads
from app.services.returns.details import ReturnDetails, actor_of, describe_returns, subject_of
from app.services.returns.effects import EFFECTS
from app.services.returns.queues import QueueItem, queue_item
from app.services.workflows import RMA, load_engine, transition_event
from workflows.engine import (
    Available,
    Engine,
    FieldReader,
    FieldsInvalid,
    Fired,
    GuardRefused,
    InvalidTransition,
    NotAllowed,
)
from workflows.registry import Actor

_returns = cast(Table, ReturnRequest.__table__)
Fields = Mapping[str, Any] | FieldReader


def enter_state(engine: Engine, record: ReturnRequest, state: str, now: datetime) -> None:
    """Set the state with the team that now waits on it and its SLA due time."""
    spec = engine.state(state)
    record.state = state
    record.team = engine.team_for(state, subject_of(record))
    record.state_entered_at = now
    record.sla_due_at = now + timedelta(hours=spec.sla_hours) if spec.sla_hours else None


def record_event(
    session: Session,
    record: ReturnRequest,
    actor: Actor,
    trigger: str,
    source: str | None,
    dest: str,
    data: dict[str, Any],
    now: datetime,
) -> None:
    session.add(
        ReturnEvent(
            return_id=record.id,
            **transition_event(
                actor, trigger, source, dest, data, version=record.workflow_version, now=now
            ),
        )
    )


def run_effects(
    session: Session, record: ReturnRequest, fired: Fired, actor: Actor, now: datetime
) -> None:
    for name in fired.effects:
        EFFECTS[name](session, record, fired, actor, now)


@dataclass(frozen=True)
class Action:
    """What a page shows after an action: the return as the viewer now sees it, and its
    queue row when it still waits on the queue the action came from (else None)."""

    details: ReturnDetails
    row: QueueItem | None


def act_on_return(
    session: Session,
    viewer: User,
    return_id: int,
    trigger: str,
    fields: Fields,
    *,
    expected_version: int | None,
    queue: str | None = None,
    with_history: bool = False,
    now: datetime,
) -> Action:
    """Fire `trigger` as `viewer` and describe the result (with its history if asked).

    `fields`: the values, or a function reading them given the fields the trigger declares
    (a form types money in dollars). `queue`: the team queue the action came from; whether
    the return stays there is its `team` after the move. Raises as `fire_return_trigger`,
    and whatever `fields` raises."""
    record = _move(session, viewer, return_id, trigger, fields, expected_version, now)
    details = describe_returns(session, viewer, [record], with_history=with_history)[0]
    stays = queue is not None and record.team == queue
    return Action(details, queue_item(session, record, now) if stays else None)


def fire_return_trigger(
    session: Session,
    return_id: int,
    trigger: str,
    *,
    actor: User | None,
    fields: dict[str, Any],
    expected_version: int | None,
    now: datetime,
) -> ReturnRequest:
    """Fire `trigger` on the return as `actor` (None: the system).

    Raises NotFound (not the customer's), Conflict(invalid_transition) (not from this
    state), Forbidden (role), ValidationError (fields or a guard; details say which),
    Conflict(stale_version) (someone else moved it first, or `expected_version` is old).
    """
    return _move(session, actor, return_id, trigger, fields, expected_version, now)


def _move(
    session: Session,
    actor: User | None,
    return_id: int,
    trigger: str,
    fields: Fields,
    expected_version: int | None,
    now: datetime,
) -> ReturnRequest:
    who = actor_of(actor)
    with transaction(session):
        record = (
            session.get(ReturnRequest, return_id, populate_existing=True)
            if is_row_id(return_id)
            else None
        )
        if record is None or (
            actor is not None and not actor.is_staff and record.customer_id != actor.id
        ):
            raise NotFound("no such return")
        if expected_version is not None and expected_version != record.version:
            raise Conflict(
                f"the return is at version {record.version}, not {expected_version}; reload it",
                code="stale_version",
                details={"version": record.version},
            )
        engine = load_engine(session, RMA, record.workflow_version)
        fired = _fire(engine, record, trigger, who, fields)
        current = record.version
        moved = session.connection().execute(
            update(_returns)
            .where(_returns.c.id == record.id, _returns.c.version == current)
            .values(version=current + 1)
        )
        if moved.rowcount != 1:
            raise Conflict(
                "someone else changed this return a moment ago; reload it",
                code="stale_version",
            )
        record.version = current + 1
        run_effects(session, record, fired, who, now)
        if fired.dest != fired.source:
            enter_state(engine, record, fired.dest, now)
        else:  # a self-loop (retry) keeps its clock but may change the waiting team
            record.team = engine.team_for(record.state, subject_of(record))
        record_event(session, record, who, trigger, fired.source, fired.dest, fired.fields, now)
    returns_reads.changed()
    return record


def _fire(
    engine: Engine, record: ReturnRequest, trigger: str, actor: Actor, fields: Fields
) -> Fired:
    try:
        return engine.fire(
            record.state, trigger, actor=actor, subject=subject_of(record), fields=fields
        )
    except InvalidTransition as exc:
        raise Conflict(exc.message, code="invalid_transition", details=exc.details) from exc
    except NotAllowed as exc:
        raise Forbidden(exc.message, details=exc.details) from exc
    except FieldsInvalid as exc:
        raise ValidationError(exc.fields) from exc
    except GuardRefused as exc:
        raise ValidationError(
            {"trigger": exc.message}, message=exc.message, details={"guards": exc.reasons}
        ) from exc


def available_triggers(session: Session, record: ReturnRequest, viewer: User) -> list[Available]:
    """What `viewer` may fire on this return now, with the fields each needs."""
    engine = load_engine(session, RMA, record.workflow_version)
    return engine.available(record.state, actor_of(viewer), subject_of(record))


def state_label(session: Session, record: ReturnRequest, state: str | None = None) -> str:
    """The human label of the return's state (or another state) in its workflow version."""
    engine = load_engine(session, RMA, record.workflow_version)
    return engine.state(state or record.state).label
