"""Products: search and read (anyone), create and edit (admin)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import jsonify, request

from app.current import db_session
from app.db import utcnow
from app.models.catalog import Product
from app.models.users import Role
from app.services.catalog import (
    ProductInput,
    active_sale_prices,
    create_product,
    get_product,
    list_products,
    update_product,
)
from views.api import actor, bp, optional_actor
from views.api.schemas import ProductFields
from views.api.serializers import page_json, product_json
from views.parsing import ID, json_body, query_page, validate


@bp.get("/products")
def products_index() -> Any:
    page, per_page = query_page()
    viewer = optional_actor()
    result = list_products(
        db_session(),
        q=request.args.get("q", "")[:200],
        category=request.args.get("category", "")[:80],
        page=page,
        per_page=per_page,
        include_inactive=viewer is not None
        and viewer.has_role(Role.ADMIN)
        and request.args.get("include_inactive") == "1",
    )
    return jsonify(page_json(result, _with_sale_prices(result.items)))


@bp.get(f"/products/<{ID}:product_id>")
def product_show(product_id: int) -> Any:
    viewer = optional_actor()
    is_admin = viewer is not None and viewer.has_role(Role.ADMIN)
    product = get_product(db_session(), product_id, include_inactive=is_admin)
    return jsonify(_with_sale_prices([product])(product))


def _with_sale_prices(products: list[Product]) -> Callable[[Product], dict[str, Any]]:
    """`product_json` with each product's flash-sale price on now (CONTRACT §3.2)."""
    sales = active_sale_prices(db_session(), [product.id for product in products], utcnow())

    def as_json(product: Product) -> dict[str, Any]:
        sale = sales.get(product.id)
        return product_json(product, sale.sale_price_cents if sale is not None else None)

    return as_json


def _product_input(data: dict[str, Any]) -> ProductInput:
    body = validate(ProductFields, data)
    return ProductInput(
        sku=body.sku or None,
        name=body.name or None,
        description=body.description,
        category=body.category or None,
        price_cents=body.price_cents,
        stock=body.stock,
        image_url=body.image_url or None,
        active=body.active,
    )


@bp.post("/products")
def product_create() -> Any:
    actor(Role.ADMIN)
    product = create_product(db_session(), _product_input(json_body()))
    return jsonify(_with_sale_prices([product])(product)), 201


@bp.patch(f"/products/<{ID}:product_id>")
def product_update(product_id: int) -> Any:
    actor(Role.ADMIN)
    product = update_product(db_session(), product_id, _product_input(json_body()))
    return jsonify(_with_sale_prices([product])(product))
