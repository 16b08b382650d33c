"""Flash sales, the reads: a sale with its items' live numbers, lists, and live statistics.

Everything here is computed at read time from `now`: the state a reader sees follows each
boundary exactly (whatever the scheduler's lag), and `reserved` counts only live holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from app.db import is_row_id
from app.errors import NotFound, ValidationError
from app.models.catalog import Product
from app.models.flash_sales import FlashHold, FlashSale, HoldStatus, SaleState
from app.models.orders import Order, OrderStatus
from app.services.flash_sales.lifecycle import OPEN_STATES, live_hold_filter, shown_state, window_of
from app.services.pagination import Page, paginate

STATES = tuple(s.value for s in SaleState)


@dataclass(frozen=True)
class SaleItemView:
    id: int
    product_id: int
    product_name: str
    sale_price_cents: int
    regular_price_cents: int
    quantity: int
    sold: int
    reserved: int
    available: int
    per_customer_limit: int


@dataclass(frozen=True)
class SaleView:
    id: int
    name: str
    state: str  # as of `now`; `stored_state` is what the scheduler last wrote
    stored_state: str
    starts_at: datetime
    ends_at: datetime
    version: int
    created_at: datetime
    items: list[SaleItemView]
    reservable: bool

    def seconds_to_start(self, now: datetime) -> int:
        return max(0, int((self.starts_at - now).total_seconds()))

    def seconds_to_end(self, now: datetime) -> int:
        return max(0, int((self.ends_at - now).total_seconds()))


def get_sale(session: Session, sale_id: int, *, now: datetime) -> SaleView:
    """One sale with its items' numbers as of `now`; NotFound if there is none."""
    sale = session.get(FlashSale, sale_id, populate_existing=True) if is_row_id(sale_id) else None
    if sale is None:
        raise NotFound("no such flash sale")
    return sale_views(session, [sale], now)[0]


def state_filter(state: str, now: datetime) -> ColumnElement[bool]:
    """SQL for 'the state a reader sees at `now` is `state`'."""
    open_ = FlashSale.state.in_(OPEN_STATES)
    return {
        SaleState.SCHEDULED: and_(
            FlashSale.state == SaleState.SCHEDULED, FlashSale.starts_at > now
        ),
        SaleState.ACTIVE: and_(open_, FlashSale.starts_at <= now, FlashSale.ends_at > now),
        SaleState.ENDED: or_(
            FlashSale.state == SaleState.ENDED, and_(open_, FlashSale.ends_at <= now)
        ),
        SaleState.CANCELLED: FlashSale.state == SaleState.CANCELLED,
    }[SaleState(state)]


def list_sales(
    session: Session,
    *,
    now: datetime,
    state: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page[SaleView]:
    """Sales by start time (newest first), optionally only those in `state` as of `now`.
    Raises ValidationError for an unknown state."""
    query = select(FlashSale).order_by(FlashSale.starts_at.desc(), FlashSale.id.desc())
    if state:
        if state not in STATES:
            raise ValidationError({"state": f"must be one of {', '.join(STATES)}"})
        query = query.where(state_filter(state, now))
    found = paginate(session, query, page=page, per_page=per_page)
    return Page(sale_views(session, found.items, now), found.total, found.page, found.per_page)


def sale_views(session: Session, sales: Sequence[FlashSale], now: datetime) -> list[SaleView]:
    """Views of several sales with two queries for all their items' numbers."""
    item_ids = [item.id for sale in sales for item in sale.items]
    reserved = dict(
        session.execute(
            select(FlashHold.item_id, func.sum(FlashHold.quantity))
            .where(FlashHold.item_id.in_(item_ids), live_hold_filter(now))
            .group_by(FlashHold.item_id)
        ).all()
    )
    product_ids = {item.product_id for sale in sales for item in sale.items}
    products = {
        row.id: row
        for row in session.execute(
            select(Product.id, Product.name, Product.price_cents).where(Product.id.in_(product_ids))
        )
    }
    views = []
    for sale in sales:
        state = shown_state(sale.state, sale.starts_at, sale.ends_at, now)
        items = []
        for item in sale.items:
            held = int(reserved.get(item.id) or 0)
            left = item.quantity - item.sold - item.returned - held
            open_ = state in OPEN_STATES and not item.closed
            items.append(
                SaleItemView(
                    id=item.id,
                    product_id=item.product_id,
                    product_name=products[item.product_id].name,
                    sale_price_cents=item.sale_price_cents,
                    regular_price_cents=products[item.product_id].price_cents,
                    quantity=item.quantity,
                    sold=item.sold,
                    reserved=held,
                    available=max(0, left) if open_ else 0,
                    per_customer_limit=item.per_customer_limit,
                )
            )
        views.append(
            SaleView(
                id=sale.id,
                name=sale.name,
                state=state,
                stored_state=sale.state,
                starts_at=sale.starts_at,
                ends_at=sale.ends_at,
                version=sale.version,
                created_at=sale.created_at,
                items=items,
                reservable=sale.state in OPEN_STATES
                and window_of(sale.starts_at, sale.ends_at, now) == "open",
            )
        )
    return views


@dataclass(frozen=True)
class SaleStats:
    sale: SaleView
    orders_last_minute: int
    orders_per_minute_5m: float
    units_sold: int
    holds_expired_recently: int
    expired_window_minutes: int


def sale_stats(
    session: Session, sale_id: int, *, now: datetime, expired_window_minutes: int = 5
) -> SaleStats:
    """The admin's live page: paid orders per minute (last minute, and averaged over five),
    holds that expired unpaid in the last N minutes, and the sale with per-item numbers."""
    view = get_sale(session, sale_id, now=now)
    paid_since = (
        select(func.count())
        .select_from(FlashHold)
        .join(Order, Order.id == FlashHold.order_id)
        .where(FlashHold.sale_id == sale_id, Order.status == OrderStatus.PAID)
    )
    last_minute = session.scalar(paid_since.where(Order.created_at > now - timedelta(minutes=1)))
    last_five = session.scalar(paid_since.where(Order.created_at > now - timedelta(minutes=5)))
    expired = session.scalar(
        select(func.count())
        .select_from(FlashHold)
        .where(
            FlashHold.sale_id == sale_id,
            FlashHold.status.in_([HoldStatus.HELD, HoldStatus.EXPIRED]),
            FlashHold.expires_at <= now,
            FlashHold.expires_at > now - timedelta(minutes=expired_window_minutes),
        )
    )
    return SaleStats(
        sale=view,
        orders_last_minute=int(last_minute or 0),
        orders_per_minute_5m=round(int(last_five or 0) / 5, 1),
        units_sold=sum(item.sold for item in view.items),
        holds_expired_recently=int(expired or 0),
        expired_window_minutes=expired_window_minutes,
    )
