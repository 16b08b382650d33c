"""What the admin workflow pages show (read only): each workflow's versions with their
history (who created, saved, published and when; what changed from the version before),
the live count of records on each version and in each state, SLA breaches, and the
diagram of a version laid out by `workflows.diagram`.

Both shipped workflows are shown: the RMA workflow (editable) and the flash-sale lifecycle
(shown, never edited). Counts are one GROUP BY query each, never a query per record.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.models.flash_sales import FlashSale
from app.models.returns import ReturnRequest
from app.models.users import User
from app.models.workflows import WorkflowDefinition, WorkflowMigration
from app.services.users import usernames_by_id
from app.services.workflows.store import DRAFT, PUBLISHED, RMA, ensure_shipped, load_engine
from workflows.diagram import Layout, layout
from workflows.schema import Definition, parse_definition

FLASH_SALE = "flash_sale"
# Every workflow the pages show, in their order, with its title; only RMA is editable.
WORKFLOWS = {RMA: "Returns (RMA)", FLASH_SALE: "Flash-sale lifecycle"}
EDITABLE_WORKFLOWS = (RMA,)


@dataclass(frozen=True)
class StateCount:
    count: int = 0
    breached: int = 0  # past their SLA (`sla_due_at < now`) in a non-terminal state


@dataclass(frozen=True)
class Change:
    what: str  # "created", "saved", "published", "retired"
    who: str | None
    at: datetime


@dataclass(frozen=True)
class VersionSummary:
    version: int
    status: str
    revision: int
    history: tuple[Change, ...]  # oldest first
    changes: tuple[str, ...]  # what differs from the version before, in sentences
    open_items: int = 0  # records on this version not yet in a terminal state
    items: int = 0  # every record on this version

    @property
    def latest(self) -> Change:
        return self.history[-1]


@dataclass(frozen=True)
class MovedRecords:
    """One audited move of records in flight from one version to another."""

    at: datetime
    by: str | None
    from_version: int
    to_version: int
    moved: int
    mapping: dict[str, str]


@dataclass(frozen=True)
class WorkflowSummary:
    name: str
    title: str
    editable: bool
    published: int | None
    versions: tuple[VersionSummary, ...]  # newest first
    drafts: int = 0
    moves: tuple[MovedRecords, ...] = ()  # newest first

    @property
    def latest(self) -> Change | None:
        changes = [v.latest for v in self.versions]
        return max(changes, key=lambda c: c.at) if changes else None


@dataclass(frozen=True)
class VersionDiagram:
    workflow: WorkflowSummary
    summary: VersionSummary
    definition: Definition
    layout: Layout
    counts: dict[str, StateCount] = field(default_factory=dict)

    def count(self, state: str) -> StateCount:
        return self.counts.get(state, StateCount())


def state_counts(
    session: Session,
    name: str,
    version: int,
    *,
    now: datetime,
    definition: Definition | None = None,
) -> dict[str, StateCount]:
    """How many records of workflow `name` started on `version` are in each state, and how
    many of them are past their SLA (returns only: flash sales have none). States nobody
    is in are left out. One GROUP BY query; the version's definition (which states are
    terminal or have an SLA) comes from `definition` or the engine's cache."""
    model = _model(name)
    if model is ReturnRequest:
        late = func.sum(case((ReturnRequest.sla_due_at < now, 1), else_=0))
        query = select(ReturnRequest.state, func.count(), late)
    else:
        query = select(FlashSale.state, func.count(), literal(0))
    rows = session.execute(
        query.where(model.workflow_version == version).group_by(model.state)
    ).all()
    counts = {str(state): StateCount(int(n), int(late or 0)) for state, n, late in rows}
    if any(c.breached for c in counts.values()):
        # Records exist only on published versions, which never change: cached safely.
        spec = definition or load_engine(session, name, version).definition
        timed = {s.name for s in spec.states if s.sla_hours and not s.terminal}
        counts = {s: c if s in timed else StateCount(c.count) for s, c in counts.items()}
    return counts


def list_workflows(session: Session) -> list[WorkflowSummary]:
    """Every workflow the admin pages show, each with its versions' history and counts."""
    return [get_workflow(session, name) for name in WORKFLOWS]


