"""Flash sales, the admin's setup: create a sale and edit it while it is scheduled.

A sale's allocation is taken from product stock when it is created (conditional updates,
products in id order, in the transaction that writes the sale); editing re-balances it.
What happens to a sale over time is `lifecycle`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import MAX_INT, NUL, transaction
from app.errors import Conflict, ValidationError
from app.models.catalog import Product
from app.models.flash_sales import FlashSale, FlashSaleItem, SaleState
from app.services.catalog.products import catalog_changed
from app.services.catalog.stock import give_back_stock, take_stock
from app.services.flash_sales.lifecycle import (
    FLASH_SALE,
    LOCK_SALE_ITEMS,
    OPEN_STATES,
    bump_sale_version,
    fire_sale_trigger,
    get_sale_row,
    record_sale_event,
    window_of,
)
from app.services.workflows import published_version
from workflows.registry import SYSTEM, Actor

MAX_NAME, MAX_ITEMS = 200, 50


@dataclass(frozen=True)
class SaleItemInput:
    product_id: int
    sale_price_cents: int
    quantity: int
    per_customer_limit: int


# -- creating and editing ------------------------------------------------------------------


def create_sale(
    session: Session,
    *,
    name: str,
    starts_at: datetime,
    ends_at: datetime,
    items: Sequence[SaleItemInput],
    now: datetime,
    created_by: int | None = None,
) -> FlashSale:
    """Create a sale and set its quantities aside from stock, in one transaction; a sale
    whose start has passed is started at once.

    Raises ValidationError (every bad field named, nothing written) or
    Conflict(sale_overlap) when another scheduled or active sale of one of the products
    has an overlapping window.
    """
    clean_name = _check_header(name, starts_at, ends_at, now)
    wanted = _check_items(session, items)
    version = published_version(session, FLASH_SALE)  # may commit: before the transaction
    with transaction(session):
        # Taking stock first locks the product rows: two admins creating overlapping sales
        # at once are serialised, and the second one's overlap check sees the first sale.
        _take(session, wanted)
        _check_overlap(session, sorted(wanted), starts_at, ends_at, exclude_sale=None)
        sale = FlashSale(
            name=clean_name,
            state=SaleState.SCHEDULED,
            starts_at=starts_at,
            ends_at=ends_at,
            workflow_version=version,
            version=1,
            created_by=created_by,
            created_at=now,
            updated_at=now,
        )
        session.add(sale)
        session.flush()
        _add_items(session, sale.id, items)
        actor = SYSTEM if created_by is None else Actor(created_by, "admin")
        record_sale_event(session, sale, actor, "create", None, SaleState.SCHEDULED, now)
        if window_of(starts_at, ends_at, now) == "open":
            fire_sale_trigger(session, sale, "start", SYSTEM, now)
    catalog_changed()  # shop pages cached in this process show the sale's prices on time
    return sale


def update_sale(
    session: Session,
    sale_id: int,
    *,
    name: str,
    starts_at: datetime,
    ends_at: datetime,
    items: Sequence[SaleItemInput],
    now: datetime,
    expected_version: int | None = None,
) -> FlashSale:
    """Replace a scheduled sale's name, window and items; stock follows the quantities
    (more taken or the difference given back) in the same transaction.

    Raises NotFound, Conflict(sale_not_editable) once the sale has started (or ended, or
    was cancelled), Conflict(stale_version), ValidationError, Conflict(sale_overlap).
    """
    clean_name = _check_header(name, starts_at, ends_at, now)
    allocated = select(FlashSaleItem.product_id, FlashSaleItem.quantity).where(
        FlashSaleItem.sale_id == sale_id
    )
    set_aside: dict[int, int] = {int(row[0]): int(row[1]) for row in session.execute(allocated)}
    _check_items(session, items, set_aside=set_aside)
    with transaction(session):
        sale = get_sale_row(session, sale_id)
        if sale.state != SaleState.SCHEDULED or now >= sale.starts_at:
            raise Conflict(
                "only a sale that has not started can be edited", code="sale_not_editable"
            )
        if expected_version is not None and expected_version != sale.version:
            raise Conflict("the sale changed meanwhile; reload it", code="stale_version")
        bump_sale_version(session, sale, sale.state, now)
        conn = session.connection()
        conn.execute(LOCK_SALE_ITEMS, {"sid": sale.id})
        old = {item.product_id: item.quantity for item in sale.items}
        new = {item.product_id: item.quantity for item in items}
        more = {p: new.get(p, 0) - old.get(p, 0) for p in new if new[p] > old.get(p, 0)}
        less = {p: old[p] - new.get(p, 0) for p in old if old[p] > new.get(p, 0)}
        give_back_stock(session, less)
        _take(session, more)
        _check_overlap(session, sorted(new), starts_at, ends_at, exclude_sale=sale.id)
        for item in sale.items:
            session.delete(item)
        session.flush()
        sale.name, sale.starts_at, sale.ends_at, sale.updated_at = (
            clean_name,
            starts_at,
            ends_at,
            now,
        )
        _add_items(session, sale.id, items)
        session.flush()
        session.expire(sale, ["items"])
        if window_of(starts_at, ends_at, now) == "open":
            fire_sale_trigger(session, sale, "start", SYSTEM, now)
    catalog_changed()  # shop pages cached in this process show the sale's prices on time
    return sale


def _check_header(name: Any, starts_at: Any, ends_at: Any, now: datetime) -> str:
    problems: dict[str, str] = {}
    clean = name.strip() if isinstance(name, str) else ""
    if not clean:
        problems["name"] = "is required"
    elif len(clean) > MAX_NAME or NUL in clean:
        problems["name"] = f"must be at most {MAX_NAME} characters of text"
    for field, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if not isinstance(value, datetime) or value.tzinfo is None:
            problems[field] = "must be a date and time with a UTC offset"
    if not problems.keys() & {"starts_at", "ends_at"}:
        if ends_at <= starts_at:
            problems["ends_at"] = "must be after starts_at"
        elif ends_at <= now:
            problems["ends_at"] = "must be in the future"
    if problems:
        raise ValidationError(problems)
    return clean


def _whole(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= MAX_INT


def _check_items(
    session: Session, items: Sequence[SaleItemInput], *, set_aside: dict[int, int] | None = None
) -> dict[int, int]:
    """Every item's problems at once; the quantities wanted per product when all is well.
    `set_aside`: units this sale already holds per product (editing), available to it again."""
    set_aside = set_aside or {}
    if not items:
        raise ValidationError({"items": "must have at least one item"})
    if len(items) > MAX_ITEMS:
        raise ValidationError({"items": f"must have at most {MAX_ITEMS} items"})
    problems: dict[str, str] = {}
    ids = [i.product_id for i in items if _whole(i.product_id, 1)]
    products = {
        row.id: row
        for row in session.execute(
            select(Product.id, Product.price_cents, Product.stock).where(
                Product.id.in_(ids), Product.active.is_(True)
            )
        )
    }
    seen: set[int] = set()
    for n, item in enumerate(items):
        at = f"items[{n}]."
        product = products.get(item.product_id) if _whole(item.product_id, 1) else None
        if product is None:
            problems[at + "product_id"] = "no such product"
        elif item.product_id in seen:
            problems[at + "product_id"] = "is listed twice in this sale"
        seen.add(item.product_id)
        if not _whole(item.sale_price_cents, 1):
            problems[at + "sale_price_cents"] = "must be a whole number of cents, at least 1"
        elif product is not None and item.sale_price_cents >= product.price_cents:
            problems[at + "sale_price_cents"] = (
                f"must be less than the regular price ({product.price_cents})"
            )
        if not _whole(item.quantity, 1):
            problems[at + "quantity"] = "must be a whole number, at least 1"
        elif product is not None and item.quantity > (
            in_stock := product.stock + set_aside.get(item.product_id, 0)
        ):
            problems[at + "quantity"] = f"is more than the {in_stock} in stock"
        if not _whole(item.per_customer_limit, 1):
            problems[at + "per_customer_limit"] = "must be a whole number, at least 1"
    if problems:
        raise ValidationError(problems)
    return {item.product_id: item.quantity for item in items}


def _take(session: Session, wanted: dict[int, int]) -> None:
    short = take_stock(session, wanted)
    if short:
        raise ValidationError(
            {"items": f"not enough stock for products {', '.join(map(str, short))}"},
            details={"product_ids": short},
        )


def _check_overlap(
    session: Session,
    product_ids: list[int],
    starts_at: datetime,
    ends_at: datetime,
    *,
    exclude_sale: int | None,
) -> None:
    query = (
        select(FlashSaleItem.product_id, FlashSale.id)
        .join(FlashSale, FlashSale.id == FlashSaleItem.sale_id)
        .where(
            FlashSaleItem.product_id.in_(product_ids),
            FlashSale.state.in_(OPEN_STATES),
            FlashSale.starts_at < ends_at,
            FlashSale.ends_at > starts_at,
        )
    )
    if exclude_sale is not None:
        query = query.where(FlashSale.id != exclude_sale)
    clashes = session.execute(query).all()
    if clashes:
        raise Conflict(
            "another sale of the same product overlaps this one",
            code="sale_overlap",
            details={
                "product_ids": sorted({row[0] for row in clashes}),
                "sale_ids": sorted({row[1] for row in clashes}),
            },
        )


def _add_items(session: Session, sale_id: int, items: Sequence[SaleItemInput]) -> None:
    session.add_all(
        FlashSaleItem(
            sale_id=sale_id,
            product_id=item.product_id,
            sale_price_cents=item.sale_price_cents,
            quantity=item.quantity,
            per_customer_limit=item.per_customer_limit,
            sold=0,
            returned=0,
            closed=False,
        )
        for item in items
    )
    session.flush()
