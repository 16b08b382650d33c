"""Moving returns in flight from a retired RMA workflow version to the published one, with a
state mapping.

A return keeps the version it started on; an admin may instead move the open ones of a
retired version to the published version (never to a draft, whose definition may still
change, nor back to an older version). `plan_migration` is the dry run: how many would move
from which state to which, and what stands in the way (a state with returns and nowhere to
go). `migrate_returns` re-plans in its own transaction, refuses while anything stands in the
way, and moves every open return of the old version at once: each gets the new version, the
mapped state (entered afresh when the name changes; a kept state keeps its clock start, with
the new version's team and SLA), one more `version`, and an event `migrate` in its history;
the move itself is recorded with who, when and the mapping. Finished returns (terminal in
their version) stay where they ended.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import transaction
from app.errors import ValidationError
from app.models.returns import ReturnRequest
from app.models.users import User
from app.models.workflows import WorkflowDefinition, WorkflowMigration
from app.services.read_cache import returns_reads
from app.services.returns.details import actor_of, subject_of
from app.services.returns.transitions import enter_state, record_event
from app.services.workflows import PUBLISHED, RETIRED, RMA, load_engine
from workflows.engine import Engine

MIGRATE = "migrate"  # the trigger name of a moved return's event


@dataclass(frozen=True)
class Move:
    source: str
    dest: str | None  # None: the new version has no such state and none was mapped
    count: int


@dataclass(frozen=True)
class MigrationPlan:
    from_version: int
    to_version: int
    moves: list[Move]
    problems: list[str]

    @property
    def total(self) -> int:
        return sum(move.count for move in self.moves)


def plan_migration(
    session: Session, *, from_version: int, to_version: int, mapping: Mapping[str, str]
) -> MigrationPlan:
    """The dry run: the open returns of `from_version` per state and where each state goes
    (`mapping`, else the state of the same name). Read only."""
    old, new = _engines(session, from_version, to_version)
    return _plan(session, old, new, from_version, to_version, mapping)


def migrate_returns(
    session: Session,
    *,
    from_version: int,
    to_version: int,
    mapping: Mapping[str, str],
    actor: User,
    now: datetime,
) -> MigrationPlan:
    """Move every open return of `from_version` to `to_version` as planned, in one
    transaction. Raises ValidationError with the plan's problems (nothing moves)."""
    with transaction(session):
        old, new = _engines(session, from_version, to_version)
        plan = _plan(session, old, new, from_version, to_version, mapping, lock=True)
        if plan.problems:
            raise ValidationError(
                {"mapping": "; ".join(plan.problems)}, details={"problems": plan.problems}
            )
        dest_of = {move.source: move.dest for move in plan.moves}
        who = actor_of(actor)
        for record in _open_returns(session, old, from_version, lock=True):
            source, dest = record.state, dest_of[record.state] or record.state
            record.workflow_version = to_version
            if dest != source:
                enter_state(new, record, dest, now)
            else:
                spec = new.state(dest)
                record.team = new.team_for(dest, subject_of(record))
                record.sla_due_at = (
                    record.state_entered_at + timedelta(hours=spec.sla_hours)
                    if spec.sla_hours
                    else None
                )
            record.version += 1
            data = {"from_version": from_version, "to_version": to_version}
            record_event(session, record, who, MIGRATE, source, dest, data, now)
        session.add(
            WorkflowMigration(
                name=RMA,
                from_version=from_version,
                to_version=to_version,
                mapping=json.dumps({m.source: m.dest for m in plan.moves}, sort_keys=True),
                moved=plan.total,
                at=now,
                by=actor.id,
            )
        )
    returns_reads.changed()
    return plan


def _engines(session: Session, from_version: int, to_version: int) -> tuple[Engine, Engine]:
    """The two versions' engines, once `to_version` is the published version and
    `from_version` a retired one (read now: inside the move's transaction, a publish that
    came in between refuses the move instead of sending returns where nobody looked)."""
    statuses = dict(
        session.execute(
            select(WorkflowDefinition.version, WorkflowDefinition.status).where(
                WorkflowDefinition.name == RMA,
                WorkflowDefinition.version.in_([from_version, to_version]),
            )
        ).all()
    )
    problems = {}
    if statuses.get(to_version) != PUBLISHED:
        problems["to_version"] = "must be the published version"
    if statuses.get(from_version) != RETIRED:
        problems["from_version"] = "must be a retired version"
    if problems:
        raise ValidationError(problems, details={"problems": list(problems.values())})
    return load_engine(session, RMA, from_version), load_engine(session, RMA, to_version)


def _open_returns(
    session: Session, engine: Engine, version: int, *, lock: bool = False
) -> list[ReturnRequest]:
    terminal = [s.name for s in engine.definition.states if s.terminal]
    query = (
        select(ReturnRequest)
        .where(ReturnRequest.workflow_version == version, ReturnRequest.state.not_in(terminal))
        .order_by(ReturnRequest.id)
    )
    if lock:
        query = query.with_for_update()
    return list(session.scalars(query))


def _plan(
    session: Session,
    old: Engine,
    new: Engine,
    from_version: int,
    to_version: int,
    mapping: Mapping[str, str],
    *,
    lock: bool = False,
) -> MigrationPlan:
    counts = Counter(r.state for r in _open_returns(session, old, from_version, lock=lock))
    names = set(new.definition.state_names)
    moves, problems = [], []
    for state in old.definition.state_names:
        if not counts[state]:
            continue
        dest = mapping.get(state) or (state if state in names else None)
        if dest is None:
            problems.append(f"{counts[state]} in {state}: version {to_version} has no such state")
        elif dest not in names:
            problems.append(f"{state} → {dest}: version {to_version} has no state {dest}")
            dest = None
        elif new.state(dest).terminal:
            problems.append(f"{state} → {dest}: a return in flight cannot be moved to an end")
        moves.append(Move(state, dest, counts[state]))
    return MigrationPlan(from_version, to_version, moves, problems)
