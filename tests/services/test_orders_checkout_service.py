"""`place_order`: stock, the pending order, the charge outside the transaction, settling."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.db import transaction, utcnow
from app.errors import (
    Conflict,
    NotFound,
    PaymentDeclined,
    PaymentError,
    PaymentUnavailable,
    ValidationError,
)
from app.models.catalog import Product
from app.models.credit import CreditEntry
from app.models.orders import Order
from app.models.payments import GatewayCharge, Payment
from app.payments import BreakerOpen, Payments
from app.services.catalog import give_back_stock, take_stock
from app.services.credit import credit_balance, grant_credit
from app.services.orders import LineRequest, place_order, reconcile_pending_orders
from tests.builders import make_product

APPROVED, DECLINED, ERROR = "4242424242424242", "4000000000000002", "4000000000000119"


def stock(session, product):
    session.expire_all()
    return session.scalar(select(Product.stock).where(Product.id == product.id))


def count(session, model):
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


def buy(session, payments, customer, *lines, card=APPROVED, credit=0):
    return place_order(
        session,
        payments,
        customer_id=customer.id,
        lines=[LineRequest(p.id, q) for p, q in lines],
        card_number=card,
        store_credit_cents=credit,
    )


def test_it_sells_takes_stock_and_records_the_charge(session, payments, customer):
    product = make_product(session, stock=5, price_cents=250)
    order = buy(session, payments, customer, (product, 2))
    assert (order.status, order.total_cents, order.card_cents) == ("paid", 500, 500)
    assert [(x.product_id, x.quantity, x.unit_price_cents) for x in order.lines] == [
        (product.id, 2, 250)
    ]
    assert order.lines[0].product_sku == product.sku
    assert stock(session, product) == 3
    payment = session.scalars(select(Payment).where(Payment.order_id == order.id)).one()
    charge = session.scalars(select(GatewayCharge)).one()
    assert (payment.status, payment.amount_cents, payment.idempotency_key) == (
        "succeeded",
        500,
        f"order-{order.id}",
    )
    assert (charge.idempotency_key, charge.reference) == (f"order-{order.id}", payment.reference)


def test_it_takes_stock_in_id_order_for_a_multi_line_cart(session, payments, customer):
    first = make_product(session, stock=5)
    second = make_product(session, stock=5)
    order = buy(session, payments, customer, (second, 1), (first, 2))
    assert [x.product_id for x in order.lines] == [first.id, second.id]
    assert (stock(session, first), stock(session, second)) == (3, 4)


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ([], "lines"),
        ([(0, 1)] * 101, "lines"),
        ([(0, 0)], "lines[0].quantity"),
        ([(0, 1001)], "lines[0].quantity"),
        ([(0, 600), (0, 600)], "lines"),
    ],
)
def test_it_refuses_bad_lines(session, payments, customer, lines, field):
    product = make_product(session, stock=5)
    with pytest.raises(ValidationError) as caught:
        place_order(
            session,
            payments,
            customer_id=customer.id,
            lines=[LineRequest(product.id, q) for _, q in lines],
            card_number=APPROVED,
        )
    assert set(caught.value.fields) == {field}
    assert stock(session, product) == 5


@pytest.mark.parametrize("card", ["", "abcd", "4242", "4" * 20, "4242 4242 4242 424x"])
def test_it_refuses_a_card_that_is_not_a_number(session, payments, customer, card):
    product = make_product(session, stock=5)
    with pytest.raises(ValidationError) as caught:
        buy(session, payments, customer, (product, 1), card=card)
    assert set(caught.value.fields) == {"payment.card_number"}


def test_it_answers_an_unknown_product_with_not_found(session, payments, customer):
    product = make_product(session, stock=5)
    with pytest.raises(NotFound) as caught:
        place_order(
            session,
            payments,
            customer_id=customer.id,
            lines=[LineRequest(product.id, 1), LineRequest(product.id + 50, 1)],
            card_number=APPROVED,
        )
    assert caught.value.details == {"product_ids": [product.id + 50]}


def test_it_keeps_nothing_when_stock_is_short(session, payments, customer):
    grant_credit(session, customer_id=customer.id, amount_cents=100, reason="gift", actor_id=None)
    plenty = make_product(session, stock=5)
    short = make_product(session, stock=1)
    with pytest.raises(Conflict) as caught:
        buy(session, payments, customer, (plenty, 2), (short, 2), credit=100)
    assert caught.value.code == "insufficient_stock"
    assert (stock(session, plenty), stock(session, short)) == (5, 1)
    assert count(session, Order) == 0
    assert credit_balance(session, customer.id) == 100
    assert payments.gateway.calls == 0


def test_it_gives_stock_and_credit_back_when_the_card_is_declined(session, payments, customer):
    grant_credit(session, customer_id=customer.id, amount_cents=100, reason="gift", actor_id=None)
    product = make_product(session, stock=5, price_cents=1000)
    with pytest.raises(PaymentDeclined):
        buy(session, payments, customer, (product, 2), card=DECLINED, credit=100)
    order = session.scalars(select(Order)).one()
    payment = session.scalars(select(Payment)).one()
    assert order.status == "payment_failed"
    assert (payment.status, payment.error) == ("declined", "card_declined")
    assert stock(session, product) == 5
    assert credit_balance(session, customer.id) == 100


def test_it_reports_a_gateway_failure_as_a_payment_error(session, payments, customer):
    product = make_product(session, stock=5)
    with pytest.raises(PaymentError):
        buy(session, payments, customer, (product, 1), card=ERROR)
    payment = session.scalars(select(Payment)).one()
    assert payment.status == "failed"
    assert "processing error" in payment.error
    assert stock(session, product) == 5
    assert payments.breaker.status().failures == 1


def test_it_fails_fast_without_taking_stock_when_the_circuit_is_open(session, payments, customer):
    product = make_product(session, stock=5)
    for _ in range(3):
        with pytest.raises(PaymentError):
            buy(session, payments, customer, (product, 1), card=ERROR)
    calls, orders = payments.gateway.calls, count(session, Order)
    with pytest.raises(PaymentUnavailable) as caught:
        buy(session, payments, customer, (product, 1))
    assert 0 < caught.value.retry_after <= 30
    assert payments.gateway.calls == calls
    assert count(session, Order) == orders
    assert stock(session, product) == 5


class OpensDuringTheCall:
    """A breaker that was closed at the check and open by the time of the call."""

    def check(self) -> None:
        return None

    def call(self, *args, **kwargs):
        raise BreakerOpen(7)


def test_it_gives_stock_back_when_the_circuit_opens_mid_checkout(session, payments, customer):
    product = make_product(session, stock=5)
    racing = Payments(gateway=payments.gateway, breaker=OpensDuringTheCall())  # type: ignore[arg-type]
    with pytest.raises(PaymentUnavailable) as caught:
        buy(session, racing, customer, (product, 2))
    assert caught.value.retry_after == 7
    assert session.scalars(select(Payment)).one().status == "failed"
    assert session.scalars(select(Order)).one().status == "payment_failed"
    assert stock(session, product) == 5


def test_it_pays_with_credit_alone_without_the_gateway(session, payments, customer):
    grant_credit(session, customer_id=customer.id, amount_cents=1000, reason="gift", actor_id=None)
    product = make_product(session, stock=5, price_cents=500)
    order = buy(session, payments, customer, (product, 2), credit=1000)
    assert (order.status, order.card_cents) == ("paid", 0)
    assert session.scalars(select(Payment)).one().status == "not_required"
    assert payments.gateway.calls == 0
    assert credit_balance(session, customer.id) == 0


def test_it_splits_an_order_between_credit_and_card(session, payments, customer):
    grant_credit(session, customer_id=customer.id, amount_cents=300, reason="gift", actor_id=None)
    product = make_product(session, stock=5, price_cents=1000)
    order = buy(session, payments, customer, (product, 1), credit=300)
    assert (order.store_credit_cents, order.card_cents) == (300, 700)
    assert session.scalars(select(GatewayCharge)).one().amount_cents == 700
    entries = session.scalars(select(CreditEntry).order_by(CreditEntry.id)).all()
    assert [(e.amount_cents, e.order_id) for e in entries] == [(300, None), (-300, order.id)]


@pytest.mark.parametrize("credit", [-1, 1001])
def test_it_refuses_credit_outside_zero_to_the_total(session, payments, customer, credit):
    grant_credit(session, customer_id=customer.id, amount_cents=5000, reason="gift", actor_id=None)
    product = make_product(session, stock=5, price_cents=1000)
    with pytest.raises(ValidationError) as caught:
        buy(session, payments, customer, (product, 1), credit=credit)
    assert set(caught.value.fields) == {"store_credit_cents"}


def test_it_refuses_credit_above_the_balance(session, payments, customer):
    grant_credit(session, customer_id=customer.id, amount_cents=99, reason="gift", actor_id=None)
    product = make_product(session, stock=5, price_cents=1000)
    with pytest.raises(ValidationError):
        buy(session, payments, customer, (product, 1), credit=100)
    assert stock(session, product) == 5


def test_it_refuses_a_total_that_money_columns_cannot_hold(session, payments, customer):
    product = make_product(session, stock=1000, price_cents=100_000_000)
    with pytest.raises(ValidationError) as caught:
        buy(session, payments, customer, (product, 22))
    assert set(caught.value.fields) == {"lines"}


def test_it_answers_from_the_row_when_someone_else_settled_the_order_first(
    session, payments, customer
):
    """The reconciler may settle an order while its charge is still in flight."""
    product = make_product(session, stock=5)
    real = payments.gateway

    class SlowGateway:
        calls = 0

        def charge(self, **kwargs):
            result = real.charge(**kwargs)
            later = utcnow().replace(year=utcnow().year + 1)
            reconcile_pending_orders(session, payments, now=later, grace_seconds=60)
            return result

        def find_charge(self, key):
            return real.find_charge(key)

    slow = Payments(gateway=SlowGateway(), breaker=payments.breaker)  # type: ignore[arg-type]
    order = buy(session, slow, customer, (product, 1))
    assert order.status == "paid"
    assert stock(session, product) == 4


def test_it_moves_stock_only_where_enough_is_left(session):
    product = make_product(session, stock=3)
    with transaction(session):
        assert take_stock(session, {product.id: 3}) == []
    with transaction(session):
        assert take_stock(session, {product.id: 1}) == [product.id]
    with transaction(session):
        give_back_stock(session, {product.id: 2})
    assert stock(session, product) == 2


def test_it_answers_a_missing_order_row_with_not_found(session):
    from app.services.orders import get_order_row

    with pytest.raises(NotFound):
        get_order_row(session, 424242)
