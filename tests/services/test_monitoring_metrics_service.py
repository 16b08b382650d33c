"""`read_business_metrics`: the counts /metrics exports, read from the rows as they stand."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.db import utcnow
from app.errors import PaymentDeclined
from app.services.flash_sales import cancel_sale, checkout_hold, end_due_sales
from app.services.monitoring import read_business_metrics
from app.services.orders import LineRequest, place_order
from app.services.returns import LineRequest as ReturnLine
from app.services.returns import create_return
from tests.builders import make_paid_order, make_product, make_user, walk_return
from tests.services.test_flash_sales_service import HOUR, TTL, at, hold, make_sale

DECLINED = "4000000000000002"


def metrics(session, now=None):
    session.expire_all()
    return read_business_metrics(session, now=now or utcnow())


def open_return(session, payments, customer):
    product = make_product(session, price_cents=900)
    order = make_paid_order(session, payments, customer, product, quantity=1)
    return create_return(
        session,
        customer=customer,
        order_id=order.id,
        reason="other",
        description="",
        lines=[ReturnLine(order.lines[0].id, 1)],
        now=utcnow(),
    )


def test_it_reports_every_known_status_as_zero_on_an_empty_database(session):
    result = metrics(session)
    assert result.orders_by_status == {"pending_payment": 0, "paid": 0, "payment_failed": 0}
    assert result.returns_by_state == {}
    assert result.refunds_by_status == {"pending": 0, "succeeded": 0, "failed": 0}
    assert result.flash_units_sold_by_sale_state == {
        "scheduled": 0,
        "active": 0,
        "ended": 0,
        "cancelled": 0,
    }
    assert result.flash_units_held == 0


def test_it_counts_orders_by_status(session, payments, customer):
    product = make_product(session, stock=20)
    make_paid_order(session, payments, customer, product)
    make_paid_order(session, payments, customer, product)
    with pytest.raises(PaymentDeclined):
        place_order(session, payments, customer_id=customer.id,
                    lines=[LineRequest(product.id, 1)], card_number=DECLINED)  # fmt: skip
    assert metrics(session).orders_by_status == {
        "pending_payment": 0,
        "paid": 2,
        "payment_failed": 1,
    }


def test_it_counts_returns_by_state_and_refunds_by_status(session, payments, customer):
    staff = {role: make_user(session, role) for role in ("support", "warehouse", "finance")}
    first = open_return(session, payments, customer)
    second = open_return(session, payments, customer)
    open_return(session, payments, customer)
    walk_return(session, first.id, staff, customer, until="approve")
    walk_return(session, second.id, staff, customer, until="process")
    result = metrics(session)
    assert sum(result.returns_by_state.values()) == 3
    assert result.returns_by_state["APPROVED"] == 1
    assert result.refunds_by_status == {"pending": 1, "succeeded": 0, "failed": 0}


def test_it_sums_flash_units_sold_by_sale_state_and_live_holds(session, payments, customer):
    products = [make_product(session, stock=20) for _ in range(3)]
    live = make_sale(session, [products[0]], start=0, end=HOUR, quantity=5, limit=3)
    paid = hold(session, live, products[0], customer, quantity=2, now=at(10))
    checkout_hold(session, payments, hold_id=paid.id, customer_id=customer.id,
                  card_number="4242424242424242", now=at(20))  # fmt: skip
    hold(session, live, products[0], customer, quantity=1, now=at(30))
    other = make_user(session)
    second = make_sale(session, [products[1]], start=0, end=HOUR, quantity=5, limit=5)
    held = hold(session, second, products[1], other, quantity=3, now=at(10))
    checkout_hold(session, payments, hold_id=held.id, customer_id=other.id,
                  card_number="4242424242424242", now=at(20))  # fmt: skip
    scheduled = make_sale(session, [products[2]], start=2 * HOUR, end=3 * HOUR)
    cancel_sale(session, scheduled.id, actor=make_user(session, "admin"), now=at(40))

    during = metrics(session, now=at(60))
    assert during.flash_units_sold_by_sale_state == {
        "scheduled": 0,
        "active": 5,
        "ended": 0,
        "cancelled": 0,
    }
    assert during.flash_units_held == 1
    assert metrics(session, now=at(30 + TTL + 1)).flash_units_held == 0  # expiry is a predicate

    end_due_sales(session, at(HOUR + 1))
    after = metrics(session, now=at(HOUR + 1))
    assert after.flash_units_sold_by_sale_state["ended"] == 5
    assert after.flash_units_sold_by_sale_state["active"] == 0


def test_it_does_not_count_an_expired_hold_left_unswept(session, customer):
    product = make_product(session, stock=5)
    sale = make_sale(session, [product], start=0, end=HOUR, quantity=5, limit=2)
    hold(session, sale, product, customer, quantity=2, now=at(0))
    assert metrics(session, now=at(TTL - 1)).flash_units_held == 2
    assert metrics(session, now=at(TTL) + timedelta(seconds=1)).flash_units_held == 0
