"""The statements behind flash-sale holds and their checkout (`holds`),
built once at import: each runs from SQLAlchemy's compiled cache, with bound parameters.

PostgreSQL: the item's row lock comes with the first statement of a transaction, and only a
statement started after it was granted sees the holds its previous owner committed; so the
sums are read by a second statement (`LIVE_AND_MINE`, `LIVE_SUM_OTHERS`). SQLite: BEGIN
IMMEDIATE took the write lock before any read, so one statement reads the item and its
sums together (`TARGET_COUNTED`; `HOLD_COUNTED` with the hold being checked out).
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    ScalarSelect,
    Table,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)

from app.models.catalog import Product
from app.models.flash_sales import FlashHold, FlashSale, FlashSaleItem, HoldStatus
from app.models.orders import Order, OrderLine
from app.models.payments import Payment

sales, items, holds, products = (
    cast(Table, FlashSale.__table__),
    cast(Table, FlashSaleItem.__table__),
    cast(Table, FlashHold.__table__),
    cast(Table, Product.__table__),
)
orders, lines, payments = (
    cast(Table, Order.__table__),
    cast(Table, OrderLine.__table__),
    cast(Table, Payment.__table__),
)
TARGET = (
    select(
        items.c.id, items.c.quantity, items.c.sold, items.c.returned, items.c.closed,
        items.c.sale_price_cents, items.c.per_customer_limit,
        sales.c.state, sales.c.starts_at, sales.c.ends_at, sales.c.name.label("sale_name"),
        products.c.name.label("product_name"), products.c.sku.label("product_sku"),
    )
    .join_from(items, sales, items.c.sale_id == sales.c.id)
    .join(products, products.c.id == items.c.product_id)
    .where(items.c.sale_id == bindparam("sid"), items.c.product_id == bindparam("pid"))
    .with_for_update(of=items)
)  # fmt: skip
LOCK_ITEM = (
    select(items.c.quantity, items.c.sold, items.c.returned)
    .where(items.c.id == bindparam("iid"))
    .with_for_update()
)


def _live_sum(item_id: ColumnElement[int], *also: ColumnElement[bool]) -> ScalarSelect[int]:
    """Units of the item's live holds (`held`, not yet expired at `now`) matching `also`."""
    return (
        select(func.coalesce(func.sum(holds.c.quantity), 0))
        .where(
            holds.c.item_id == item_id,
            holds.c.status == HoldStatus.HELD,
            holds.c.expires_at > bindparam("now"),
            *also,
        )
        .scalar_subquery()
    )


def _mine_sum(item_id: ColumnElement[int]) -> ScalarSelect[int]:
    """Units of the item the customer `cid` holds (live) or has bought."""
    return (
        select(func.coalesce(func.sum(holds.c.quantity), 0))
        .where(
            holds.c.customer_id == bindparam("cid"),
            holds.c.item_id == item_id,
            or_(
                holds.c.status == HoldStatus.CONVERTED,
                and_(holds.c.status == HoldStatus.HELD, holds.c.expires_at > bindparam("now")),
            ),
        )
        .scalar_subquery()
    )


_iid: BindParameter[int] = bindparam("iid")
LIVE_AND_MINE = select(_live_sum(_iid).label("live"), _mine_sum(_iid).label("mine"))
TARGET_COUNTED = TARGET.add_columns(
    _live_sum(items.c.id).label("live"), _mine_sum(items.c.id).label("mine")
)
LIVE_SUM_OTHERS = select(_live_sum(_iid, holds.c.id != bindparam("hid")).label("others"))
INSERT_HOLD = insert(holds).returning(holds.c.id)
CONVERT = (
    update(holds)
    .where(
        holds.c.id == bindparam("hid"),
        holds.c.status == HoldStatus.HELD,
        holds.c.expires_at > bindparam("now"),
    )
    .values(status=HoldStatus.CONVERTED, order_id=bindparam("oid"), updated_at=bindparam("now"))
)
SELL = (
    update(items).where(items.c.id == bindparam("iid")).values(sold=items.c.sold + bindparam("qty"))
)
INSERT_ORDER = insert(orders).returning(orders.c.id)
INSERT_LINE = insert(lines).returning(lines.c.id)
INSERT_PAYMENT = insert(payments).returning(payments.c.id)
HOLD_COLUMNS = (
    select(
        holds.c.id, holds.c.sale_id, sales.c.name.label("sale_name"), holds.c.item_id,
        holds.c.product_id, products.c.name.label("product_name"),
        products.c.sku.label("product_sku"), holds.c.quantity, holds.c.unit_price_cents,
        holds.c.expires_at, holds.c.status, holds.c.order_id, holds.c.created_at,
    )
    .join_from(holds, products, products.c.id == holds.c.product_id)
    .join(sales, sales.c.id == holds.c.sale_id)
)  # fmt: skip
HOLD = HOLD_COLUMNS.where(holds.c.id == bindparam("hid"), holds.c.customer_id == bindparam("cid"))
# SQLite's checkout: the hold, its item's counts and the other live holds in one read.
HOLD_COUNTED = HOLD.join(items, items.c.id == holds.c.item_id).add_columns(
    items.c.quantity.label("item_quantity"), items.c.sold, items.c.returned,
    _live_sum(holds.c.item_id, holds.c.id != bindparam("hid")).label("others"),
)  # fmt: skip
CUSTOMER_HOLDS = (
    HOLD_COLUMNS.where(holds.c.customer_id == bindparam("cid"))
    .order_by(holds.c.id.desc())
    .limit(bindparam("limit"))
)
CUSTOMER_LIVE_HOLDS = HOLD_COLUMNS.where(
    holds.c.customer_id == bindparam("cid"),
    holds.c.status == HoldStatus.HELD,
    holds.c.expires_at > bindparam("now"),
).order_by(holds.c.expires_at, holds.c.id)
# What counts against a customer's per-customer limit, per item: as `_mine_sum` counts it.
UNITS_TAKEN = (
    select(holds.c.item_id, holds.c.status, func.sum(holds.c.quantity).label("units"))
    .where(
        holds.c.customer_id == bindparam("cid"),
        holds.c.item_id.in_(bindparam("iids", expanding=True)),
        or_(
            holds.c.status == HoldStatus.CONVERTED,
            and_(holds.c.status == HoldStatus.HELD, holds.c.expires_at > bindparam("now")),
        ),
    )
    .group_by(holds.c.item_id, holds.c.status)
)
