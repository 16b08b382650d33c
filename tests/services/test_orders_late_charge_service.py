"""A charge the gateway approves after the reconciler gave up on its order is refunded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.db import utcnow
from app.errors import PaymentError
from app.models.catalog import Product
from app.models.orders import Order
from app.models.payments import GatewayCharge
from app.payments import ChargeResult, Payments, SimulatedGateway
from app.services.orders import LineRequest, place_order, reconcile_pending_orders
from tests.builders import make_product


class SlowGateway:
    """While the charge is 'on the wire', the reconciler runs and fails the order."""

    def __init__(self, real: SimulatedGateway, session: Any, payments: Payments) -> None:
        self.real, self.session, self.payments = real, session, payments

    def charge(self, **kwargs: Any) -> ChargeResult:
        later = utcnow() + timedelta(minutes=5)
        assert (
            reconcile_pending_orders(self.session, self.payments, now=later, grace_seconds=60) == 1
        )
        return self.real.charge(**kwargs)

    def find_charge(self, idempotency_key: str) -> ChargeResult | None:
        return self.real.find_charge(idempotency_key)

    def refund(self, **kwargs: Any) -> str:
        return self.real.refund(**kwargs)


def test_it_refunds_a_charge_that_lands_after_the_order_was_given_up(
    session, db, payments, customer
):
    product = make_product(session, stock=5, price_cents=1200)
    slow = Payments(
        gateway=SlowGateway(payments.gateway, db.session(), payments), breaker=payments.breaker
    )
    with pytest.raises(PaymentError, match="took too long"):
        place_order(session, slow, customer_id=customer.id, lines=[LineRequest(product.id, 2)],
                    card_number="4242424242424242")  # fmt: skip
    session.expire_all()
    order = session.scalars(select(Order).order_by(Order.id.desc())).first()
    assert order.status == "payment_failed"
    assert session.get(Product, product.id).stock == 5
    kinds = {
        c.idempotency_key: (c.kind, c.amount_cents) for c in session.scalars(select(GatewayCharge))
    }
    assert kinds[f"order-{order.id}"] == ("charge", 2400)
    assert kinds[f"order-{order.id}-void"] == ("refund", 2400)
