"""Opening and reading returns: eligibility, the checks, what is written (services.returns)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, select, update

from app.db import utcnow
from app.errors import NotFound, ValidationError
from app.models.orders import Order
from app.models.returns import OutboxMessage
from app.services.returns import (
    LineRequest,
    check_eligibility,
    create_return,
    describe_return,
    describe_returns,
    fire_return_trigger,
    get_return,
    list_returns,
    return_events,
)
from app.services.users import Person, create_user
from tests.builders import (
    PASSWORD,
    make_paid_order,
    make_product,
    make_user,
    publish_new_version,
    set_setting,
)
from workflows.definitions import load_shipped


@pytest.fixture
def order(session, payments, customer):
    product = make_product(session, stock=10, price_cents=1500)
    return make_paid_order(session, payments, customer, product, quantity=3)


def open_one(session, customer, order, quantity=1, **options):
    return create_return(
        session,
        customer=customer,
        order_id=order.id,
        reason=options.get("reason", "defective"),
        description=options.get("description", "stopped working"),
        lines=[LineRequest(order.lines[0].id, quantity)],
        now=options.get("now") or utcnow(),
    )


def test_an_end_an_admin_added_frees_the_units_like_a_cancellation(session, customer, order):
    """Version 2 adds WITHDRAWN, an end the customer reaches from review: the units of a
    withdrawn return may be asked back again, as after a cancel; a completed return's not."""
    data = load_shipped("rma")
    data["states"].append(
        {"name": "WITHDRAWN", "label": "Withdrawn", "team": None, "terminal": True}
    )
    data["transitions"].append(
        {"trigger": "withdraw", "source": ["VALIDATING"], "dest": "WITHDRAWN", "roles": ["owner"]}
    )
    publish_new_version(session, data, make_user(session, "admin"))
    record = open_one(session, customer, order, quantity=3)
    assert record.workflow_version == 2
    fire_return_trigger(session, record.id, "withdraw", actor=customer, fields={},
                        expected_version=None, now=utcnow())  # fmt: skip
    result = check_eligibility(session, customer_id=customer.id, order_id=order.id, now=utcnow())
    assert result.lines[0].returnable == 3


def test_it_reports_what_can_still_be_returned(session, customer, order):
    open_one(session, customer, order, quantity=2)
    result = check_eligibility(session, customer_id=customer.id, order_id=order.id, now=utcnow())
    [line] = result.lines
    assert (line.bought, line.already_returned, line.returnable) == (3, 2, 1)
    assert (line.unit_price_cents, line.name) == (1500, "Test Widget")
    assert (result.open, result.eligible, result.reasons) == (True, True, [])
    assert result.window_closes_at == order.created_at + timedelta(days=30)


def test_it_explains_why_nothing_can_be_returned(session, customer, order):
    open_one(session, customer, order, quantity=3)
    result = check_eligibility(session, customer_id=customer.id, order_id=order.id, now=utcnow())
    assert not result.eligible
    assert result.reasons == ["every unit of this order is already being returned"]
    late = order.created_at + timedelta(days=31)
    closed = check_eligibility(session, customer_id=customer.id, order_id=order.id, now=late)
    assert not closed.eligible
    assert closed.reasons[0].startswith("the 30-day return window closed on ")


def test_it_keeps_the_window_open_to_the_second(session, customer, order):
    set_setting(session, "return_window_days", 7)
    edge = order.created_at + timedelta(days=7)
    open_one(session, customer, order, now=edge)
    with pytest.raises(ValidationError) as caught:
        open_one(session, customer, order, now=edge + timedelta(seconds=1))
    assert "7-day return window" in caught.value.fields["order_id"]


def test_it_writes_the_return_its_lines_and_first_two_events(session, customer, order):
    now = utcnow()
    record = open_one(session, customer, order, quantity=2, description="  cracked  ", now=now)
    session.expire_all()
    record = get_return(session, customer, record.id)
    assert (record.state, record.version, record.team, record.workflow_version) == (
        "VALIDATING",
        2,
        "support",
        1,
    )
    assert (record.description, record.paid_cents, record.created_at) == ("cracked", 3000, now)
    assert record.sla_due_at == now + timedelta(hours=24)
    [line] = record.lines
    assert (line.quantity, line.unit_price_cents, line.order_line_id) == (
        2,
        1500,
        order.lines[0].id,
    )
    events = return_events(session, record.id)
    assert [(e.trigger, e.from_state, e.to_state, e.actor_id) for e in events] == [
        ("submit", None, "SUBMITTED", customer.id),
        ("validate", "SUBMITTED", "VALIDATING", None),
    ]
    notice = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "notification"))
    assert [m.idempotency_key for m in notice] == [f"notice-{record.id}-2"]


@pytest.mark.parametrize(
    ("reason", "description", "lines", "fields"),
    [
        ("broken", "", [(1, 1)], {"reason"}),
        ("other", "x" * 2001, [(1, 1)], {"description"}),
        ("other", "", [], {"lines"}),
        ("other", "", [(1, 0)], {"lines[0].quantity"}),
    ],
)
def test_it_checks_the_request_before_touching_the_order(
    session, customer, reason, description, lines, fields
):
    with pytest.raises(ValidationError) as caught:
        create_return(
            session,
            customer=customer,
            order_id=10**12,
            reason=reason,
            description=description,
            lines=[LineRequest(i, q) for i, q in lines],
            now=utcnow(),
        )
    assert set(caught.value.fields) == fields


