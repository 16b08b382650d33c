"""The storefront catalog: /products (search, category, pages) and /products/<id>."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import Session

from app.current import db_session
from app.db import utcnow
from app.models.users import Role
from app.services.catalog import (
    SalePrice,
    active_sale_prices,
    catalog_version,
    get_product,
    list_categories,
    list_products,
    next_price_change,
)
from views.page_cache import PageCache, serve_cached, valid_for
from views.parsing import ID, query_page
from views.rendering import is_partial, redirect_to

bp = Blueprint("catalog", __name__)
PER_PAGE = 12


def _is_admin() -> bool:
    return bool(current_user.is_authenticated and current_user.has_role(Role.ADMIN))


@bp.get("/")
def home() -> Response:
    return redirect_to(url_for("catalog.index"))


def sale_prices(session: Session, product_ids: list[int]) -> dict[int, SalePrice]:
    """Flash-sale prices on now, and (for the page cache) how long they stay as they are."""
    now = utcnow()
    change = next_price_change(session, now)
    if change is not None:
        valid_for((change - now).total_seconds())
    return active_sale_prices(session, product_ids, now)


def _pages() -> PageCache:
    cache: PageCache | None = current_app.extensions.get("backroom.catalog_pages")
    if cache is None:
        cache = current_app.extensions["backroom.catalog_pages"] = PageCache(ttl=1.0)
    return cache


@bp.get("/products")
def index() -> Response:
    page, per_page = query_page()
    if "per_page" not in request.args:
        per_page = PER_PAGE
    q = request.args.get("q", "").strip()[:200]
    category = request.args.get("category", "").strip()[:80]

    def render() -> str:
        session = db_session()
        result = list_products(session, q=q, category=category, page=page, per_page=per_page)
        return render_template(
            "catalog/_results.html" if is_partial() else "catalog/index.html",
            result=result,
            sales=sale_prices(session, [product.id for product in result.items]),
            q=q,
            category=category,
            categories=list_categories(session),
        )

    return serve_cached(_pages(), catalog_version(), render, vary=str(is_partial()))


@bp.get(f"/products/<{ID}:product_id>")
def show(product_id: int) -> Response:
    admin = _is_admin()

    def render() -> str:
        session = db_session()
        product = get_product(session, product_id, include_inactive=admin)
        sales = sale_prices(session, [product.id])
        return render_template("catalog/show.html", product=product, sale=sales.get(product.id))

    return serve_cached(_pages(), catalog_version(), render)
