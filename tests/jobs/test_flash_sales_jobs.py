"""The flash-sale timers, each run twice with an explicit `now`: the second changes nothing."""

from __future__ import annotations

from datetime import timedelta

from app.db import utcnow
from app.models.catalog import Product
from app.models.flash_sales import FlashHold, FlashSale
from app.services.flash_sales import SaleItemInput, create_sale, reserve
from jobs.flash_sales import end_sales, expire_holds, start_sales
from tests.builders import make_product


def a_sale(session, *, starts_in: float, lasts: float = 3600, quantity: int = 5):
    product = make_product(session, stock=10, price_cents=1000)
    now = utcnow()
    sale = create_sale(
        session,
        name="Timer test",
        starts_at=now + timedelta(seconds=starts_in),
        ends_at=now + timedelta(seconds=starts_in + lasts),
        items=[SaleItemInput(product.id, 500, quantity, 5)],
        now=now,
    )
    return sale, product


def state_of(session, sale):
    session.expire_all()
    return session.get(FlashSale, sale.id).state


def test_it_starts_a_sale_at_its_start_and_only_once(session, ctx):
    sale, _ = a_sale(session, starts_in=60)
    assert start_sales(session, sale.starts_at - timedelta(seconds=1), ctx) == 0
    assert state_of(session, sale) == "scheduled"
    assert start_sales(session, sale.starts_at, ctx) == 1
    assert start_sales(session, sale.starts_at, ctx) == 0
    assert state_of(session, sale) == "active"


def test_it_ends_a_sale_at_its_end_and_gives_unsold_units_back_once(session, ctx):
    sale, product = a_sale(session, starts_in=-10, lasts=60, quantity=5)
    reserve(session, sale_id=sale.id, product_id=product.id, customer_id=customer_id(session),
            quantity=2, now=utcnow(), ttl_seconds=600)  # fmt: skip
    assert end_sales(session, sale.ends_at - timedelta(seconds=1), ctx) == 0
    assert end_sales(session, sale.ends_at, ctx) == 1
    assert end_sales(session, sale.ends_at, ctx) == 0
    assert state_of(session, sale) == "ended"
    assert session.get(Product, product.id).stock == 10  # the held units came back too


def test_a_restarted_scheduler_catches_up_on_both_boundaries(session, ctx):
    sale, product = a_sale(session, starts_in=5, lasts=5)
    later = sale.ends_at + timedelta(minutes=10)  # the scheduler was down for both
    assert start_sales(session, later, ctx) == 0  # a sale that is over never starts
    assert end_sales(session, later, ctx) == 1
    assert state_of(session, sale) == "ended"
    assert session.get(Product, product.id).stock == 10


def test_it_sweeps_expired_holds_once(session, ctx):
    sale, product = a_sale(session, starts_in=-10)
    now = utcnow()
    reserve(session, sale_id=sale.id, product_id=product.id, customer_id=customer_id(session),
            quantity=1, now=now, ttl_seconds=30)  # fmt: skip
    assert expire_holds(session, now + timedelta(seconds=29), ctx) == 0
    assert expire_holds(session, now + timedelta(seconds=31), ctx) == 1
    assert expire_holds(session, now + timedelta(seconds=31), ctx) == 0
    session.expire_all()
    assert [h.status for h in session.query(FlashHold).all()] == ["expired"]


def customer_id(session):
    from tests.builders import make_user

    return make_user(session, "customer").id