def test_it_hides_orders_that_are_not_the_customers_paid_standard_ones(
    session, payments, customer, order
):
    other = make_user(session, "customer")
    for who, order_id in ((other, order.id), (customer, order.id + 999), (customer, 2**40)):
        with pytest.raises(NotFound):
            check_eligibility(session, customer_id=who.id, order_id=order_id, now=utcnow())
    session.execute(update(Order).where(Order.id == order.id).values(kind="replacement"))
    session.expire_all()
    with pytest.raises(NotFound):
        open_one(session, customer, order)


def test_it_shows_a_return_to_its_owner_and_staff_only(session, customer, order):
    record = open_one(session, customer, order)
    support = make_user(session, "support")
    assert get_return(session, support, record.id).id == record.id
    other = make_user(session, "customer")
    for who, return_id in ((other, record.id), (customer, record.id + 1), (support, 2**40)):
        with pytest.raises(NotFound):
            get_return(session, who, return_id)
    with pytest.raises(NotFound):
        get_return(session, support, 0)


def test_it_lists_own_returns_for_customers_and_all_for_staff(session, payments, customer, order):
    mine = [open_one(session, customer, order) for _ in range(2)]
    other = make_user(session, "customer")
    product = make_product(session)
    theirs = open_one(session, other, make_paid_order(session, payments, other, product))
    fire_return_trigger(
        session, theirs.id, "cancel", actor=other, fields={}, expected_version=None, now=utcnow()
    )
    assert [r.id for r in list_returns(session, customer).items] == [mine[1].id, mine[0].id]
    staff = make_user(session, "warehouse")
    assert list_returns(session, staff).total == 3
    assert [r.id for r in list_returns(session, staff, state="CANCELLED").items] == [theirs.id]
    assert list_returns(session, other, state="VALIDATING").total == 0


def test_it_describes_returns_with_history_and_next_steps_per_viewer(session, customer, order):
    first = open_one(session, customer, order)
    second = open_one(session, customer, order)
    support = make_user(session, "support", username="sue")
    fire_return_trigger(
        session,
        second.id,
        "approve",
        actor=support,
        fields={"note": "ok"},
        expected_version=2,
        now=utcnow(),
    )
    one, two = describe_returns(session, customer, [first, second])
    assert (one.record.id, one.state_label, one.terminal) == (first.id, "Awaiting review", False)
    assert [t.trigger for t in one.triggers] == ["cancel"]
    assert [t.trigger for t in two.triggers] == ["cancel", "ship"]
    assert [(h.actor, h.role, h.trigger) for h in two.history] == [
        (customer.username, "customer", "submit"),
        ("system", "system", "validate"),
        ("sue", "support", "approve"),
    ]
    assert two.history[-1].data == {"note": "ok"}
    assert [h.person for h in two.history] == [Person(customer.username), None, Person("sue")]
    assert [t.trigger for t in describe_return(session, support, second).triggers] == ["cancel"]
    assert describe_returns(session, support, []) == []


def test_history_carries_each_actors_name_in_the_same_query(session, customer, order):
    named = create_user(
        session, username="sam", password=PASSWORD, role="support", name="Sam Support"
    )
    record = open_one(session, customer, order)
    fire_return_trigger(
        session, record.id, "approve", actor=named, fields={}, expected_version=None, now=utcnow()
    )
    describe_returns(session, named, [record])  # the workflow engine is built and cached
    statements = []
    bind = session.get_bind()

    def count(*_args):
        statements.append(1)

    event.listen(bind, "before_cursor_execute", count)
    try:
        (details,) = describe_returns(session, named, [record])
    finally:
        event.remove(bind, "before_cursor_execute", count)
    assert details.history[-1].person == Person("sam", "Sam Support")
    assert details.history[-1].actor == "sam"  # the API's actor stays the username
    assert len(statements) == 1  # the events with their actors' names, joined


def test_staff_search_every_return_by_number_order_and_customer(session, payments, customer):
    named = create_user(
        session, username="robin", password=PASSWORD, role="customer", name="Robin Hood"
    )
    product = make_product(session, stock=10, price_cents=1500)
    mine = open_one(session, customer, make_paid_order(session, payments, customer, product, 1))
    theirs_order = make_paid_order(session, payments, named, product, 1)
    theirs = open_one(session, named, theirs_order)
    staff = make_user(session, "support")

    def numbers(viewer=staff, **filters):
        return {r.number for r in list_returns(session, viewer, **filters).items}

    assert numbers() == {mine.number, theirs.number}
    assert numbers(search=theirs.number.lower()) == {theirs.number}
    assert numbers(search=theirs_order.number[-4:]) == {theirs.number}
    assert numbers(search="ROBIN h") == {theirs.number}  # the name, any case
    assert numbers(search=customer.username) == {mine.number}
    assert numbers(search="nothing\x00") == set()
    assert numbers(customer_id=named.id) == {theirs.number}
    assert numbers(customer_id=named.id, search=mine.number) == set()
    assert numbers(customer_id=named.id, state="VALIDATING") == {theirs.number}
    # A customer's list is theirs whatever they ask for.
    assert numbers(customer, customer_id=named.id, search=theirs.number) == {mine.number}
