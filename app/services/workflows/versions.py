"""Editing workflow definitions: versions listed and read, drafts created and saved (a
revision check: two admins editing one draft, the second gets 409), and publishing (the
previous version retires). Only the RMA workflow is editable; validation runs before a draft
is stored and again at publish."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import transaction
from app.errors import Conflict, NotFound, ValidationError
from app.models.workflows import WorkflowDefinition
from app.services.users import usernames_by_id
from app.services.workflows.store import (
    DRAFT,
    PUBLISHED,
    RETIRED,
    RMA,
    ensure_shipped,
    published_or_none,
)
from workflows.core_rules import CoreRules
from workflows.definitions import CORE_RULES
from workflows.engine import Engine
from workflows.schema import parse_definition
from workflows.validation import shape_problems, validate_definition

# The workflows admins may edit (the flash-sale lifecycle is shown, never edited).
EDITABLE: dict[str, CoreRules] = {RMA: CORE_RULES[RMA]}


@dataclass(frozen=True)
class VersionInfo:
    """One stored version as the API and the admin pages show it (`definition`: when asked)."""

    version: int
    status: str
    revision: int
    created_at: datetime
    created_by: str | None
    published_at: datetime | None
    published_by: str | None
    definition: dict[str, Any] | None = None


@dataclass(frozen=True)
class WorkflowVersions:
    name: str
    published: int | None
    versions: list[VersionInfo]


def list_versions(session: Session, name: str) -> WorkflowVersions:
    """Every version of an editable workflow, newest first, and the published one. Seeds
    the shipped version 1 first if none is stored (its own transaction). NotFound for a
    workflow admins may not edit."""
    _editable(name)
    ensure_shipped(session, name)
    rows = session.scalars(
        select(WorkflowDefinition)
        .where(WorkflowDefinition.name == name)
        .order_by(WorkflowDefinition.version.desc())
    ).all()
    names = _usernames(session, rows)
    published = next((row.version for row in rows if row.status == PUBLISHED), None)
    return WorkflowVersions(name, published, [_info(row, names) for row in rows])


def get_version(session: Session, name: str, version: int) -> VersionInfo:
    """One version with its definition; NotFound when it does not exist."""
    _editable(name)
    ensure_shipped(session, name)
    row = _row(session, name, version)
    return _info(row, _usernames(session, [row]), definition=True)


def create_draft(
    session: Session, name: str, definition: Any, *, actor: int | None, now: datetime
) -> VersionInfo:
    """Store `definition` as the next version of `name`, a draft, in one transaction.

    Raises ValidationError (422, `details.problems`) listing everything wrong with it, and
    Conflict when another admin saved a version at the same moment (try again)."""
    _editable(name)
    ensure_shipped(session, name)
    _refuse_problems(name, definition)
    text = json.dumps(definition, sort_keys=True)
    try:
        with transaction(session):
            latest = session.scalar(
                select(func.max(WorkflowDefinition.version)).where(WorkflowDefinition.name == name)
            )
            row = WorkflowDefinition(
                name=name,
                version=(latest or 0) + 1,
                status=DRAFT,
                definition=text,
                created_at=now,
                created_by=actor,
                revision=1,
            )
            session.add(row)
    except IntegrityError:
        raise Conflict("another version was saved at the same moment: try again") from None
    return _info(row, _usernames(session, [row]), definition=True)


def update_draft(
    session: Session,
    name: str,
    version: int,
    definition: Any,
    *,
    revision: int,
    actor: int | None,
    now: datetime,
) -> VersionInfo:
    """Replace a draft's definition, when `revision` is the draft's current one, in one
    transaction (compare-and-set on the revision, which grows by one).

    Raises NotFound, Conflict (409 `conflict`: published and retired versions never
    change), Conflict `stale_version` (someone saved the draft since `revision`), and
    ValidationError with `details.problems`."""
    _editable(name)
    ensure_shipped(session, name)
    row = _row(session, name, version)
    _refuse_unless_draft(row)
    if row.revision != revision:
        raise _stale(row.revision)
    _refuse_problems(name, definition)
    with transaction(session):
        changed = _changed(
            session,
            update(WorkflowDefinition)
            .where(
                WorkflowDefinition.id == row.id,
                WorkflowDefinition.status == DRAFT,
                WorkflowDefinition.revision == revision,
            )
            .values(
                definition=json.dumps(definition, sort_keys=True),
                revision=revision + 1,
                updated_at=now,
                updated_by=actor,
            )
            .execution_options(synchronize_session=False),
        )
    session.expire_all()
    row = _row(session, name, version)
    if not changed:
        _refuse_unless_draft(row)
        raise _stale(row.revision)
    return _info(row, _usernames(session, [row]), definition=True)


def publish_version(
    session: Session, name: str, version: int, *, actor: int | None, now: datetime
) -> VersionInfo:
    """Publish a draft, retiring the version published before it, in one transaction.

    New records start on it at once, in every process (the published version is read from
    the database each time); records already open keep their version. To roll back,
    create a draft from an earlier version's definition and publish it: versions are never
    published twice. Raises NotFound, Conflict (409: not a draft, or another version was
    published meanwhile) and ValidationError when the draft no longer passes the checks."""
    _editable(name)
    ensure_shipped(session, name)
    row = _row(session, name, version)
    _refuse_unless_draft(row)
    _refuse_problems(name, json.loads(row.definition))
    current = published_or_none(session, name)
    with transaction(session):
        if current is not None:
            retired = _changed(
                session,
                update(WorkflowDefinition)
                .where(
                    WorkflowDefinition.name == name,
                    WorkflowDefinition.version == current,
                    WorkflowDefinition.status == PUBLISHED,
                )
                .values(status=RETIRED, retired_at=now)
                .execution_options(synchronize_session=False),
            )
            if not retired:
                raise Conflict(f"version {current} is no longer the published one: reload")
        published = _changed(
            session,
            update(WorkflowDefinition)
            .where(
                WorkflowDefinition.id == row.id,
                WorkflowDefinition.status == DRAFT,
                WorkflowDefinition.revision == row.revision,  # what was checked is published
            )
            .values(status=PUBLISHED, published_at=now, published_by=actor)
            .execution_options(synchronize_session=False),
        )
        if not published:
            raise Conflict(f"version {version} was published or changed meanwhile: reload")
    session.expire_all()
    row = _row(session, name, version)
    return _info(row, _usernames(session, [row]))


def definition_shape_problems(definition: Any) -> list[str]:
    """Whether `definition` is too deep or too large to even look at (checked without
    recursion): what a page must ask before it renders anything of it."""
    if not isinstance(definition, dict):
        return ["the definition must be a JSON object"]
    return shape_problems(definition)


def definition_problems(name: str, definition: Any) -> list[str]:
    """Everything wrong with `definition` as a version of `name`: the schema's checks, what
    the services rely on (`CoreRules`), and a machine built from it aside (never cached)."""
    problems = validate_definition(definition, core=EDITABLE.get(name))
    if problems:
        return problems
    try:
        Engine(parse_definition(definition), 0)
    except Exception as exc:  # the library's own refusal, whatever it is, is a problem
        return [f"the workflow engine cannot build it: {exc}"[:500]]
    return []


def _changed(session: Session, statement: Any) -> int:
    """The number of rows an UPDATE changed (the compare-and-set's answer)."""
    result = cast(CursorResult[Any], session.execute(statement))
    return int(result.rowcount or 0)


def _editable(name: str) -> CoreRules:
    rules = EDITABLE.get(name)
    if rules is None:
        raise NotFound(f"there is no editable workflow {name[:40]!r}")
    return rules


def _row(session: Session, name: str, version: int) -> WorkflowDefinition:
    row = session.scalar(
        select(WorkflowDefinition).where(
            WorkflowDefinition.name == name, WorkflowDefinition.version == version
        )
    )
    if row is None:
        raise NotFound(f"workflow {name} has no version {version}")
    return row


def _refuse_unless_draft(row: WorkflowDefinition) -> None:
    if row.status != DRAFT:
        raise Conflict(
            f"version {row.version} is {row.status} and never changes: "
            "create a new draft from it instead",
            details={"status": row.status},
        )


def _stale(current: int) -> Conflict:
    return Conflict(
        f"the draft was saved by someone else since (now at revision {current}): reload it",
        code="stale_version",
        details={"revision": current},
    )


def _refuse_problems(name: str, definition: Any) -> None:
    problems = definition_problems(name, definition)
    if problems:
        raise ValidationError(
            {"definition": f"has {len(problems)} problem(s)"},
            message="; ".join(problems)[:1000],
            details={"problems": problems},
        )


def _usernames(session: Session, rows: list[WorkflowDefinition] | Any) -> dict[int, str]:
    ids = (i for row in rows for i in (row.created_by, row.published_by) if i is not None)
    return usernames_by_id(session, ids)


def _info(
    row: WorkflowDefinition, names: dict[int, str], *, definition: bool = False
) -> VersionInfo:
    return VersionInfo(
        version=row.version,
        status=row.status,
        revision=row.revision,
        created_at=row.created_at,
        created_by=names.get(row.created_by) if row.created_by is not None else None,
        published_at=row.published_at,
        published_by=names.get(row.published_by) if row.published_by is not None else None,
        definition=json.loads(row.definition) if definition else None,
    )
