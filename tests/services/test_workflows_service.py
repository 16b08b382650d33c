"""Stored workflow versions (issue 11): drafts, revisions, publishing, and what the
process's caches see afterwards."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db import database_of, transaction, utcnow
from app.errors import Conflict, NotFound, ValidationError
from app.models.workflows import WorkflowDefinition
from app.services.workflows import (
    RMA,
    create_draft,
    get_version,
    list_versions,
    load_engine,
    publish_version,
    published_version,
    update_draft,
)
from tests.builders import make_user
from workflows import engine as engine_module
from workflows.definitions import load_shipped


def relabelled(label: str = "Being reviewed") -> dict[str, Any]:
    data = copy.deepcopy(load_shipped("rma"))
    data["states"][1]["label"] = label
    return data


def cached_versions(session: Session) -> set[tuple[str, int]]:
    store = database_of(session) or session.get_bind()
    return set(engine_module._ENGINES.get(store, {}))


def test_it_seeds_version_1_before_the_first_draft_and_numbers_drafts_after_it(session):
    admin = make_user(session, "admin", username="ida")
    info = create_draft(session, RMA, relabelled(), actor=admin.id, now=utcnow())
    assert (info.version, info.status, info.revision) == (2, "draft", 1)
    assert info.created_by == "ida"
    assert create_draft(session, RMA, relabelled(), actor=admin.id, now=utcnow()).version == 3
    listed = list_versions(session, RMA)
    assert listed.published == 1
    assert [(v.version, v.status) for v in listed.versions] == [
        (3, "draft"),
        (2, "draft"),
        (1, "published"),
    ]


def test_it_stores_nothing_that_does_not_validate(session):
    admin = make_user(session, "admin")
    data = relabelled()
    data["transitions"][0]["effects"] = ["rm_rf"]
    with pytest.raises(ValidationError) as caught:
        create_draft(session, RMA, data, actor=admin.id, now=utcnow())
    assert any("rm_rf" in p for p in caught.value.details["problems"])
    assert [v.version for v in list_versions(session, RMA).versions] == [1]


def test_it_saves_a_draft_only_at_its_current_revision(session):
    admin = make_user(session, "admin")
    create_draft(session, RMA, relabelled(), actor=admin.id, now=utcnow())
    saved = update_draft(
        session, RMA, 2, relabelled("Checking"), revision=1, actor=admin.id, now=utcnow()
    )
    assert saved.revision == 2
    assert saved.definition is not None
    assert saved.definition["states"][1]["label"] == "Checking"
    with pytest.raises(Conflict) as caught:
        update_draft(session, RMA, 2, relabelled("Late"), revision=1, actor=admin.id, now=utcnow())
    assert caught.value.code == "stale_version"
    definition = get_version(session, RMA, 2).definition
    assert definition is not None
    assert definition["states"][1]["label"] == "Checking"


def test_publishing_retires_the_old_version_and_new_records_see_it_at_once(session):
    admin = make_user(session, "admin", username="pia")
    assert published_version(session, RMA) == 1
    create_draft(session, RMA, relabelled(), actor=admin.id, now=utcnow())
    assert published_version(session, RMA) == 1
    info = publish_version(session, RMA, 2, actor=admin.id, now=utcnow())
    assert (info.status, info.published_by) == ("published", "pia")
    assert published_version(session, RMA) == 2
    statuses = dict(
        session.execute(
            select(WorkflowDefinition.version, WorkflowDefinition.status).where(
                WorkflowDefinition.name == RMA
            )
        ).all()
    )
    assert statuses == {1: "retired", 2: "published"}
    with pytest.raises(Conflict):
        publish_version(session, RMA, 2, actor=admin.id, now=utcnow())
    with pytest.raises(Conflict):
        update_draft(session, RMA, 1, relabelled(), revision=1, actor=admin.id, now=utcnow())


def test_a_draft_is_never_built_into_the_engine_cache(session):
    admin = make_user(session, "admin")
    create_draft(session, RMA, relabelled(), actor=admin.id, now=utcnow())
    assert (RMA, 2) not in cached_versions(session)
    publish_version(session, RMA, 2, actor=admin.id, now=utcnow())
    assert (RMA, 2) not in cached_versions(session)
    assert load_engine(session, RMA, 2).state("VALIDATING").label == "Being reviewed"
    assert (RMA, 2) in cached_versions(session)


def test_it_checks_a_draft_again_when_it_is_published(session):
    """A draft stored before a rule it breaks existed is refused at publish, unchanged."""
    admin = make_user(session, "admin")
    create_draft(session, RMA, relabelled(), actor=admin.id, now=utcnow())
    broken = relabelled()
    broken["states"] = [s for s in broken["states"] if s["name"] != "REJECTED"]
    with transaction(session):
        session.execute(
            update(WorkflowDefinition)
            .where(WorkflowDefinition.name == RMA, WorkflowDefinition.version == 2)
            .values(definition=json.dumps(broken))
        )
    with pytest.raises(ValidationError) as caught:
        publish_version(session, RMA, 2, actor=admin.id, now=utcnow())
    assert "core state REJECTED must be kept" in caught.value.details["problems"]
    assert list_versions(session, RMA).published == 1
    assert get_version(session, RMA, 2).status == "draft"


def test_it_knows_only_the_editable_workflows_and_their_versions(session):
    admin = make_user(session, "admin")
    with pytest.raises(NotFound):
        list_versions(session, "flash_sale")
    with pytest.raises(NotFound):
        create_draft(session, "flash_sale", load_shipped("flash_sale"), actor=admin.id,
                     now=utcnow())  # fmt: skip
    with pytest.raises(NotFound):
        get_version(session, RMA, 7)
    with pytest.raises(NotFound):
        publish_version(session, RMA, 7, actor=admin.id, now=utcnow())