def get_workflow(session: Session, name: str) -> WorkflowSummary:
    """One workflow: every version, newest first, with its history, what changed from the
    version before, and how many records are on it. Seeds the shipped version 1 first if
    none is stored. NotFound for a name that is no workflow."""
    _model(name)
    ensure_shipped(session, name)
    rows = session.scalars(
        select(WorkflowDefinition)
        .where(WorkflowDefinition.name == name)
        .order_by(WorkflowDefinition.version)
    ).all()
    users = _usernames(session, rows)
    items = _items_per_version(session, name)
    summaries, before = [], None
    for row in rows:
        data = json.loads(row.definition)
        terminal = {s["name"] for s in data.get("states", []) if s.get("terminal")}
        states = items.get(row.version, {})
        summaries.append(
            VersionSummary(
                version=row.version,
                status=row.status,
                revision=row.revision,
                history=_history(row, users),
                changes=tuple(describe_changes(before, data)),
                open_items=sum(n for s, n in states.items() if s not in terminal),
                items=sum(states.values()),
            )
        )
        before = data
    return WorkflowSummary(
        name=name,
        title=WORKFLOWS[name],
        editable=name in EDITABLE_WORKFLOWS,
        published=next((r.version for r in rows if r.status == PUBLISHED), None),
        versions=tuple(reversed(summaries)),
        drafts=sum(1 for r in rows if r.status == DRAFT),
        moves=_moves(session, name),
    )


def _moves(session: Session, name: str) -> tuple[MovedRecords, ...]:
    rows = session.execute(
        select(WorkflowMigration, User.username)
        .outerjoin(User, User.id == WorkflowMigration.by)
        .where(WorkflowMigration.name == name)
        .order_by(WorkflowMigration.id.desc())
    ).all()
    return tuple(
        MovedRecords(m.at, username, m.from_version, m.to_version, m.moved, json.loads(m.mapping))
        for m, username in rows
    )


def get_version_diagram(
    session: Session, name: str, version: int, *, now: datetime
) -> VersionDiagram:
    """One version of a workflow: its definition, the diagram's layout, and the live count
    and SLA breaches of each state. NotFound for an unknown workflow or version."""
    workflow = get_workflow(session, name)
    summary = next((v for v in workflow.versions if v.version == version), None)
    text = session.scalar(
        select(WorkflowDefinition.definition).where(
            WorkflowDefinition.name == name, WorkflowDefinition.version == version
        )
    )
    if summary is None or text is None:
        raise NotFound(f"workflow {name} has no version {version}")
    # Parsed here, never through the engine's cache: a draft may still change.
    definition = parse_definition(json.loads(text))
    counts = state_counts(session, name, version, now=now, definition=definition)
    return VersionDiagram(workflow, summary, definition, layout(definition), counts)


def describe_changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """What `after` changes from `before` (the version numbered before it), in sentences."""
    if before is None:
        return ["the first version"]
    changes: list[str] = []
    for what, key in (("states", "name"), ("transitions", "trigger")):
        old, new = _keyed(before.get(what), key), _keyed(after.get(what), key)
        for verb, names in (
            ("added", [n for n in new if n not in old]),
            ("removed", [n for n in old if n not in new]),
            ("changed", [n for n in new if n in old and old[n] != new[n]]),
        ):
            if names:
                changes.append(f"{verb} {what} {', '.join(names)}")
    if before.get("initial") != after.get("initial"):
        changes.append(f"starts in {after.get('initial')} instead of {before.get('initial')}")
    return changes or ["no change to the states or transitions"]


def _keyed(items: Any, key: str) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            out.setdefault(str(item.get(key)), []).append(item)
    return out


def _model(name: str) -> type[ReturnRequest] | type[FlashSale]:
    if name == RMA:
        return ReturnRequest
    if name == FLASH_SALE:
        return FlashSale
    raise NotFound(f"there is no workflow {name[:40]!r}")


def _items_per_version(session: Session, name: str) -> dict[int, dict[str, int]]:
    """{version: {state: records}} for every version of `name` (one GROUP BY)."""
    model = _model(name)
    rows = session.execute(
        select(model.workflow_version, model.state, func.count()).group_by(
            model.workflow_version, model.state
        )
    ).all()
    out: dict[int, dict[str, int]] = {}
    for version, state, n in rows:
        out.setdefault(int(version), {})[str(state)] = int(n)
    return out


def _history(row: WorkflowDefinition, users: dict[int, str]) -> tuple[Change, ...]:
    def who(user_id: int | None) -> str | None:
        return users.get(user_id) if user_id is not None else None

    history = [Change("created", who(row.created_by), row.created_at)]
    if row.updated_at is not None:
        history.append(Change("saved", who(row.updated_by), row.updated_at))
    if row.published_at is not None:
        history.append(Change("published", who(row.published_by), row.published_at))
    if row.retired_at is not None:
        history.append(Change("retired", None, row.retired_at))
    return tuple(history)


def _usernames(session: Session, rows: Iterable[WorkflowDefinition]) -> dict[int, str]:
    ids = (i for row in rows for i in (row.created_by, row.updated_by, row.published_by))
    return usernames_by_id(session, (i for i in ids if i is not None))
