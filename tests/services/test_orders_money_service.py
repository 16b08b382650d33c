"""An order's money as it moved (services.orders.describe_order): each line with its amount
and status, the net paid - refunded = kept, and what a replacement order replaces."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from app.db import utcnow
from app.errors import NotFound, PaymentDeclined
from app.models.orders import Order
from app.models.returns import OutboxMessage
from app.services.credit import grant_credit
from app.services.orders import LineRequest, describe_order, place_order
from app.services.returns import (
    LineRequest as ReturnLineRequest,
)
from app.services.returns import (
    create_return,
    execute_refunds,
    fire_return_trigger,
)
from tests.builders import make_product, make_user, walk_return
from tests.conftest import statements_run


@pytest.fixture
def staff(session):
    return {role: make_user(session, role) for role in ("support", "warehouse", "finance")}


def buy(session, payments, customer, *, price, quantity, credit=0, card="4242424242424242"):
    product = make_product(session, price_cents=price, stock=20)
    return place_order(
        session, payments, customer_id=customer.id, lines=[LineRequest(product.id, quantity)],
        card_number=card, store_credit_cents=credit,
    )  # fmt: skip


def open_return(session, customer, order, quantity=1):
    return create_return(
        session, customer=customer, order_id=order.id, reason="defective", description="",
        lines=[ReturnLineRequest(order.lines[0].id, quantity)], now=utcnow(),
    )  # fmt: skip


def settle(session, record, staff, customer, disposition, payments=None):
    walk_return(session, record.id, staff, customer, until="process", disposition=disposition)
    if disposition == "REPLACEMENT":
        fire_return_trigger(session, record.id, "complete", actor=staff["warehouse"],
                            fields={"tracking_number": "OUT-1"}, expected_version=None,
                            now=utcnow())  # fmt: skip
    if payments is not None:
        execute_refunds(session, payments, now=utcnow())


def kinds(details):
    return [(line.kind, line.amount_cents, line.status, line.counted) for line in details.lines]


def test_it_shows_a_paid_order_with_credit_used_and_its_net(session, payments, customer):
    grant_credit(session, customer_id=customer.id, amount_cents=1000, reason="gift", actor_id=None)
    order = buy(session, payments, customer, price=2000, quantity=3, credit=1000)
    details = describe_order(session, customer, order.id)
    assert kinds(details) == [
        ("card_payment", 5000, "succeeded", True),
        ("credit_used", 1000, "order_payment", True),
    ]
    [card, _] = details.lines
    assert (card.card_last4, card.reference.startswith("ch_")) == ("4242", True)
    assert card.done_at is not None
    assert (details.card_charged_cents, details.credit_spent_cents) == (5000, 1000)
    assert (details.paid_cents, details.refunded_cents, details.kept_cents) == (6000, 0, 6000)
    assert details.customer.username == "casey"
    assert (details.returns, details.replaces, details.pending_refund_cents) == ([], None, 0)


def test_it_follows_a_refund_store_credit_and_a_replacement(session, payments, customer, staff):
    grant_credit(session, customer_id=customer.id, amount_cents=1000, reason="gift", actor_id=None)
    order = buy(session, payments, customer, price=2000, quantity=3, credit=1000)
    refunded, credited, replaced = (open_return(session, customer, order) for _ in range(3))
    settle(session, refunded, staff, customer, "REFUND", payments)
    settle(session, credited, staff, customer, "STORE_CREDIT")
    settle(session, replaced, staff, customer, "REPLACEMENT")

    details = describe_order(session, make_user(session, "finance"), order.id)
    assert kinds(details) == [
        ("card_payment", 5000, "succeeded", True),
        ("credit_used", 1000, "order_payment", True),
        ("card_refund", -2000, "succeeded", True),
        ("credit_issued", -2000, "return_store_credit", True),
        ("replacement", 0, None, False),
    ]
    refund, issued, sent = details.lines[2:]
    assert (refund.return_number, refund.done_at is not None) == (refunded.number, True)
    assert refund.reference
    assert refund.reference.startswith("re_")
    assert refund.at <= refund.done_at
    assert (issued.return_id, issued.return_number) == (credited.id, credited.number)
    session.refresh(replaced)
    assert (sent.order_id, sent.return_number) == (replaced.replacement_order_id, replaced.number)
    assert sent.order_number.startswith("BR-")
    assert (details.card_refunded_cents, details.credit_issued_cents) == (2000, 2000)
    assert (details.paid_cents, details.refunded_cents, details.kept_cents) == (6000, 4000, 2000)
    assert [(r.number, r.state_label) for r in details.returns] == [
        (refunded.number, "Processing"),
        (credited.number, "Processing"),
        (replaced.number, "Completed"),
    ]
    assert details.returns[0].disposition == "REFUND"
    assert details.returns[0].amount_cents == 2000


def test_it_says_what_a_replacement_order_replaces(session, payments, customer, staff):
    order = buy(session, payments, customer, price=1500, quantity=1)
    record = open_return(session, customer, order)
    settle(session, record, staff, customer, "REPLACEMENT")
    session.refresh(record)
    details = describe_order(session, customer, record.replacement_order_id)
    assert details.replaces is not None
    assert (details.replaces.return_id, details.replaces.return_number) == (
        record.id,
        record.number,
    )
    assert (details.replaces.order_id, details.replaces.order_number) == (order.id, order.number)
    assert (details.lines, details.paid_cents, details.kept_cents) == ([], 0, 0)


def test_it_splits_a_refund_the_card_cannot_take_into_store_credit(
    session, payments, customer, staff
):
    grant_credit(session, customer_id=customer.id, amount_cents=1500, reason="gift", actor_id=None)
    order = buy(session, payments, customer, price=2000, quantity=1, credit=1500)
    record = open_return(session, customer, order)
    settle(session, record, staff, customer, "REFUND")  # queued, not sent yet
    details = describe_order(session, customer, order.id)
    assert kinds(details)[2:] == [
        ("credit_issued", -1500, "return_refund", True),
        ("card_refund", -500, "pending", False),
    ] or kinds(details)[2:] == [
        ("card_refund", -500, "pending", False),
        ("credit_issued", -1500, "return_refund", True),
    ]
    assert details.pending_refund_cents == 500
    assert (details.paid_cents, details.refunded_cents, details.kept_cents) == (2000, 1500, 500)
    refund = next(line for line in details.lines if line.kind == "card_refund")
    assert (refund.done_at, refund.reference) == (None, None)


def test_it_leaves_a_failed_refund_out_of_the_net(session, payments, customer, staff):
    order = buy(session, payments, customer, price=1200, quantity=1)
    record = open_return(session, customer, order)
    settle(session, record, staff, customer, "REFUND")
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.kind == "refund")
        .values(status="failed", done_at=utcnow(), last_error="card expired")
    )
    session.commit()
    details = describe_order(session, customer, order.id)
    [_, refund] = details.lines
    assert (refund.status, refund.counted, refund.error) == ("failed", False, "card expired")
    assert (details.refunded_cents, details.kept_cents, details.pending_refund_cents) == (
        0,
        1200,
        0,
    )


def test_it_nets_a_failed_payment_to_nothing(session, payments, customer):
    grant_credit(session, customer_id=customer.id, amount_cents=300, reason="gift", actor_id=None)
    with pytest.raises(PaymentDeclined):
        buy(session, payments, customer, price=1000, quantity=1, credit=300,
            card="4000000000000002")  # fmt: skip
    order = session.query(Order).filter_by(customer_id=customer.id).one()
    details = describe_order(session, make_user(session, "support"), order.id)
    assert kinds(details) == [
        ("card_payment", 700, "declined", False),
        ("credit_used", 300, "order_payment", True),
        ("credit_restored", -300, "order_payment_reversed", True),
    ]
    assert (details.paid_cents, details.kept_cents) == (0, 0)


def test_it_shows_an_order_paid_in_store_credit_without_a_card_line(session, payments, customer):
    grant_credit(session, customer_id=customer.id, amount_cents=900, reason="gift", actor_id=None)
    order = buy(session, payments, customer, price=900, quantity=1, credit=900)
    details = describe_order(session, customer, order.id)
    assert kinds(details) == [("credit_used", 900, "order_payment", True)]
    assert (details.card_charged_cents, details.paid_cents) == (0, 900)


def test_it_refuses_another_customers_order(session, payments, customer):
    theirs = buy(session, payments, make_user(session, "customer"), price=500, quantity=1)
    with pytest.raises(NotFound):
        describe_order(session, customer, theirs.id)


def test_it_reads_the_same_number_of_queries_for_one_return_or_many(
    db, session, payments, customer, staff
):
    def count_reads(order_id):
        session.expunge_all()
        with statements_run(session) as statements:
            describe_order(session, customer, order_id)
        return len(statements)

    def order_with(copies):
        order = buy(session, payments, customer, price=1000, quantity=3 * copies)
        for disposition in ("REFUND", "STORE_CREDIT", "REPLACEMENT") * copies:
            record = open_return(session, customer, order)
            settle(session, record, staff, customer, disposition, payments)
        return order

    one, many = order_with(1), order_with(2)
    count_reads(one.id)  # warm the workflow engine cache
    assert count_reads(many.id) == count_reads(one.id)
