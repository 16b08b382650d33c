"""Flash sales, admin side: creating (every refusal), editing, the lifecycle jobs, reads."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.db import utcnow
from app.errors import Conflict, Forbidden, NotFound, ValidationError
from app.models.catalog import Product
from app.models.flash_sales import FlashHold, FlashSale, FlashSaleEvent, FlashSaleItem
from app.services.catalog import active_sale_prices
from app.services.flash_sales import (
    SaleItemInput,
    cancel_sale,
    create_sale,
    due_for_end,
    due_for_start,
    end_due_sales,
    get_sale,
    list_sales,
    reserve,
    sale_stats,
    start_due_sales,
    sweep_expired_holds,
    update_sale,
)
from tests.builders import make_product, make_user

TTL = 600


def at(seconds: float = 0) -> datetime:
    """A fixed instant per test run, whole seconds, plus an offset."""
    return NOW + timedelta(seconds=seconds)


NOW = utcnow().replace(microsecond=0) + timedelta(days=1)
HOUR = 3600


def stock(session, product_id):
    session.expire_all()
    return session.scalar(select(Product.stock).where(Product.id == product_id))


def make_sale(
    session,
    products,
    *,
    start=HOUR,
    end=2 * HOUR,
    quantity=5,
    limit=2,
    price=500,
    now=None,
    admin_id=None,
):
    """A sale of each product (one item each) from now+start to now+end seconds."""
    return create_sale(
        session,
        name="Black Friday",
        starts_at=at(start),
        ends_at=at(end),
        items=[SaleItemInput(p.id, price, quantity, limit) for p in products],
        now=now or at(0),
        created_by=admin_id,
    )


def hold(session, sale, product, customer, *, quantity=1, now):
    return reserve(
        session,
        sale_id=sale.id,
        product_id=product.id,
        customer_id=customer.id,
        quantity=quantity,
        now=now,
        ttl_seconds=TTL,
    )


def test_it_creates_a_scheduled_sale_and_sets_its_quantities_aside(session, admin):
    a, b = make_product(session, stock=10), make_product(session, stock=8, price_cents=2000)
    sale = make_sale(session, [b, a], quantity=3, admin_id=admin.id)
    view = get_sale(session, sale.id, now=at(0))
    assert (view.state, view.stored_state, view.name, view.version) == (
        "scheduled", "scheduled", "Black Friday", 1,
    )  # fmt: skip
    assert [(i.product_id, i.quantity, i.sold, i.reserved, i.available) for i in view.items] == [
        (b.id, 3, 0, 0, 3),
        (a.id, 3, 0, 0, 3),
    ]
    assert view.items[0].regular_price_cents == 2000
    assert (stock(session, a.id), stock(session, b.id)) == (7, 5)
    events = session.scalars(select(FlashSaleEvent)).all()
    assert [(e.trigger, e.to_state, e.actor_id) for e in events] == [
        ("create", "scheduled", admin.id)
    ]


def test_it_starts_a_sale_whose_start_has_passed_at_once(session):
    product = make_product(session)
    sale = make_sale(session, [product], start=-60, end=HOUR)
    assert sale.state == "active"
    assert sale.version == 2
    assert [e.trigger for e in session.scalars(select(FlashSaleEvent))] == ["create", "start"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "  "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": None}, "name"),
        ({"ends_at": "soon"}, "ends_at"),
        ({"starts_at": datetime(2030, 1, 1)}, "starts_at"),  # naive
        ({"ends_at": at(HOUR)}, "ends_at"),  # equal to the start
        ({"starts_at": at(-2 * HOUR), "ends_at": at(-HOUR)}, "ends_at"),  # in the past
        ({"items": []}, "items"),
    ],
)
def test_it_refuses_bad_sale_fields(session, change, field):
    product = make_product(session, stock=5)
    args = {
        "name": "Sale",
        "starts_at": at(HOUR),
        "ends_at": at(2 * HOUR),
        "items": [SaleItemInput(product.id, 500, 1, 1)],
        "now": at(0),
        **change,
    }
    with pytest.raises(ValidationError) as caught:
        create_sale(session, **args)
    assert set(caught.value.fields) == {field}
    assert session.scalar(select(func.count()).select_from(FlashSale)) == 0
    assert stock(session, product.id) == 5


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"product_id": 0}, "product_id"),
        ({"product_id": 2**40}, "product_id"),
        ({"product_id": "inactive"}, "product_id"),
        ({"sale_price_cents": 0}, "sale_price_cents"),
        ({"sale_price_cents": 1000}, "sale_price_cents"),  # equal to the regular price
        ({"sale_price_cents": 1500}, "sale_price_cents"),
        ({"sale_price_cents": True}, "sale_price_cents"),
        ({"quantity": 0}, "quantity"),
        ({"quantity": 6}, "quantity"),  # above stock
        ({"quantity": -3}, "quantity"),
        ({"per_customer_limit": 0}, "per_customer_limit"),
        ({"per_customer_limit": 2**31}, "per_customer_limit"),
    ],
)
def test_it_refuses_bad_items_naming_the_field(session, item, field):
    product = make_product(session, stock=5, price_cents=1000)
    if item.get("product_id") == "inactive":
        product.active = False
        session.commit()
        item = {"product_id": product.id}
    values = {"product_id": product.id, "sale_price_cents": 500, "quantity": 2,
              "per_customer_limit": 1, **item}  # fmt: skip
    with pytest.raises(ValidationError) as caught:
        create_sale(
            session,
            name="Sale",
            starts_at=at(HOUR),
            ends_at=at(2 * HOUR),
            items=[SaleItemInput(**values)],
            now=at(0),
        )
    assert set(caught.value.fields) == {f"items[0].{field}"}
    assert session.scalar(select(func.count()).select_from(FlashSale)) == 0
    assert stock(session, product.id) == 5


def test_it_refuses_the_same_product_twice_and_too_many_items(session):
    product = make_product(session)
    items = [SaleItemInput(product.id, 500, 1, 1)] * 2
    with pytest.raises(ValidationError) as caught:
        create_sale(session, name="S", starts_at=at(HOUR), ends_at=at(2 * HOUR), items=items,
                    now=at(0))  # fmt: skip
    assert set(caught.value.fields) == {"items[1].product_id"}
    with pytest.raises(ValidationError) as caught:
        create_sale(session, name="S", starts_at=at(HOUR), ends_at=at(2 * HOUR),
                    items=[SaleItemInput(product.id, 500, 1, 1)] * 51, now=at(0))  # fmt: skip
    assert set(caught.value.fields) == {"items"}


def test_it_refuses_an_overlapping_sale_of_the_same_product_with_409(session):
    a, b = make_product(session, stock=20), make_product(session, stock=20)
    first = make_sale(session, [a], start=HOUR, end=3 * HOUR)
    with pytest.raises(Conflict) as caught:
        make_sale(session, [b, a], start=2 * HOUR, end=4 * HOUR)
    assert caught.value.code == "sale_overlap"
    assert caught.value.details == {"product_ids": [a.id], "sale_ids": [first.id]}
    assert (stock(session, a.id), stock(session, b.id)) == (15, 20)  # nothing half-written
    make_sale(session, [a], start=3 * HOUR, end=4 * HOUR)  # touching windows do not overlap
    make_sale(session, [b], start=2 * HOUR, end=4 * HOUR)


def test_a_cancelled_sale_no_longer_blocks_its_window(session, admin):
    product = make_product(session, stock=20)
    first = make_sale(session, [product])
    cancel_sale(session, first.id, actor=admin, now=at(0))
    assert make_sale(session, [product]).state == "scheduled"


def test_it_edits_a_scheduled_sale_rebalancing_stock(session):
    a, b, c = (make_product(session, stock=10) for _ in range(3))
    sale = make_sale(session, [a, b], quantity=4)
    update_sale(
        session,
        sale.id,
        name="Cyber Monday",
        starts_at=at(HOUR),
        ends_at=at(3 * HOUR),
        items=[SaleItemInput(a.id, 400, 6, 3), SaleItemInput(c.id, 300, 2, 1)],
        now=at(10),
        expected_version=1,
    )
    view = get_sale(session, sale.id, now=at(10))
    assert (view.name, view.ends_at, view.version) == ("Cyber Monday", at(3 * HOUR), 2)
    assert [(i.product_id, i.sale_price_cents, i.quantity, i.per_customer_limit)
            for i in view.items] == [(a.id, 400, 6, 3), (c.id, 300, 2, 1)]  # fmt: skip
    assert [stock(session, p.id) for p in (a, b, c)] == [4, 10, 8]


def test_it_refuses_to_edit_a_started_sale_or_a_stale_version(session):
    product = make_product(session, stock=10)
    sale = make_sale(session, [product])
    edit = {"name": "X", "starts_at": at(HOUR), "ends_at": at(2 * HOUR),
            "items": [SaleItemInput(product.id, 500, 5, 2)]}  # fmt: skip
    with pytest.raises(Conflict) as caught:
        update_sale(session, sale.id, now=at(0), expected_version=7, **edit)
    assert caught.value.code == "stale_version"
    with pytest.raises(Conflict) as caught:
        update_sale(session, sale.id, now=at(HOUR), **edit)  # the start job has not run
    assert caught.value.code == "sale_not_editable"
    with pytest.raises(ValidationError):
        update_sale(session, sale.id, now=at(0), **{**edit, "items": [
            SaleItemInput(product.id, 500, 11, 2)]})  # fmt: skip
    with pytest.raises(NotFound):
        update_sale(session, 0, now=at(0), **edit)
    assert stock(session, product.id) == 5


def test_the_shown_state_follows_each_boundary_whatever_the_jobs_do(session):
    product = make_product(session)
    sale = make_sale(session, [product])
    states = [get_sale(session, sale.id, now=at(s)).state for s in (HOUR - 1, HOUR, 2 * HOUR - 1)]
    assert [*states, get_sale(session, sale.id, now=at(2 * HOUR)).state] == [
        "scheduled", "active", "active", "ended",
    ]  # fmt: skip
    assert session.get(FlashSale, sale.id).state == "scheduled"  # no job has run


def test_the_sale_price_applies_exactly_inside_the_window(session, admin):
    product, other = make_product(session, price_cents=1000), make_product(session)
    sale = make_sale(session, [product], price=700)
    ids = [product.id, other.id, 0]
    assert active_sale_prices(session, ids, at(HOUR - 1)) == {}
    price = active_sale_prices(session, ids, at(HOUR))[product.id]
    assert (price.sale_price_cents, price.sale_id, price.ends_at) == (700, sale.id, at(2 * HOUR))
    assert product.id in active_sale_prices(session, ids, at(2 * HOUR - 1))
    assert active_sale_prices(session, ids, at(2 * HOUR)) == {}
    assert active_sale_prices(session, [], at(HOUR)) == {}
    cancel_sale(session, sale.id, actor=admin, now=at(HOUR + 1))
    assert active_sale_prices(session, ids, at(HOUR + 2)) == {}


def test_the_jobs_start_and_end_sales_once_and_give_unsold_units_back_once(session):
    product = make_product(session, stock=10)
    customer = make_user(session)
    sale = make_sale(session, [product], quantity=6, limit=6)
    assert start_due_sales(session, at(HOUR - 1)) == 0
    assert due_for_start(session, at(HOUR)) == [sale.id]
    assert start_due_sales(session, at(HOUR)) == 1
    assert start_due_sales(session, at(HOUR)) == 0
    hold(session, sale, product, customer, quantity=2, now=at(HOUR + 1))
    assert end_due_sales(session, at(2 * HOUR - 1)) == 0
    assert due_for_end(session, at(2 * HOUR)) == [sale.id]
    assert end_due_sales(session, at(2 * HOUR)) == 1
    assert end_due_sales(session, at(2 * HOUR + 5)) == 0
    assert stock(session, product.id) == 10  # 4 unsold + 2 held, released, back once
    view = get_sale(session, sale.id, now=at(2 * HOUR + 5))
    assert (view.state, view.stored_state, view.items[0].available) == ("ended", "ended", 0)
    # Holds never outlive the sale: this one expired at ends_at and is marked so.
    assert session.scalars(select(FlashHold.status)).all() == ["expired"]
    item = session.scalars(select(FlashSaleItem)).one()
    assert (item.closed, item.returned, item.sold) == (True, 6, 0)
    events = session.scalars(select(FlashSaleEvent.trigger).order_by(FlashSaleEvent.id)).all()
    assert events == ["create", "start", "end"]


def test_a_sale_the_start_job_missed_is_ended_directly(session):
    product = make_product(session, stock=10)
    sale = make_sale(session, [product], quantity=4)
    assert start_due_sales(session, at(3 * HOUR)) == 0  # its window has closed
    assert end_due_sales(session, at(3 * HOUR)) == 1
    assert session.get(FlashSale, sale.id).state == "ended"
    assert stock(session, product.id) == 10


def test_cancel_releases_holds_and_returns_unsold_units(session, admin):
    product = make_product(session, stock=10)
    customer = make_user(session)
    sale = make_sale(session, [product], quantity=5, limit=5, start=-10)
    hold(session, sale, product, customer, quantity=3, now=at(0))
    cancelled = cancel_sale(session, sale.id, actor=admin, now=at(5))
    assert (cancelled.state, cancelled.version) == ("cancelled", 3)
    assert stock(session, product.id) == 10
    assert session.scalars(select(FlashHold.status)).all() == ["released"]
    with pytest.raises(Conflict) as caught:
        cancel_sale(session, sale.id, actor=admin, now=at(6))
    assert caught.value.code == "invalid_transition"
    assert end_due_sales(session, at(3 * HOUR)) == 0
    assert stock(session, product.id) == 10
    view = get_sale(session, sale.id, now=at(6))
    assert (view.state, view.reservable, view.items[0].available) == ("cancelled", False, 0)


def test_only_an_admin_may_cancel_and_an_unknown_sale_is_not_found(session, admin):
    product = make_product(session)
    sale = make_sale(session, [product])
    with pytest.raises(Forbidden):
        cancel_sale(session, sale.id, actor=make_user(session, "support"), now=at(0))
    with pytest.raises(NotFound):
        cancel_sale(session, sale.id + 1000, actor=admin, now=at(0))
    with pytest.raises(NotFound):
        get_sale(session, 2**40, now=at(0))


def test_a_stale_scheduler_cannot_move_a_sale_twice(session, admin):
    product = make_product(session, stock=10)
    sale = make_sale(session, [product], quantity=5)
    cancel_sale(session, sale.id, actor=admin, now=at(0))
    # A scheduler that picked the sale as due before the cancel committed finds it moved.
    from app.services.flash_sales.lifecycle import _run_due

    assert _run_due(session, [sale.id], "end", at(3 * HOUR)) == 0
    assert stock(session, product.id) == 10


def test_the_sweeper_only_tidies_expired_holds(session):
    product = make_product(session, stock=10)
    customer = make_user(session)
    sale = make_sale(session, [product], quantity=5, limit=5, start=-10)
    hold(session, sale, product, customer, quantity=2, now=at(0))
    hold(session, sale, product, customer, quantity=1, now=at(TTL / 2))
    assert get_sale(session, sale.id, now=at(TTL)).items[0].reserved == 1  # before any sweep
    assert sweep_expired_holds(session, at(TTL - 1)) == 0
    assert sweep_expired_holds(session, at(TTL)) == 1
    assert sweep_expired_holds(session, at(TTL)) == 0
    statuses = session.scalars(select(FlashHold.status).order_by(FlashHold.id)).all()
    assert statuses == ["expired", "held"]
    assert get_sale(session, sale.id, now=at(TTL)).items[0].available == 4


def test_it_lists_sales_by_the_state_readers_see(session, admin):
    products = [make_product(session, stock=10) for _ in range(4)]
    upcoming = make_sale(session, [products[0]], start=HOUR, end=2 * HOUR)
    live = make_sale(session, [products[1]], start=-10, end=HOUR)
    overdue = make_sale(session, [products[2]], start=-10, end=30)  # no end job yet
    gone = make_sale(session, [products[3]], start=HOUR, end=2 * HOUR)
    cancel_sale(session, gone.id, actor=admin, now=at(0))
    now = at(60)

    def ids(state):
        return [v.id for v in list_sales(session, state=state, now=now).items]

    assert ids("scheduled") == [upcoming.id]
    assert ids("active") == [live.id]
    assert ids("ended") == [overdue.id]
    assert ids("cancelled") == [gone.id]
    assert set(ids(None)) == {upcoming.id, live.id, overdue.id, gone.id}
    with pytest.raises(ValidationError):
        list_sales(session, state="bogus", now=now)


def test_sale_stats_count_orders_and_expiries(session, payments):
    from app.services.flash_sales import checkout_hold

    product = make_product(session, stock=10)
    customer = make_user(session)
    sale = make_sale(session, [product], quantity=5, limit=5, start=-10)
    paid = hold(session, sale, product, customer, quantity=2, now=at(0))
    checkout_hold(session, payments, hold_id=paid.id, customer_id=customer.id,
                  card_number="4242424242424242", now=at(1))  # fmt: skip
    hold(session, sale, product, customer, quantity=1, now=at(2))
    stats = sale_stats(session, sale.id, now=at(30))
    assert (stats.orders_last_minute, stats.units_sold, stats.holds_expired_recently) == (1, 2, 0)
    assert stats.orders_per_minute_5m == 0.2
    item = stats.sale.items[0]
    assert (item.sold, item.reserved, item.available) == (2, 1, 2)
    later = sale_stats(session, sale.id, now=at(TTL + 10))
    assert (later.orders_last_minute, later.holds_expired_recently) == (0, 1)


def test_a_sale_past_its_end_cannot_be_cancelled_before_the_end_job_runs(session):
    from app.errors import Conflict
    from app.models.flash_sales import FlashSale
    from app.services.flash_sales import SaleItemInput, cancel_sale, create_sale
    from tests.builders import make_product, make_user

    product = make_product(session, stock=10, price_cents=1000)
    now = utcnow()
    sale = create_sale(session, name="Short", starts_at=now - timedelta(seconds=5),
                       ends_at=now + timedelta(seconds=5),
                       items=[SaleItemInput(product.id, 500, 2, 1)], now=now)  # fmt: skip
    with pytest.raises(Conflict) as refused:
        cancel_sale(session, sale.id, actor=make_user(session, "admin"),
                    now=now + timedelta(seconds=6))  # fmt: skip
    assert refused.value.code == "invalid_transition"
    session.expire_all()
    assert session.get(FlashSale, sale.id).state == "active"  # the end job will end it
