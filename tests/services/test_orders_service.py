"""Reading orders: customers see their own, staff see all, payment_failed is not an order."""

from __future__ import annotations

import pytest

from app.errors import NotFound, ValidationError
from app.services.orders import (
    LineRequest,
    get_order,
    list_orders,
    payment_for,
    payments_for,
    place_order,
)
from app.services.pagination import Page
from tests.builders import make_product, make_user


def buy(session, payments, customer, product, card="4242424242424242"):
    try:
        return place_order(
            session,
            payments,
            customer_id=customer.id,
            lines=[LineRequest(product.id, 1)],
            card_number=card,
        )
    except Exception:
        return None


@pytest.fixture
def orders(session, payments, customer):
    product = make_product(session, stock=10)
    other = make_user(session, "customer")
    mine = buy(session, payments, customer, product)
    theirs = buy(session, payments, other, product)
    buy(session, payments, customer, product, card="4000000000000002")
    return mine, theirs


def test_it_lists_a_customers_placed_orders_only(session, customer, orders):
    mine, _ = orders
    page = list_orders(session, customer)
    assert [o.id for o in page.items] == [mine.id]


def test_it_lists_every_order_for_staff_with_a_status_filter(session, admin, orders):
    assert list_orders(session, admin).total == 3
    assert list_orders(session, admin, status="payment_failed").total == 1
    assert list_orders(session, admin, status="paid").total == 2


def test_it_refuses_an_unknown_status_filter(session, admin):
    with pytest.raises(ValidationError):
        list_orders(session, admin, status="shipped")


def test_it_hides_other_customers_orders(session, customer, admin, orders):
    mine, theirs = orders
    assert get_order(session, customer, mine.id).id == mine.id
    with pytest.raises(NotFound):
        get_order(session, customer, theirs.id)
    assert get_order(session, admin, theirs.id).id == theirs.id


def test_it_finds_payments_for_orders(session, orders):
    mine, theirs = orders
    assert payment_for(session, mine.id).status == "succeeded"
    assert payment_for(session, 999999) is None
    assert set(payments_for(session, [mine.id, theirs.id])) == {mine.id, theirs.id}
    assert payments_for(session, []) == {}


def test_it_computes_page_navigation():
    page = Page(items=[], total=45, page=2, per_page=20)
    assert (page.pages, page.has_next, page.has_prev) == (3, True, True)
    last = Page(items=[], total=45, page=3, per_page=20)
    assert (last.has_next, last.has_prev) == (False, True)
    empty = Page(items=[], total=0, page=1, per_page=20)
    assert (empty.pages, empty.has_next, empty.has_prev) == (1, False, False)
