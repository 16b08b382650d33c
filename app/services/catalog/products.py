"""The catalog: ranked search, product reads, and admin edits."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import NUL, NUL_MESSAGE, clean_text, is_row_id, like_escaped, transaction
from app.errors import Conflict, NotFound, ValidationError
from app.models.catalog import Product
from app.models.flash_sales import FlashSale, FlashSaleItem, SaleState
from app.services.pagination import Page, paginate

MAX_QUERY_TERMS = 8
_version = itertools.count(1)
_current_version = 0


def catalog_version() -> int:
    """Changes whenever this process changes the catalog; page caches key on it."""
    return _current_version


def _catalog_changed() -> None:
    global _current_version
    _current_version = next(_version)


def catalog_changed() -> None:
    """Something shown with products changed in this process (e.g. a flash sale's prices)."""
    _catalog_changed()


WEB_OR_LOCAL = ("https://", "http://", "/")
EDITABLE = ("sku", "name", "description", "category", "price_cents", "stock", "image_url", "active")


@dataclass(frozen=True)
class ProductInput:
    """Checked product fields; None means 'not given' (PATCH keeps the old value)."""

    sku: str | None = None
    name: str | None = None
    description: str | None = None
    category: str | None = None
    price_cents: int | None = None
    stock: int | None = None
    image_url: str | None = None
    active: bool | None = None

    def changes(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in EDITABLE if getattr(self, k) is not None}


def check_product_input(data: ProductInput, *, creating: bool) -> None:
    """Raise ValidationError naming each bad field."""
    problems: dict[str, str] = {}
    if creating:
        for required in ("sku", "name", "price_cents", "stock"):
            if getattr(data, required) is None:
                problems[required] = "is required"
    if data.sku is not None and not (0 < len(data.sku.strip()) <= 64):
        problems["sku"] = "must have 1-64 characters"
    if data.name is not None and not (0 < len(data.name.strip()) <= 200):
        problems["name"] = "must have 1-200 characters"
    if data.price_cents is not None and not (0 <= data.price_cents <= 100_000_000):
        problems["price_cents"] = "must be an integer from 0 to 100000000"
    if data.stock is not None and not (0 <= data.stock <= 10_000_000):
        problems["stock"] = "must be an integer from 0 to 10000000"
    if data.category is not None and len(data.category) > 100:
        problems["category"] = "must have at most 100 characters"
    if data.description is not None and len(data.description) > 10_000:
        problems["description"] = "must have at most 10000 characters"
    if (
        data.image_url is not None
        and data.image_url
        and (len(data.image_url) > 2000 or not data.image_url.startswith(WEB_OR_LOCAL))
    ):
        problems["image_url"] = "must be an http(s) URL of at most 2000 characters"
    for name in ("sku", "name", "description", "category", "image_url"):
        value = getattr(data, name)
        if value is not None and NUL in value:
            problems[name] = NUL_MESSAGE
    if problems:
        raise ValidationError(problems)


def _like(term: str) -> str:
    return f"%{like_escaped(term)}%"


def _search(terms: list[str]) -> tuple[ColumnElement[bool], ColumnElement[int]]:
    """Every term must match name, sku or description; the score ranks how well."""
    name, sku, desc = (
        func.lower(Product.name),
        func.lower(Product.sku),
        func.lower(Product.description),
    )
    matches: list[ColumnElement[bool]] = []
    score: ColumnElement[int] = literal(0)
    for term in terms:
        pattern = _like(term)
        prefix = _like(term)[1:]
        name_hit = name.like(pattern, escape="\\")
        sku_hit = sku.like(pattern, escape="\\")
        desc_hit = desc.like(pattern, escape="\\")
        matches.append(or_(name_hit, sku_hit, desc_hit))
        score = (
            score
            + case(
                (sku == term, 100),
                (name.like(prefix, escape="\\"), 60),
                (name_hit, 40),
                (sku_hit, 25),
                else_=0,
            )
            + case((desc_hit, 10), else_=0)
        )
    return and_(*matches), score


def list_products(
    session: Session,
    *,
    q: str = "",
    category: str = "",
    page: int = 1,
    per_page: int = 24,
    include_inactive: bool = False,
) -> Page[Product]:
    """Search the catalog. With `q`, best matches first (exact sku, then name prefix, name,
    sku, description); without, by name. Inactive products only for admins."""
    q, category = clean_text(q), clean_text(category)
    query = select(Product)
    if not include_inactive:
        query = query.where(Product.active.is_(True))
    if category:
        query = query.where(Product.category == category)
    terms = [t for t in q.lower().split() if t][:MAX_QUERY_TERMS]
    if terms:
        condition, score = _search(terms)
        query = query.where(condition).order_by(score.desc(), Product.name, Product.id)
    else:
        query = query.order_by(Product.name, Product.id)
    return paginate(session, query, page=page, per_page=per_page)


def list_categories(session: Session) -> list[str]:
    rows = session.scalars(
        select(Product.category)
        .where(Product.active.is_(True), Product.category != "")
        .group_by(Product.category)
        .order_by(Product.category)
    )
    return list(rows)


def get_product(session: Session, product_id: int, *, include_inactive: bool = False) -> Product:
    """The product, or NotFound (also for an inactive one unless asked)."""
    product = session.get(Product, product_id) if is_row_id(product_id) else None
    if product is None or (not product.active and not include_inactive):
        raise NotFound("no such product")
    return product


def find_products(session: Session, ids: Iterable[int]) -> dict[int, Product]:
    """The products of `ids` that exist (active or not), by id; ids that are not row ids
    are skipped. One query, for at most a form's worth of ids."""
    wanted = sorted({i for i in ids if is_row_id(i)})
    if not wanted:
        return {}
    return {p.id: p for p in session.scalars(select(Product).where(Product.id.in_(wanted)))}


def create_product(session: Session, data: ProductInput) -> Product:
    """Add a shop product. Raises ValidationError, Conflict(sku_taken)."""
    check_product_input(data, creating=True)
    fields = data.changes()
    fields["sku"] = fields["sku"].strip()
    fields["name"] = fields["name"].strip()
    product = Product(**fields)
    try:
        with transaction(session):
            _refuse_taken_sku(session, product.sku, partner_id=None)
            session.add(product)
    except IntegrityError as exc:
        raise Conflict("a product with that sku exists", code="sku_taken") from exc
    _catalog_changed()
    return product


def update_product(session: Session, product_id: int, data: ProductInput) -> Product:
    """Change the given fields of a product. Raises NotFound, ValidationError, Conflict."""
    check_product_input(data, creating=False)
    try:
        with transaction(session):
            product = get_product(session, product_id, include_inactive=True)
            changes = data.changes()
            if "sku" in changes and changes["sku"].strip() != product.sku:
                changes["sku"] = changes["sku"].strip()
                _refuse_taken_sku(session, changes["sku"], partner_id=product.partner_id)
            for key, value in changes.items():
                setattr(product, key, value)
    except IntegrityError as exc:
        raise Conflict("a product with that sku exists", code="sku_taken") from exc
    _catalog_changed()
    return product


def _refuse_taken_sku(session: Session, sku: str, *, partner_id: int | None) -> None:
    owner = Product.partner_id.is_(None) if partner_id is None else Product.partner_id == partner_id
    if session.scalar(select(Product.id).where(owner, Product.sku == sku)) is not None:
        raise Conflict("a product with that sku exists", code="sku_taken")


@dataclass(frozen=True)
class SalePrice:
    """A product's flash-sale price while a sale of it is on."""

    sale_price_cents: int
    sale_id: int
    ends_at: datetime


def active_sale_prices(
    session: Session, product_ids: Iterable[int], now: datetime
) -> dict[int, SalePrice]:
    """The flash-sale price of each product whose sale window contains `now`
    (starts_at inclusive, ends_at exclusive), computed at read time so it is exact
    whatever the scheduler's lag; cancelled and ended sales never apply."""
    ids = [pid for pid in set(product_ids) if is_row_id(pid)]
    if not ids:
        return {}
    rows = session.execute(
        select(FlashSaleItem.product_id, FlashSaleItem.sale_price_cents, FlashSale.id,
               FlashSale.ends_at)
        .join(FlashSale, FlashSale.id == FlashSaleItem.sale_id)
        .where(
            FlashSaleItem.product_id.in_(ids),
            FlashSale.state.in_([SaleState.SCHEDULED, SaleState.ACTIVE]),
            FlashSale.starts_at <= now,
            FlashSale.ends_at > now,
        )
        .order_by(FlashSale.id)
    ).all()  # fmt: skip
    return {row[0]: SalePrice(row[1], row[2], row[3]) for row in rows}


def next_price_change(session: Session, now: datetime) -> datetime | None:
    """The next moment a flash-sale price starts or stops applying, if any: pages showing
    prices may be kept until then (and no longer)."""
    open_sales = FlashSale.state.in_([SaleState.SCHEDULED, SaleState.ACTIVE])
    starts = session.scalar(
        select(func.min(FlashSale.starts_at)).where(open_sales, FlashSale.starts_at > now)
    )
    ends = session.scalar(
        select(func.min(FlashSale.ends_at)).where(open_sales, FlashSale.ends_at > now)
    )
    moments = [moment for moment in (starts, ends) if moment is not None]
    return min(moments) if moments else None
