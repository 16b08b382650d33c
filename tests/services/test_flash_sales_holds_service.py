"""Flash sales, customer side: reserving (boundaries, limits, expiry), releasing, paying."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.errors import (
    Conflict,
    Gone,
    NotFound,
    PaymentDeclined,
    PaymentError,
    PaymentUnavailable,
    ValidationError,
)
from app.models.flash_sales import FlashHold, FlashSaleItem
from app.models.orders import Order
from app.models.payments import Payment
from app.payments import BreakerOpen, Payments
from app.services.flash_sales import (
    cancel_sale,
    checkout_hold,
    customer_holds,
    end_due_sales,
    get_hold,
    get_sale,
    release_hold,
    reserve,
)
from app.services.orders import reconcile_pending_orders
from tests.builders import make_product, make_user
from tests.services.conftest import Crash
from tests.services.test_flash_sales_service import HOUR, TTL, at, hold, make_sale, stock

APPROVED, DECLINED, ERROR = "4242424242424242", "4000000000000002", "4000000000000119"


@pytest.fixture
def product(session):
    return make_product(session, stock=20, price_cents=1000)


@pytest.fixture
def sale(session, product):
    """Live from at(0) for an hour: 5 units at 600, at most 2 per customer."""
    return make_sale(session, [product], start=0, end=HOUR, quantity=5, limit=2, price=600)


def item(session):
    session.expire_all()
    return session.scalars(select(FlashSaleItem)).one()


def pay(session, payments, customer, held, *, card=APPROVED, now=None):
    return checkout_hold(session, payments, hold_id=held.id, customer_id=customer.id,
                         card_number=card, now=now or at(10))  # fmt: skip


def status_of(session, held):
    session.expire_all()
    return session.get(FlashHold, held.id).status


def test_reserving_follows_the_window_to_the_second(session, product, customer):
    sale = make_sale(session, [product], start=HOUR, end=2 * HOUR, quantity=5, price=600)
    with pytest.raises(Conflict) as caught:
        hold(session, sale, product, customer, now=at(HOUR - 1))
    assert caught.value.code == "sale_not_active"
    held = hold(session, sale, product, customer, now=at(HOUR))  # before any start job
    assert (held.product_id, held.quantity, held.unit_price_cents, held.status) == (
        product.id, 1, 600, "held",
    )  # fmt: skip
    assert held.expires_at == at(HOUR + TTL)
    late = hold(session, sale, product, customer, now=at(2 * HOUR - 60))
    assert late.expires_at == at(2 * HOUR)  # a hold never outlives the sale
    assert late.seconds_left(at(2 * HOUR - 30)) == 30
    with pytest.raises(Conflict) as caught:
        hold(session, sale, product, customer, now=at(2 * HOUR))
    assert caught.value.code == "sale_not_active"


def test_reserving_in_an_ended_or_cancelled_sale_is_refused(session, product, admin, customer):
    sale = make_sale(session, [product], start=0, end=HOUR)
    end_due_sales(session, at(HOUR))
    with pytest.raises(Conflict) as caught:
        hold(session, sale, product, customer, now=at(10))  # window open, but it has ended
    assert caught.value.code == "sale_not_active"
    other = make_product(session, stock=5)
    cancelled = make_sale(session, [other], start=0, end=HOUR)
    cancel_sale(session, cancelled.id, actor=admin, now=at(1))
    with pytest.raises(Conflict) as caught:
        hold(session, cancelled, other, customer, now=at(2))
    assert caught.value.code == "sale_not_active"


@pytest.mark.parametrize("quantity", [0, -1, 1001, True, "2", 2**40])
def test_it_refuses_bad_quantities(session, sale, product, customer, quantity):
    with pytest.raises(ValidationError) as caught:
        hold(session, sale, product, customer, quantity=quantity, now=at(1))
    assert caught.value.code == "validation_error"
    assert set(caught.value.fields) == {"quantity"}


def test_an_unknown_sale_or_product_is_not_found(session, sale, product, customer):
    other = make_product(session)
    for sale_id, product_id in [(sale.id, other.id), (sale.id + 99, product.id), (0, 1),
                                (2**40, product.id)]:  # fmt: skip
        with pytest.raises(NotFound):
            reserve(session, sale_id=sale_id, product_id=product_id, customer_id=customer.id,
                    quantity=1, now=at(1), ttl_seconds=TTL)  # fmt: skip


def test_it_holds_no_more_than_the_allocation(session, sale, product):
    buyers = [make_user(session) for _ in range(3)]
    hold(session, sale, product, buyers[0], quantity=2, now=at(1))
    hold(session, sale, product, buyers[1], quantity=2, now=at(1))
    with pytest.raises(Conflict) as caught:
        hold(session, sale, product, buyers[2], quantity=2, now=at(1))
    assert (caught.value.code, caught.value.details) == ("sold_out", {"available": 1})
    hold(session, sale, product, buyers[2], quantity=1, now=at(1))
    with pytest.raises(Conflict) as caught:
        hold(session, sale, product, make_user(session), now=at(1))
    assert caught.value.details == {"available": 0}
    assert stock(session, product.id) == 15  # product stock is untouched by holds
    view = get_sale(session, sale.id, now=at(1)).items[0]
    assert (view.reserved, view.available, view.sold) == (5, 0, 0)


def test_an_expired_hold_counts_for_nothing_before_any_sweep(session, sale, product):
    first, second = make_user(session), make_user(session)
    for _ in range(2):
        hold(session, sale, product, make_user(session), quantity=2, now=at(1))
    hold(session, sale, product, first, quantity=1, now=at(1))
    with pytest.raises(Conflict):
        hold(session, sale, product, second, now=at(TTL))
    held = hold(session, sale, product, second, quantity=2, now=at(TTL + 1))
    assert held.status == "held"
    assert get_sale(session, sale.id, now=at(TTL + 1)).items[0].reserved == 2


def test_the_limit_counts_live_holds_and_orders_but_not_expired_holds(
    session, sale, product, customer, payments
):
    with pytest.raises(ValidationError) as caught:
        hold(session, sale, product, customer, quantity=3, now=at(1))
    assert (caught.value.code, caught.value.status) == ("limit_exceeded", 422)
    first = hold(session, sale, product, customer, now=at(1))
    pay(session, payments, customer, first, now=at(2))
    hold(session, sale, product, customer, now=at(3))
    with pytest.raises(ValidationError) as caught:
        hold(session, sale, product, customer, now=at(4))
    assert caught.value.details["taken"] == 2
    # The held unit expires: only the paid one still counts.
    assert hold(session, sale, product, customer, now=at(3 + TTL)).quantity == 1


def test_a_failed_payment_does_not_count_toward_the_limit(
    session, sale, product, customer, payments
):
    held = hold(session, sale, product, customer, quantity=2, now=at(1))
    with pytest.raises(PaymentDeclined):
        pay(session, payments, customer, held, card=DECLINED, now=at(2))
    release_hold(session, held.id, customer.id, now=at(3))
    assert hold(session, sale, product, customer, quantity=2, now=at(4)).quantity == 2


def test_releasing_frees_the_units_at_once_for_the_owner_only(session, sale, product, customer):
    held = hold(session, sale, product, customer, quantity=2, now=at(1))
    stranger = make_user(session)
    with pytest.raises(NotFound):
        release_hold(session, held.id, stranger.id, now=at(2))
    with pytest.raises(NotFound):
        release_hold(session, 0, customer.id, now=at(2))
    release_hold(session, held.id, customer.id, now=at(2))
    release_hold(session, held.id, customer.id, now=at(3))  # again: nothing changes
    assert status_of(session, held) == "released"
    assert get_sale(session, sale.id, now=at(2)).items[0].available == 5
    holds = customer_holds(session, customer.id, now=at(2))
    assert [(h.id, h.status, h.seconds_left(at(2))) for h in holds] == [(held.id, "released", 0)]


def test_a_checked_out_hold_cannot_be_released(session, sale, product, customer, payments):
    held = hold(session, sale, product, customer, now=at(1))
    pay(session, payments, customer, held)
    with pytest.raises(Conflict) as caught:
        release_hold(session, held.id, customer.id, now=at(20))
    assert caught.value.code == "reservation_checked_out"


def test_checkout_sells_at_the_hold_price_without_touching_stock(
    session, sale, product, customer, payments
):
    held = hold(session, sale, product, customer, quantity=2, now=at(1))
    order = pay(session, payments, customer, held)
    assert (order.status, order.kind, order.total_cents, order.customer_id) == (
        "paid", "flash_sale", 1200, customer.id,
    )  # fmt: skip
    assert [(x.product_id, x.quantity, x.unit_price_cents, x.product_sku) for x in order.lines] == [
        (product.id, 2, 600, product.sku)
    ]
    assert order.payment.status == "succeeded"
    assert stock(session, product.id) == 15
    assert (item(session).sold, status_of(session, held)) == (2, "converted")
    assert get_hold(session, held.id, customer.id, now=at(11)).order_id == order.id
    view = get_sale(session, sale.id, now=at(11)).items[0]
    assert (view.sold, view.reserved, view.available) == (2, 0, 3)
    with pytest.raises(Gone) as caught:
        pay(session, payments, customer, held)
    assert (caught.value.code, caught.value.status) == ("reservation_expired", 410)


@pytest.mark.parametrize(
    ("card", "error", "payment_status"),
    [(DECLINED, PaymentDeclined, "declined"), (ERROR, PaymentError, "failed")],
)
def test_a_failed_payment_keeps_the_hold_until_it_expires(
    session, sale, product, customer, payments, card, error, payment_status
):
    held = hold(session, sale, product, customer, quantity=2, now=at(1))
    with pytest.raises(error):
        pay(session, payments, customer, held, card=card)
    order = session.scalars(select(Order)).one()
    assert (order.status, order.payment.status) == ("payment_failed", payment_status)
    again = get_hold(session, held.id, customer.id, now=at(20))
    assert (again.status, again.expires_at, again.order_id) == ("held", held.expires_at, None)
    assert (item(session).sold, stock(session, product.id)) == (0, 15)
    assert pay(session, payments, customer, held, now=at(30)).status == "paid"


def trip_circuit(session, payments, customer, held):
    """Three gateway failures in a row (each gives the units back to the hold)."""
    for _ in range(3):
        with pytest.raises(PaymentError):
            pay(session, payments, customer, held, card=ERROR)


def test_an_open_circuit_fails_fast_and_keeps_the_hold(session, sale, product, customer, payments):
    held = hold(session, sale, product, customer, now=at(1))
    trip_circuit(session, payments, customer, held)
    calls = payments.gateway.calls
    with pytest.raises(PaymentUnavailable) as caught:
        pay(session, payments, customer, held)
    assert 0 < caught.value.retry_after <= 30
    assert payments.gateway.calls == calls
    assert (status_of(session, held), item(session).sold) == ("held", 0)


class OpensDuringTheCall:
    def check(self) -> None:
        return None

    def call(self, *args, **kwargs):
        raise BreakerOpen(7)


def test_a_circuit_opening_mid_checkout_gives_the_units_back_to_the_hold(
    session, sale, product, customer, payments
):
    held = hold(session, sale, product, customer, now=at(1))
    racing = Payments(gateway=payments.gateway, breaker=OpensDuringTheCall())  # type: ignore[arg-type]
    with pytest.raises(PaymentUnavailable) as caught:
        pay(session, racing, customer, held)
    assert caught.value.retry_after == 7
    assert session.scalars(select(Payment)).one().status == "failed"
    assert (status_of(session, held), item(session).sold) == ("held", 0)


@pytest.mark.parametrize("circuit", ["closed", "open"])
def test_an_expired_released_or_foreign_hold_cannot_be_checked_out(
    circuit, session, sale, product, customer, payments
):
    """With the circuit open too, the customer learns what is wrong with the hold rather
    than 'try again later' (paying after it closes would not help them)."""
    held = hold(session, sale, product, customer, now=at(1))
    if circuit == "open":
        trip_circuit(session, payments, customer, held)
    orders = len(session.scalars(select(Order)).all())
    with pytest.raises(Gone) as caught:
        pay(session, payments, customer, held, now=at(1 + TTL))
    assert caught.value.code == "reservation_expired"
    with pytest.raises(NotFound):
        pay(session, payments, make_user(session), held)
    with pytest.raises(ValidationError):
        pay(session, payments, customer, held, card="not a card")
    release_hold(session, held.id, customer.id, now=at(2))
    with pytest.raises(Gone):
        pay(session, payments, customer, held, now=at(3))
    assert len(session.scalars(select(Order)).all()) == orders


def test_a_hold_a_later_caller_already_counted_as_expired_cannot_be_sold(
    session, product, customer, payments
):
    sale = make_sale(session, [product], start=0, end=HOUR, quantity=1, limit=1)
    held = hold(session, sale, product, customer, now=at(1))
    rival = make_user(session)
    hold(session, sale, product, rival, now=at(1 + TTL))  # the first hold has expired
    # A checkout whose clock is a moment behind must not sell the same unit again.
    with pytest.raises(Gone):
        pay(session, payments, customer, held, now=at(TTL))
    assert item(session).sold == 0
    assert session.scalars(select(Order)).all() == []


def crash_checkout(session, payments, customer, held):
    with pytest.raises(Crash):
        pay(session, payments, customer, held)
    order = session.scalars(select(Order)).one()
    assert order.status == "pending_payment"
    return order


def test_the_reconciler_gives_a_crashed_unpaid_order_back_to_its_hold(
    session, sale, product, customer, payments, crashing
):
    held = hold(session, sale, product, customer, quantity=2, now=at(1))
    order = crash_checkout(session, crashing(charge_first=False), customer, held)
    assert item(session).sold == 2
    later = order.created_at + timedelta(minutes=5)
    assert reconcile_pending_orders(session, payments, now=later, grace_seconds=60) == 1
    assert reconcile_pending_orders(session, payments, now=later, grace_seconds=60) == 0
    assert (status_of(session, held), item(session).sold) == ("held", 0)
    assert stock(session, product.id) == 15  # never product stock


def test_the_reconciler_settles_a_crashed_charged_order_as_paid(
    session, sale, product, customer, payments, crashing
):
    held = hold(session, sale, product, customer, now=at(1))
    order = crash_checkout(session, crashing(charge_first=True), customer, held)
    later = order.created_at + timedelta(minutes=5)
    assert reconcile_pending_orders(session, payments, now=later, grace_seconds=60) == 1
    session.expire_all()
    assert session.get(Order, order.id).status == "paid"
    assert (status_of(session, held), item(session).sold) == ("converted", 1)


def test_units_of_an_order_failing_after_the_sale_closed_go_back_to_stock(
    session, sale, product, customer, admin, payments, crashing
):
    held = hold(session, sale, product, customer, quantity=2, now=at(1))
    order = crash_checkout(session, crashing(charge_first=False), customer, held)
    cancel_sale(session, sale.id, actor=admin, now=at(20))
    assert stock(session, product.id) == 18  # the 3 unsold units
    later = order.created_at + timedelta(minutes=5)
    reconcile_pending_orders(session, payments, now=later, grace_seconds=60)
    assert stock(session, product.id) == 20
    row = item(session)
    assert (row.sold, row.returned, status_of(session, held)) == (0, 5, "released")


def test_it_answers_from_the_row_when_the_reconciler_settled_first(
    session, sale, product, customer, payments
):
    real = payments.gateway

    class SlowGateway:
        def __init__(self, approve: bool) -> None:
            self.approve = approve

        def charge(self, **kwargs):
            result = real.charge(**kwargs) if self.approve else None
            later = at(0).replace(year=at(0).year + 1)
            reconcile_pending_orders(session, payments, now=later, grace_seconds=60)
            return result or real.charge(**kwargs)

        def find_charge(self, key):
            return real.find_charge(key)

        def refund(self, **kwargs):
            return real.refund(**kwargs)

    held = hold(session, sale, product, customer, now=at(1))
    slow = Payments(gateway=SlowGateway(True), breaker=payments.breaker)  # type: ignore[arg-type]
    assert pay(session, slow, customer, held).status == "paid"
    other = hold(session, sale, product, make_user(session), now=at(1))
    owner = session.get(FlashHold, other.id).customer_id
    late = Payments(gateway=SlowGateway(False), breaker=payments.breaker)  # type: ignore[arg-type]
    with pytest.raises(PaymentError):
        checkout_hold(session, late, hold_id=other.id, customer_id=owner,
                      card_number=APPROVED, now=at(10))  # fmt: skip
    assert status_of(session, other) == "held"
    assert item(session).sold == 1
