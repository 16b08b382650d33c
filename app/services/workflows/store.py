"""Workflow definitions stored in the database: the published version of each, the shipped
version 1, and the engine of any saved version.

Version 1 of each shipped workflow comes from `workflows/definitions/` and is published the
first time it is needed. Records keep the version they started on, so an engine is loaded
by (name, version); versions never change once saved, so each is read from the database
once per process and database, and kept by the engine's cache (`workflows.engine.engine_for`).

Admins edit the RMA workflow (CONTRACT §3.4): a new version starts as a draft, may be saved
again while it is one (`revision` guards against two admins saving over each other), and is
published; the version published before it is retired. Only published versions are built
into the engine's cache: a draft is checked with a machine built aside and thrown away.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import database_of, transaction, utcnow
from app.errors import NotFound
from app.models.workflows import WorkflowDefinition
from workflows.definitions import load_shipped
from workflows.engine import Engine, engine_for
from workflows.registry import Actor
from workflows.schema import Definition, parse_definition

RMA = "rma"
DRAFT, PUBLISHED, RETIRED = "draft", "published", "retired"


def ensure_shipped(session: Session, name: str) -> None:
    """Publish the shipped version 1 of `name` if the database has no version of it yet."""
    if session.scalar(select(WorkflowDefinition.id).where(WorkflowDefinition.name == name)):
        return
    data = load_shipped(name)
    parse_definition(data)  # a broken shipped file must fail loudly, never be stored
    try:
        with transaction(session):
            session.add(
                WorkflowDefinition(
                    name=name,
                    version=1,
                    status=PUBLISHED,
                    definition=json.dumps(data, sort_keys=True),
                    published_at=utcnow(),
                )
            )
    except IntegrityError:
        session.rollback()  # another process seeded it first


def published_version(session: Session, name: str) -> int:
    """The version new records of `name` start on, read from the database every time (one
    indexed row): a publish reaches every process, web and scheduler, at once."""
    version = published_or_none(session, name)
    if version is None:
        ensure_shipped(session, name)
        version = published_or_none(session, name)
        if version is None:
            raise NotFound(f"workflow {name} has no published version")
    return int(version)


def published_or_none(session: Session, name: str) -> int | None:
    return session.scalar(
        select(WorkflowDefinition.version).where(
            WorkflowDefinition.name == name, WorkflowDefinition.status == PUBLISHED
        )
    )


def transition_event(
    actor: Actor,
    trigger: str,
    source: str | None,
    dest: str,
    data: dict[str, Any],
    *,
    version: int,
    now: datetime,
) -> dict[str, Any]:
    """The shared columns of a transition's append-only event row (any workflow's)."""
    return {
        "at": now,
        "actor_id": actor.id,
        "actor_role": actor.role,
        "trigger": trigger,
        "from_state": source,
        "to_state": dest,
        "data": json.dumps(data, sort_keys=True, default=str),
        "workflow_version": version,
    }


def load_engine(session: Session, name: str, version: int) -> Engine:
    """The engine for one saved version; its definition is read the first time this process
    needs it. Raises NotFound for a version that was never saved."""
    store = database_of(session) or session.get_bind()
    return engine_for(name, version, lambda: _definition(session, name, version), store=store)


def _definition(session: Session, name: str, version: int) -> Definition:
    text = session.scalar(
        select(WorkflowDefinition.definition).where(
            WorkflowDefinition.name == name, WorkflowDefinition.version == version
        )
    )
    if text is None:
        raise NotFound(f"workflow {name} has no version {version}")
    return parse_definition(json.loads(text))
