"""Moving returns in flight to a newer workflow version (issue 11): the dry run, the audited
move, what stays, and what is refused."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from app.db import utcnow
from app.errors import ValidationError
from app.models.returns import ReturnEvent, ReturnRequest
from app.models.workflows import WorkflowMigration
from app.services.returns import (
    LineRequest,
    create_return,
    fire_return_trigger,
    migrate_returns,
    plan_migration,
)
from tests.builders import (
    make_paid_order,
    make_product,
    make_user,
    publish_new_version,
    rma_with_awaiting_info,
)


def opened(session, payments, customer):
    product = make_product(session, price_cents=2500, stock=10)
    order = make_paid_order(session, payments, customer, product, 1)
    return create_return(
        session,
        customer=customer,
        order_id=order.id,
        reason="damaged",
        description="",
        lines=[LineRequest(order.lines[0].id, 1)],
        now=utcnow(),
    )


def test_a_dry_run_counts_who_would_move_where_and_moves_nothing(session, payments):
    admin, customer, support = (make_user(session, r) for r in ("admin", "customer", "support"))
    waiting = [opened(session, payments, customer) for _ in range(2)]
    approved = opened(session, payments, customer)
    fire_return_trigger(session, approved.id, "approve", actor=support, fields={},
                        expected_version=None, now=utcnow())  # fmt: skip
    done = opened(session, payments, customer)
    fire_return_trigger(session, done.id, "cancel", actor=customer, fields={},
                        expected_version=None, now=utcnow())  # fmt: skip
    v2 = publish_new_version(session, rma_with_awaiting_info(), admin)

    plan = plan_migration(
        session, from_version=1, to_version=v2, mapping={"VALIDATING": "AWAITING_INFO"}
    )

    assert [(m.source, m.dest, m.count) for m in plan.moves] == [
        ("VALIDATING", "AWAITING_INFO", 2),
        ("APPROVED", "APPROVED", 1),
    ]
    assert plan.total == 3
    assert plan.problems == []
    session.expire_all()
    assert {session.get(ReturnRequest, r.id).workflow_version for r in waiting} == {1}
    assert session.scalar(select(func.count()).select_from(WorkflowMigration)) == 0


def test_it_moves_the_open_returns_with_an_event_each_and_an_audit_record(session, payments):
    admin, customer = make_user(session, "admin"), make_user(session, "customer")
    record = opened(session, payments, customer)
    finished = opened(session, payments, customer)
    fire_return_trigger(session, finished.id, "cancel", actor=customer, fields={},
                        expected_version=None, now=utcnow())  # fmt: skip
    v2 = publish_new_version(session, rma_with_awaiting_info(), admin)
    before = record.version

    plan = migrate_returns(
        session, from_version=1, to_version=v2, mapping={"VALIDATING": "AWAITING_INFO"},
        actor=admin, now=utcnow(),
    )  # fmt: skip

    assert plan.total == 1
    session.expire_all()
    moved = session.get(ReturnRequest, record.id)
    assert (moved.workflow_version, moved.state, moved.version) == (v2, "AWAITING_INFO", before + 1)
    assert moved.team == "customer"  # the new version's team for the state it entered
    event = session.scalars(
        select(ReturnEvent)
        .where(ReturnEvent.return_id == record.id)
        .order_by(ReturnEvent.id.desc())
    ).first()
    assert (event.trigger, event.from_state, event.to_state, event.workflow_version) == (
        "migrate", "VALIDATING", "AWAITING_INFO", v2,
    )  # fmt: skip
    assert json.loads(event.data) == {"from_version": 1, "to_version": v2}
    assert session.get(ReturnRequest, finished.id).workflow_version == 1  # it ended on v1
    audit = session.scalars(select(WorkflowMigration)).one()
    assert (audit.from_version, audit.to_version, audit.moved, audit.by) == (1, v2, 1, admin.id)
    assert json.loads(audit.mapping) == {"VALIDATING": "AWAITING_INFO"}
    # It continues on version 2: the owner answers and support sees it again.
    fire_return_trigger(session, record.id, "provide_info", actor=customer, fields={},
                        expected_version=None, now=utcnow())  # fmt: skip
    assert session.get(ReturnRequest, record.id).state == "VALIDATING"


def test_it_refuses_a_mapping_that_leaves_returns_nowhere_and_moves_none(session, payments):
    admin, customer = make_user(session, "admin"), make_user(session, "customer")
    record = opened(session, payments, customer)
    data = rma_with_awaiting_info()
    v2 = publish_new_version(session, data, admin)

    with pytest.raises(ValidationError) as nowhere:
        migrate_returns(session, from_version=1, to_version=v2,
                        mapping={"VALIDATING": "NOWHERE"}, actor=admin, now=utcnow())  # fmt: skip
    assert nowhere.value.details["problems"] == [
        f"VALIDATING → NOWHERE: version {v2} has no state NOWHERE"
    ]
    to_an_end = plan_migration(
        session, from_version=1, to_version=v2, mapping={"VALIDATING": "COMPLETED"}
    )
    assert "cannot be moved to an end" in to_an_end.problems[0]
    with pytest.raises(ValidationError):
        plan_migration(session, from_version=1, to_version=1, mapping={})
    session.expire_all()
    assert session.get(ReturnRequest, record.id).workflow_version == 1
