"""Firing return triggers: compare-and-set, effects on money and stock (services.return_*)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

import app.services.returns.transitions as transitions
from app.db import utcnow
from app.errors import Conflict, Forbidden, NotFound
from app.models.returns import OutboxMessage, ReturnEvent, ReturnRequest
from app.services.credit import credit_balance, grant_credit, list_credit_entries
from app.services.orders import LineRequest as OrderLine
from app.services.orders import place_order
from app.services.returns import (
    LineRequest,
    act_on_return,
    available_triggers,
    create_return,
    fire_return_trigger,
    state_label,
)
from tests.builders import make_product, make_user, walk_return


@pytest.fixture
def staff(session):
    return {role: make_user(session, role) for role in ("support", "warehouse", "finance")}


def buy(session, payments, customer, *, quantity=2, price=1500, credit=0):
    product = make_product(session, stock=10, price_cents=price)
    if credit:
        grant_credit(
            session, customer_id=customer.id, amount_cents=credit, reason="goodwill", actor_id=None
        )
    return place_order(
        session,
        payments,
        customer_id=customer.id,
        lines=[OrderLine(product.id, quantity)],
        card_number="4242424242424242",
        store_credit_cents=credit,
    )


def open_one(session, customer, order, quantity=1):
    return create_return(
        session,
        customer=customer,
        order_id=order.id,
        reason="damaged",
        description="",
        lines=[LineRequest(order.lines[0].id, quantity)],
        now=utcnow(),
    )


def refund_payloads(session, return_id):
    session.expire_all()
    messages = session.scalars(
        select(OutboxMessage).where(OutboxMessage.idempotency_key.like(f"refund-{return_id}-%"))
    )
    return [json.loads(m.payload) for m in messages]


def test_it_loses_the_compare_and_set_to_a_concurrent_writer(
    session, payments, customer, staff, monkeypatch
):
    record = open_one(session, customer, buy(session, payments, customer))
    real = transitions.load_engine

    def load_while_someone_else_writes(*args, **kwargs):
        # Another transaction moves the return between our read and our write.
        session.execute(
            text("UPDATE returns SET version = version + 1 WHERE id = :id"), {"id": record.id}
        )
        return real(*args, **kwargs)

    monkeypatch.setattr(transitions, "load_engine", load_while_someone_else_writes)
    with pytest.raises(Conflict) as caught:
        fire_return_trigger(
            session,
            record.id,
            "approve",
            actor=staff["support"],
            fields={},
            expected_version=2,
            now=utcnow(),
        )
    assert caught.value.code == "stale_version"
    monkeypatch.undo()
    session.expire_all()
    assert session.get(ReturnRequest, record.id).state == "VALIDATING"
    events = session.scalars(select(ReturnEvent.trigger).where(ReturnEvent.return_id == record.id))
    assert list(events) == ["submit", "validate"]


def test_it_lets_the_system_fire_only_system_steps_and_refuses_huge_ids(
    session, payments, customer, staff
):
    record = open_one(session, customer, buy(session, payments, customer))
    with pytest.raises(Forbidden):
        fire_return_trigger(
            session,
            record.id,
            "approve",
            actor=None,
            fields={},
            expected_version=None,
            now=utcnow(),
        )
    for return_id in (0, 2**31, 2**70):
        with pytest.raises(NotFound):
            fire_return_trigger(
                session,
                return_id,
                "approve",
                actor=staff["support"],
                fields={},
                expected_version=None,
                now=utcnow(),
            )


def test_it_names_states_and_next_steps(session, payments, customer, staff):
    record = open_one(session, customer, buy(session, payments, customer))
    assert state_label(session, record) == "Awaiting review"
    assert state_label(session, record, "APPROVED") == "Approved: ship it back"
    assert [a.trigger for a in available_triggers(session, record, staff["support"])] == [
        "approve",
        "reject",
        "cancel",
    ]
    assert available_triggers(session, record, staff["finance"]) == []


def test_it_refunds_the_card_part_to_the_card_and_the_credit_part_as_credit(
    session, payments, customer, staff
):
    order = buy(session, payments, customer, quantity=2, price=1500, credit=1000)
    assert (order.total_cents, order.card_cents) == (3000, 2000)
    record = open_one(session, customer, order, quantity=2)
    walk_return(session, record.id, staff, customer, until="process")
    assert refund_payloads(session, record.id) == [
        {"amount_cents": 2000, "charge_reference": order.payment.reference, "return_id": record.id}
    ]
    assert credit_balance(session, customer.id) == 1000
    entry = list_credit_entries(session, customer.id)[0]
    assert (entry.reason, entry.return_id, entry.amount_cents) == ("return_refund", record.id, 1000)
    assert session.get(ReturnRequest, record.id).refund_status == "pending"


def test_it_never_refunds_more_to_the_card_than_was_charged(session, payments, customer, staff):
    order = buy(session, payments, customer, quantity=2, price=1500, credit=1000)
    first = open_one(session, customer, order)
    second = open_one(session, customer, order)
    walk_return(session, first.id, staff, customer, until="process")
    walk_return(session, second.id, staff, customer, until="process")
    assert refund_payloads(session, first.id)[0]["amount_cents"] == 1500
    assert refund_payloads(session, second.id)[0]["amount_cents"] == 500
    assert credit_balance(session, customer.id) == 1000  # the credit part, given back


def test_it_refunds_an_order_paid_with_credit_as_credit_at_once(session, payments, customer, staff):
    order = buy(session, payments, customer, quantity=1, price=1500, credit=1500)
    assert order.card_cents == 0
    record = open_one(session, customer, order)
    done = walk_return(session, record.id, staff, customer, until="process")
    assert (done.refund_status, done.refund_reference) == ("succeeded", "store-credit")
    assert refund_payloads(session, record.id) == []
    assert credit_balance(session, customer.id) == 1500


def test_it_keeps_the_events_append_only_with_the_workflow_version(
    session, payments, customer, staff
):
    record = open_one(session, customer, buy(session, payments, customer))
    walk_return(session, record.id, staff, customer, until="decide", disposition="REPAIR")
    session.expire_all()
    events = session.scalars(
        select(ReturnEvent).where(ReturnEvent.return_id == record.id).order_by(ReturnEvent.id)
    ).all()
    assert len(events) == session.get(ReturnRequest, record.id).version == 8
    assert {e.workflow_version for e in events} == {1}
    assert json.loads(events[-1].data) == {"disposition": "REPAIR"}


def test_an_action_hands_back_the_row_only_while_the_return_stays_in_that_queue(
    session, payments, customer, staff
):
    stays = open_one(session, customer, buy(session, payments, customer))
    walk_return(session, stays.id, staff, customer, until="ship")
    kept = act_on_return(
        session, staff["warehouse"], stays.id, "receive", {},
        expected_version=None, queue="warehouse", now=utcnow(),
    )  # fmt: skip
    assert (kept.details.state_label, [a.trigger for a in kept.details.triggers]) == (
        "Received",
        ["start_inspection"],
    )
    assert kept.row is not None
    assert (kept.row.record.id, kept.row.customer) == (stays.id, customer.name or customer.username)
    assert kept.details.history == []  # a queue row shows none
    leaves = open_one(session, customer, buy(session, payments, customer))
    left = act_on_return(
        session, staff["support"], leaves.id, "approve", lambda specs: {"note": "fine"},
        expected_version=2, queue="support", with_history=True, now=utcnow(),
    )  # fmt: skip
    assert (left.row, left.details.record.team) == (None, "customer")
    assert [e.trigger for e in left.details.history] == ["submit", "validate", "approve"]
    assert left.details.history[-1].data == {"note": "fine"}


def test_an_action_refuses_what_fire_return_trigger_refuses(session, payments, customer, staff):
    record = open_one(session, customer, buy(session, payments, customer))
    with pytest.raises(Forbidden):
        act_on_return(session, staff["finance"], record.id, "approve", {},
                      expected_version=None, now=utcnow())  # fmt: skip
    with pytest.raises(NotFound):
        act_on_return(session, make_user(session, "customer"), record.id, "cancel", {},
                      expected_version=None, now=utcnow())  # fmt: skip
    with pytest.raises(Conflict):
        act_on_return(session, staff["support"], record.id, "approve", {},
                      expected_version=1, now=utcnow())  # fmt: skip
