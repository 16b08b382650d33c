"""Flash sales, the customer side: reserve units (a hold), release it, pay for it.

Concurrency design. The invariant, per sale item and at every instant:
`sold + live holds + returned <= quantity`, where a live hold is `held` with `expires_at`
in the future. Every change that can *add* to the left-hand side (a reserve, a checkout
turning a hold into sold units) first takes the item's row lock and then counts:

- SQLite: `transaction()` opens BEGIN IMMEDIATE, so writers are serialised anyway and the
  sums read inside are exact.
- PostgreSQL: `SELECT … FOR UPDATE` on the item row. Under READ COMMITTED each following
  statement sees everything committed before the lock was granted, so the sum of live holds
  and the customer's own count are exact while the lock is held.

A row lock plus a sum over the item's live holds (an index range on item, status, expiry)
was chosen over a stored `held` counter: expiry stays a pure predicate (an expired hold
counts for nothing before any sweep, with no counter to reclaim), and there is no second
copy of the truth to drift. Checkout re-counts under the lock too: a caller whose `now` is
a little behind another's could otherwise convert a hold that the other already treated
as expired. Releases only lower the count and need no item lock (a conditional update of
the hold row decides a race with checkout). Holds never outlive the sale: `expires_at` is
capped at `ends_at`, so the sale price is never charged after the sale has ended.

Payment follows `place_order`: transaction 1 converts the hold and writes the order
`pending_payment` (product stock is not touched: the allocation was set aside when the
sale was created); the gateway is called through the breaker outside any transaction;
then the order is settled. A failed payment gives the units back to the hold with its
original expiry (`settlement.settle_failed` → `restore_hold_for_order`), the reconciler too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.db import as_loaded, is_row_id, transaction
from app.errors import (
    Conflict,
    Gone,
    NotFound,
    ValidationError,
)
from app.models.flash_sales import HoldStatus, SaleState
from app.models.orders import Order, OrderLine, OrderStatus
from app.models.payments import Payment, PaymentStatus
from app.payments import BreakerOpen, Payments
from app.services.flash_sales import statements as q
from app.services.flash_sales.lifecycle import window_of
from app.services.orders.checkout import (
    charge_and_settle,
    check_card,
    new_order_number,
    payments_unavailable,
)

MAX_RESERVE = 1000
FLASH_ORDER = "flash_sale"


@dataclass(frozen=True)
class HoldView:
    id: int
    sale_id: int
    sale_name: str
    item_id: int
    product_id: int
    product_name: str
    product_sku: str
    quantity: int
    unit_price_cents: int
    expires_at: datetime
    status: str  # held | converted | released | expired (an expired `held` shows expired)
    order_id: int | None
    created_at: datetime

    @property
    def total_cents(self) -> int:
        return self.quantity * self.unit_price_cents

    def seconds_left(self, now: datetime) -> int:
        if self.status != HoldStatus.HELD:
            return 0
        return max(0, int((self.expires_at - now).total_seconds()))


def reserve(
    session: Session,
    *,
    sale_id: int,
    product_id: int,
    customer_id: int,
    quantity: int,
    now: datetime,
    ttl_seconds: int,
) -> HoldView:
    """Hold `quantity` units of the sale's product for the customer until
    `now + ttl_seconds` (at most the sale's end), in one transaction.

    Raises ValidationError (quantity not 1..1000), NotFound (no such sale or product in
    it), Conflict(sale_not_active) (outside the window, ended or cancelled),
    Conflict(sold_out), ValidationError code limit_exceeded (422: the customer's live
    holds and orders in this sale, plus this, would pass the item's limit).
    """
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise ValidationError({"quantity": "must be a whole number"})
    if not 1 <= quantity <= MAX_RESERVE:
        raise ValidationError({"quantity": f"must be from 1 to {MAX_RESERVE}"})
    if not (is_row_id(sale_id) and is_row_id(product_id)):
        raise NotFound("no such product in this sale")
    with transaction(session):
        conn = session.connection()
        sqlite = conn.dialect.name == "sqlite"
        params = {"sid": sale_id, "pid": product_id, "cid": customer_id, "now": now}
        item = conn.execute(q.TARGET_COUNTED if sqlite else q.TARGET, params).first()
        if item is None:
            raise NotFound("no such product in this sale")
        _refuse_outside_window(item, now)
        if sqlite:
            live, mine = item.live, item.mine
        else:
            params["iid"] = item.id
            live, mine = conn.execute(q.LIVE_AND_MINE, params).one()
        _refuse_past_stock_or_limit(item, quantity, live=live, mine=mine)
        row = {
            "sale_id": sale_id,
            "item_id": item.id,
            "product_id": product_id,
            "customer_id": customer_id,
            "quantity": quantity,
            "unit_price_cents": item.sale_price_cents,
            "status": HoldStatus.HELD,
            "expires_at": min(now + timedelta(seconds=ttl_seconds), item.ends_at),
            "order_id": None,
            "created_at": now,
            "updated_at": now,
        }
        hold_id = conn.execute(q.INSERT_HOLD, row).scalar_one()
    return HoldView(
        id=hold_id, sale_id=sale_id, sale_name=item.sale_name, item_id=item.id,
        product_id=product_id, product_name=item.product_name, product_sku=item.product_sku,
        quantity=quantity, unit_price_cents=item.sale_price_cents, expires_at=row["expires_at"],
        status=HoldStatus.HELD, order_id=None, created_at=now,
    )  # fmt: skip


def _refuse_outside_window(item: Row[Any], now: datetime) -> None:
    """Conflict(sale_not_active) unless the item's sale is open at `now`."""
    window = window_of(item.starts_at, item.ends_at, now)
    if item.closed or item.state not in (SaleState.SCHEDULED, SaleState.ACTIVE):
        window = "closed"
    if window != "open":
        raise Conflict(
            "the sale has not started yet" if window == "before" else "the sale has ended",
            code="sale_not_active",
            details={"starts_at": item.starts_at.isoformat(), "state": window},
        )


def _refuse_past_stock_or_limit(item: Row[Any], quantity: int, *, live: int, mine: int) -> None:
    """Conflict(sold_out) if the units are not there; 422 limit_exceeded if the customer's
    live holds and orders in this sale (`mine`) plus these would pass the item's limit."""
    available = item.quantity - item.sold - item.returned - live
    if quantity > available:
        raise Conflict(
            "sold out" if available <= 0 else f"only {available} left",
            code="sold_out",
            details={"available": max(0, available)},
        )
    if mine + quantity > item.per_customer_limit:
        raise ValidationError(
            {"quantity": f"at most {item.per_customer_limit} per customer ({mine} taken)"},
            code="limit_exceeded",
            details={"limit": item.per_customer_limit, "taken": int(mine)},
        )


def get_hold(session: Session, hold_id: int, customer_id: int, *, now: datetime) -> HoldView:
    """The customer's hold; another customer's (or none) is NotFound."""
    if not is_row_id(hold_id):
        raise NotFound("no such reservation")
    row = session.connection().execute(q.HOLD, {"hid": hold_id, "cid": customer_id}).first()
    if row is None:
        raise NotFound("no such reservation")
    return _view(row, now=now)


@dataclass(frozen=True)
class Taken:
    """A customer's units of one sale item that count against its per-customer limit."""

    bought: int = 0
    held: int = 0

    @property
    def total(self) -> int:
        return self.bought + self.held


def units_taken(
    session: Session, customer_id: int, item_ids: Iterable[int], *, now: datetime
) -> dict[int, Taken]:
    """Bought and live-held units per sale item, counted exactly as `reserve` counts them
    for `limit_exceeded` (an expired hold counts for nothing), over all of the customer's
    holds. The shop page offers only what the limit leaves; `reserve` still decides."""
    ids = sorted(set(item_ids))
    if not ids:
        return {}
    params = {"cid": customer_id, "iids": ids, "now": now}
    taken: dict[int, Taken] = {}
    for row in session.connection().execute(q.UNITS_TAKEN, params):
        was = taken.get(row.item_id, Taken())
        bought = row.status == HoldStatus.CONVERTED
        units = int(row.units)
        taken[row.item_id] = Taken(was.bought + units * bought, was.held + units * (not bought))
    return taken


def customer_live_holds(session: Session, customer_id: int, *, now: datetime) -> list[HoldView]:
    """The customer's holds still live at `now`, soonest to expire first."""
    rows = session.connection().execute(q.CUSTOMER_LIVE_HOLDS, {"cid": customer_id, "now": now})
    return [_view(row, now=now) for row in rows]


def customer_holds(
    session: Session, customer_id: int, *, now: datetime, limit: int = 50
) -> list[HoldView]:
    """The customer's holds, newest first (expired ones shown as expired)."""
    params = {"cid": customer_id, "limit": limit}
    rows = session.connection().execute(q.CUSTOMER_HOLDS, params).all()
    return [_view(row, now=now) for row in rows]


_HOLD_FIELDS = tuple(HoldView.__dataclass_fields__)


def _view(row: Row[*tuple[Any, ...]], *, now: datetime) -> HoldView:
    """A hold as the customer sees it: a `held` hold past its expiry shows expired."""
    values = {name: getattr(row, name) for name in _HOLD_FIELDS}
    if values["status"] == HoldStatus.HELD and values["expires_at"] <= now:
        values["status"] = HoldStatus.EXPIRED
    return HoldView(**values)


def release_hold(session: Session, hold_id: int, customer_id: int, *, now: datetime) -> None:
    """Give a hold's units back at once (owner only). Releasing an expired or already
    released hold changes nothing. Raises NotFound (not the customer's) or
    Conflict(reservation_checked_out) when it has become an order."""
    hold = get_hold(session, hold_id, customer_id, now=now)
    if hold.status == HoldStatus.CONVERTED:
        raise Conflict("this reservation has been checked out", code="reservation_checked_out")
    with transaction(session):
        moved = session.connection().execute(
            update(q.holds)
            .where(q.holds.c.id == hold_id, q.holds.c.status == HoldStatus.HELD)
            .values(status=HoldStatus.RELEASED, updated_at=now)
        )
    if moved.rowcount != 1:
        current = get_hold(session, hold_id, customer_id, now=now)
        if current.status == HoldStatus.CONVERTED:
            raise Conflict("this reservation has been checked out", code="reservation_checked_out")


def checkout_hold(
    session: Session,
    payments: Payments,
    *,
    hold_id: int,
    customer_id: int,
    card_number: str,
    now: datetime,
) -> Order:
    """Buy the held units at the hold's price: one order of kind `flash_sale`.

    Raises ValidationError (card), NotFound (not the customer's hold),
    Gone(reservation_expired) (410: expired, released, or already checked out),
    PaymentDeclined (402), PaymentError (502), PaymentUnavailable (503, circuit open);
    after any payment failure the hold is `held` again until its original expiry.
    """
    card = check_card(card_number)
    if not is_row_id(hold_id):
        raise NotFound("no such reservation")
    try:
        checked = payments.breaker.check()  # fail fast, keeping the hold
    except BreakerOpen as exc:
        hold = get_hold(session, hold_id, customer_id, now=now)  # what is wrong with it first
        if hold.status != HoldStatus.HELD:
            raise _expired(hold) from exc
        raise payments_unavailable(exc) from exc
    order = _convert(session, hold_id, customer_id, card, now)
    return charge_and_settle(
        session, payments, order, card, amount_cents=order.total_cents, checked=checked
    )


def _expired(hold: HoldView) -> Gone:
    return Gone(
        "this reservation has expired" if hold.status != HoldStatus.CONVERTED
        else "this reservation has already been checked out",
        code="reservation_expired",
        details={"status": hold.status, "order_id": hold.order_id},
    )  # fmt: skip


def _convert(session: Session, hold_id: int, customer_id: int, card: str, now: datetime) -> Order:
    """Transaction 1: under the item's lock, the customer's live hold becomes sold units of a
    pending order. Raises NotFound or Gone (nothing written) as `get_hold` would."""
    with transaction(session):
        conn = session.connection()
        params = {"hid": hold_id, "cid": customer_id, "now": now}
        sqlite = conn.dialect.name == "sqlite"  # one statement (see `statements`)
        row = conn.execute(q.HOLD_COUNTED if sqlite else q.HOLD, params).first()
        if row is None:
            raise NotFound("no such reservation")
        hold = _view(row, now=now)
        if hold.status != HoldStatus.HELD:
            raise _expired(hold)
        if sqlite:
            capacity, taken = row.item_quantity, row.sold + row.returned + row.others
        else:
            params["iid"] = hold.item_id
            item = conn.execute(q.LOCK_ITEM, params).one()
            others = conn.execute(q.LIVE_SUM_OTHERS, params).scalar_one()
            capacity, taken = item.quantity, item.sold + item.returned + others
        if taken + hold.quantity > capacity:
            raise _expired(hold)  # its units were counted free by a later caller
        total = hold.total_cents
        order_row = {
            "number": new_order_number(), "customer_id": customer_id,
            "status": OrderStatus.PENDING_PAYMENT, "total_cents": total,
            "store_credit_cents": 0, "kind": FLASH_ORDER, "created_at": now, "updated_at": now,
        }  # fmt: skip
        order_id = conn.execute(q.INSERT_ORDER, order_row).scalar_one()
        if conn.execute(q.CONVERT, {"hid": hold.id, "now": now, "oid": order_id}).rowcount != 1:
            raise _expired(hold)
        conn.execute(q.SELL, {"iid": hold.item_id, "qty": hold.quantity})
        line = {
            "order_id": order_id, "product_id": hold.product_id, "quantity": hold.quantity,
            "unit_price_cents": hold.unit_price_cents, "product_name": hold.product_name,
            "product_sku": hold.product_sku,
        }  # fmt: skip
        line["id"] = conn.execute(q.INSERT_LINE, line).scalar_one()
        payment_row = {
            "order_id": order_id,
            "status": PaymentStatus.PENDING,
            "amount_cents": total,
            "card_last4": card[-4:],
            "idempotency_key": f"order-{order_id}",
            "created_at": now,
            "updated_at": now,
        }
        payment_id = conn.execute(q.INSERT_PAYMENT, payment_row).scalar_one()
    order = as_loaded(Order, {"id": order_id, **order_row})
    set_committed_value(order, "lines", [as_loaded(OrderLine, line)])
    payment_row.update(id=payment_id, reference=None, error=None)
    set_committed_value(order, "payment", as_loaded(Payment, payment_row))
    return order
