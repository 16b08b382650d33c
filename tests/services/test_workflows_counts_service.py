"""What the admin workflow pages read (issue 11): live counts per state and version, SLA
breaches, the versions' history and what changed, the diagram of a version."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event

from app.db import utcnow
from app.errors import NotFound
from app.services.flash_sales import SaleItemInput, cancel_sale, create_sale
from app.services.returns import LineRequest, create_return, fire_return_trigger
from app.services.workflows import (
    RMA,
    StateCount,
    create_draft,
    get_version_diagram,
    get_workflow,
    list_workflows,
    state_counts,
)
from tests.builders import (
    make_paid_order,
    make_product,
    make_user,
    publish_new_version,
    rma_with_awaiting_info,
)
from workflows.definitions import load_shipped

HOUR = timedelta(hours=1)


@pytest.fixture
def people(session):
    return {
        "customer": make_user(session, "customer"),
        "support": make_user(session, "support"),
        "admin": make_user(session, "admin", username="ada"),
    }


@pytest.fixture
def open_return(session, payments, people):
    product = make_product(session, stock=50, price_cents=1000)

    def make():
        order = make_paid_order(session, payments, people["customer"], product, quantity=1)
        return create_return(
            session,
            customer=people["customer"],
            order_id=order.id,
            reason="damaged",
            description="broken",
            lines=[LineRequest(order.lines[0].id, 1)],
            now=utcnow(),
        )

    return make


def fire(session, record, trigger, actor, **fields):
    return fire_return_trigger(
        session, record.id, trigger, actor=actor, fields=fields, expected_version=None,
        now=utcnow(),
    )  # fmt: skip


def test_it_counts_returns_per_state_and_marks_those_past_their_sla(session, people, open_return):
    late = [open_return() for _ in range(3)]
    fire(session, late[0], "approve", people["support"])
    fire(session, late[1], "reject", people["support"], note="Outside the window")
    now = utcnow()

    assert state_counts(session, RMA, 1, now=now) == {
        "VALIDATING": StateCount(1, 0),
        "APPROVED": StateCount(1, 0),
        "REJECTED": StateCount(1, 0),
    }
    # VALIDATING has a 24 h SLA, APPROVED 336 h; a terminal state has none.
    assert state_counts(session, RMA, 1, now=now + 25 * HOUR) == {
        "VALIDATING": StateCount(1, 1),
        "APPROVED": StateCount(1, 0),
        "REJECTED": StateCount(1, 0),
    }
    assert state_counts(session, RMA, 1, now=now + 400 * HOUR)["APPROVED"] == StateCount(1, 1)


def test_it_counts_with_one_query(session, db, people, open_return):
    for _ in range(4):
        open_return()
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        counts = state_counts(session, RMA, 1, now=utcnow() + 48 * HOUR)
    finally:
        event.remove(engine, "before_cursor_execute", record)

    assert counts == {"VALIDATING": StateCount(4, 4)}
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1


def test_it_counts_each_version_apart_and_a_new_state_of_v2(session, people, open_return):
    on_v1 = open_return()
    version = publish_new_version(session, rma_with_awaiting_info(), people["admin"])
    on_v2 = open_return()
    fire(session, on_v2, "ask_info", people["support"], note="Which colour was it?")
    now = utcnow()

    assert version == 2
    assert state_counts(session, RMA, 1, now=now) == {"VALIDATING": StateCount(1, 0)}
    assert state_counts(session, RMA, 2, now=now) == {"AWAITING_INFO": StateCount(1, 0)}
    assert state_counts(session, RMA, 2, now=now + 73 * HOUR) == {"AWAITING_INFO": StateCount(1, 1)}
    assert on_v1.workflow_version == 1
    shown = get_version_diagram(session, RMA, 2, now=now)
    assert shown.count("AWAITING_INFO") == StateCount(1, 0)
    assert shown.count("SHIPPING") == StateCount(0, 0)
    assert "AWAITING_INFO" in {box.name for box in shown.layout.boxes}


def test_it_counts_flash_sales_per_state_without_slas(session, people):
    now = utcnow()

    def sale(name):
        product = make_product(session, stock=50)
        return create_sale(
            session, name=name, starts_at=now + HOUR, ends_at=now + 2 * HOUR,
            items=[SaleItemInput(product.id, 500, 2, 1)], now=now,
        )  # fmt: skip

    sale("a")
    cancel_sale(session, sale("b").id, actor=people["admin"], now=now)

    counts = state_counts(session, "flash_sale", 1, now=now + 1000 * HOUR)

    assert counts == {"scheduled": StateCount(1, 0), "cancelled": StateCount(1, 0)}
    assert state_counts(session, "flash_sale", 2, now=now) == {}


def test_it_refuses_an_unknown_workflow_or_version(session):
    with pytest.raises(NotFound):
        state_counts(session, "payroll", 1, now=utcnow())
    with pytest.raises(NotFound):
        get_workflow(session, "payroll")
    with pytest.raises(NotFound):
        get_version_diagram(session, RMA, 99, now=utcnow())


def test_it_lists_each_workflow_with_its_versions_history_and_changes(session, people, open_return):
    open_return()
    publish_new_version(session, rma_with_awaiting_info(), people["admin"])
    relabelled = rma_with_awaiting_info()
    relabelled["states"][0]["label"] = "Sent in"
    create_draft(session, RMA, relabelled, actor=people["admin"].id, now=utcnow())

    rma, flash = list_workflows(session)

    assert (rma.name, rma.editable, rma.published, rma.drafts) == (RMA, True, 2, 1)
    assert [(v.version, v.status) for v in rma.versions] == [
        (3, "draft"), (2, "published"), (1, "retired"),
    ]  # fmt: skip
    draft, published, first = rma.versions
    assert draft.changes == ("changed states SUBMITTED",)
    assert "added states AWAITING_INFO" in published.changes
    assert "added transitions ask_info, provide_info" in published.changes
    assert first.changes == ("the first version",)
    assert [c.what for c in published.history] == ["created", "published"]
    assert published.history[0].who == "ada"
    assert published.latest.who == "ada"
    assert [c.what for c in first.history] == ["created", "published", "retired"]
    assert (first.open_items, first.items) == (1, 1)
    assert rma.latest is not None
    assert rma.latest.what == "created"  # the draft, the newest change
    assert (flash.name, flash.editable, flash.published, flash.drafts) == (
        "flash_sale", False, 1, 0,
    )  # fmt: skip
    assert load_shipped("flash_sale")["states"][0]["name"] == "scheduled"
