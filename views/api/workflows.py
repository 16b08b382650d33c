"""Workflow definitions (CONTRACT §3.4, admin): the RMA workflow's versions, drafts and
publishing. The definition is checked by the workflow schema (422 `details.problems`)."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from app.current import db_session
from app.db import utcnow
from app.errors import NotFound, ValidationError
from app.models.users import Role
from app.services.returns import MigrationPlan, migrate_returns, plan_migration
from app.services.workflows import (
    RMA,
    VersionInfo,
    create_draft,
    get_version,
    list_versions,
    publish_version,
    update_draft,
)
from views.api import actor, bp
from views.api.schemas import (
    WorkflowDraftRequest,
    WorkflowDraftUpdate,
    WorkflowMigrationRequest,
)
from views.parsing import ID, json_body, validate

NAME = "<string(maxlength=40):name>"


def version_json(info: VersionInfo) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": info.version,
        "status": info.status,
        "revision": info.revision,
        "created_at": info.created_at.isoformat(),
        "created_by": info.created_by,
        "published_at": info.published_at.isoformat() if info.published_at else None,
        "published_by": info.published_by,
    }
    if info.definition is not None:
        data["definition"] = info.definition
    return data


@bp.get(f"/workflows/{NAME}")
def workflow_show(name: str) -> Any:
    actor(Role.ADMIN)
    result = list_versions(db_session(), name)
    return jsonify(
        name=result.name,
        published=result.published,
        versions=[version_json(info) for info in result.versions],
    )


@bp.get(f"/workflows/{NAME}/versions/<{ID}:version>")
def workflow_version_show(name: str, version: int) -> Any:
    actor(Role.ADMIN)
    return jsonify(version_json(get_version(db_session(), name, version)))


@bp.post(f"/workflows/{NAME}/versions")
def workflow_version_create(name: str) -> Any:
    """A new draft version; 422 with `details.problems` naming everything wrong with it."""
    admin = actor(Role.ADMIN)
    body = validate(WorkflowDraftRequest, _with_definition(json_body()))
    info = create_draft(db_session(), name, body.definition, actor=admin.id, now=utcnow())
    return jsonify(version_json(info)), 201


@bp.put(f"/workflows/{NAME}/versions/<{ID}:version>")
def workflow_version_update(name: str, version: int) -> Any:
    """Replace a draft's definition: `revision` must be the draft's current one (409
    `stale_version` when another admin saved it since; 409 `conflict` once published)."""
    admin = actor(Role.ADMIN)
    body = validate(WorkflowDraftUpdate, _with_definition(json_body()))
    info = update_draft(
        db_session(),
        name,
        version,
        body.definition,
        revision=body.revision,
        actor=admin.id,
        now=utcnow(),
    )
    return jsonify(version_json(info))


@bp.post(f"/workflows/{NAME}/versions/<{ID}:version>/publish")
def workflow_version_publish(name: str, version: int) -> Any:
    """Publish a draft: new returns start on it at once, returns in flight keep theirs, and
    the version published before it is retired. 409 `conflict` for a version that is not a
    draft; 422 with `details.problems` when it no longer passes the checks.

    Roll back by creating a new draft from an earlier version's definition (GET its
    version, POST its `definition` to /versions) and publishing that: a version is never
    published twice, so the history shows what ran when."""
    admin = actor(Role.ADMIN)
    info = publish_version(db_session(), name, version, actor=admin.id, now=utcnow())
    return jsonify(version_json(info))


@bp.post(f"/workflows/{NAME}/migrations")
def workflow_migration(name: str) -> Any:
    """Move the returns in flight from one version to another with a state mapping (beyond
    CONTRACT §3.4): `dry_run` answers 200 with the plan and moves nothing; otherwise 201 once
    every open return moved (each gets a `migrate` event; the move is audited), or 422 with
    `details.problems` and nothing moved."""
    admin = actor(Role.ADMIN)
    if name != RMA:
        raise NotFound(f"no editable workflow {name!r}")
    body = validate(WorkflowMigrationRequest, json_body())
    versions = {"from_version": body.from_version, "to_version": body.to_version}
    if body.dry_run:
        plan = plan_migration(db_session(), **versions, mapping=body.mapping)
        return jsonify(plan_json(plan))
    plan = migrate_returns(
        db_session(), **versions, mapping=body.mapping, actor=admin, now=utcnow()
    )
    return jsonify(plan_json(plan)), 201


def plan_json(plan: MigrationPlan) -> dict[str, Any]:
    return {
        "from_version": plan.from_version,
        "to_version": plan.to_version,
        "moves": [{"from": m.source, "to": m.dest, "count": m.count} for m in plan.moves],
        "total": plan.total,
        "problems": plan.problems,
    }


def _with_definition(data: Any) -> Any:
    """A body whose `definition` is no object is refused as CONTRACT §3.4 refuses a bad
    definition: 422 with `details.problems` (and `fields`, as every 422 has)."""
    if not isinstance(data, dict) or not isinstance(data.get("definition"), dict):
        message = "the definition must be a JSON object"
        raise ValidationError(
            {"definition": "must be a JSON object"}, details={"problems": [message]}
        )
    return data
