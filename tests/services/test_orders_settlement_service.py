"""`reconcile_pending_orders`: settling orders a crash left between the two transactions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.db import utcnow
from app.models.catalog import Product
from app.models.orders import Order
from app.models.payments import GatewayCharge, Payment
from app.payments import GatewayFailure, Payments
from app.services.credit import credit_balance, grant_credit
from app.services.orders import LineRequest, place_order, reconcile_pending_orders
from tests.builders import make_product
from tests.services.conftest import Crash

GRACE = 60


def crash_mid_checkout(session, payments, customer, product, *, quantity=2, credit=0, card=None):
    with pytest.raises(Crash):
        place_order(
            session,
            payments,
            customer_id=customer.id,
            lines=[LineRequest(product.id, quantity)],
            card_number=card or "4242424242424242",
            store_credit_cents=credit,
        )
    order = session.scalars(select(Order).order_by(Order.id.desc())).first()
    assert order is not None
    assert order.status == "pending_payment"
    return order


def later(minutes=5):
    return utcnow() + timedelta(minutes=minutes)


def reread(session, model, pk):
    session.expire_all()
    return session.get(model, pk)


def test_it_settles_a_pending_order_the_gateway_charged_as_paid(
    session, crashing, payments, customer
):
    product = make_product(session, stock=5)
    order = crash_mid_checkout(session, crashing(charge_first=True), customer, product)
    assert reread(session, Product, product.id).stock == 3
    settled = reconcile_pending_orders(session, payments, now=later(), grace_seconds=GRACE)
    assert settled == 1
    assert reread(session, Order, order.id).status == "paid"
    payment = session.scalars(select(Payment).where(Payment.order_id == order.id)).one()
    charge = session.scalars(select(GatewayCharge)).one()
    assert (payment.status, payment.reference) == ("succeeded", charge.reference)
    assert reread(session, Product, product.id).stock == 3


def test_it_fails_a_pending_order_the_gateway_never_charged_and_restores_everything(
    session, crashing, payments, customer
):
    grant_credit(session, customer_id=customer.id, amount_cents=400, reason="gift", actor_id=None)
    product = make_product(session, stock=5, price_cents=1000)
    order = crash_mid_checkout(session, crashing(charge_first=False), customer, product, credit=400)
    assert credit_balance(session, customer.id) == 0
    settled = reconcile_pending_orders(session, payments, now=later(), grace_seconds=GRACE)
    assert settled == 1
    assert reread(session, Order, order.id).status == "payment_failed"
    payment = session.scalars(select(Payment).where(Payment.order_id == order.id)).one()
    assert payment.status == "failed"
    assert "reconciler" in payment.error
    assert reread(session, Product, product.id).stock == 5
    assert credit_balance(session, customer.id) == 400


def test_it_fails_a_pending_order_whose_charge_was_declined(session, crashing, payments, customer):
    product = make_product(session, stock=5)
    order = crash_mid_checkout(
        session, crashing(charge_first=True), customer, product, card="4000000000000002"
    )
    assert reconcile_pending_orders(session, payments, now=later(), grace_seconds=GRACE) == 1
    assert reread(session, Order, order.id).status == "payment_failed"
    assert reread(session, Product, product.id).stock == 5


def test_it_does_nothing_on_a_second_run(session, crashing, payments, customer):
    product = make_product(session, stock=5)
    crash_mid_checkout(session, crashing(charge_first=False), customer, product)
    assert reconcile_pending_orders(session, payments, now=later(), grace_seconds=GRACE) == 1
    assert reconcile_pending_orders(session, payments, now=later(), grace_seconds=GRACE) == 0
    assert reread(session, Product, product.id).stock == 5


def test_it_leaves_orders_younger_than_the_grace_period(session, crashing, payments, customer):
    product = make_product(session, stock=5)
    order = crash_mid_checkout(session, crashing(charge_first=False), customer, product)
    assert reconcile_pending_orders(session, payments, now=utcnow(), grace_seconds=GRACE) == 0
    assert reread(session, Order, order.id).status == "pending_payment"
    assert reread(session, Product, product.id).stock == 3


def test_it_leaves_paid_and_failed_orders_alone(session, payments, customer):
    product = make_product(session, stock=5)
    place_order(
        session,
        payments,
        customer_id=customer.id,
        lines=[LineRequest(product.id, 1)],
        card_number="4242424242424242",
    )
    assert reconcile_pending_orders(session, payments, now=later(), grace_seconds=GRACE) == 0


class Unreachable:
    def find_charge(self, key):
        raise GatewayFailure("timeout")


def test_it_retries_later_when_the_gateway_cannot_answer(session, crashing, payments, customer):
    product = make_product(session, stock=5)
    order = crash_mid_checkout(session, crashing(charge_first=True), customer, product)
    down = Payments(gateway=Unreachable(), breaker=payments.breaker)  # type: ignore[arg-type]
    assert reconcile_pending_orders(session, down, now=later(), grace_seconds=GRACE) == 0
    assert reread(session, Order, order.id).status == "pending_payment"
    assert reconcile_pending_orders(session, payments, now=later(), grace_seconds=GRACE) == 1
    assert reread(session, Order, order.id).status == "paid"


def test_it_handles_a_bounded_batch_oldest_first(session, crashing, payments, customer):
    product = make_product(session, stock=10)
    crash = crashing(charge_first=False)
    first = crash_mid_checkout(session, crash, customer, product, quantity=1)
    second = crash_mid_checkout(session, crash, customer, product, quantity=1)
    assert (
        reconcile_pending_orders(session, payments, now=later(), grace_seconds=GRACE, limit=1) == 1
    )
    assert reread(session, Order, first.id).status == "payment_failed"
    assert reread(session, Order, second.id).status == "pending_payment"
    assert (
        reconcile_pending_orders(session, payments, now=later(), grace_seconds=GRACE, limit=1) == 1
    )
    assert reread(session, Product, product.id).stock == 10


def test_it_settles_an_order_only_once_whoever_tries(session, crashing, payments, customer):
    from app.services.orders import settle_failed, settle_paid

    product = make_product(session, stock=5)
    order = crash_mid_checkout(session, crashing(charge_first=True), customer, product)
    charge = payments.gateway.find_charge(f"order-{order.id}")
    assert settle_paid(session, order.id, charge) is True
    assert settle_failed(session, order.id, "failed", "too late") is False
    assert settle_paid(session, order.id, charge) is False
    assert reread(session, Order, order.id).status == "paid"
    assert reread(session, Product, product.id).stock == 3
