"""Admin pages of the catalog: /admin/products (incl. inactive, create, edit, show or hide)."""

from __future__ import annotations

from typing import Any

from flask import Response, flash, make_response, render_template, request, url_for

from app.current import db_session
from app.errors import Conflict, ValidationError
from app.models.catalog import Product
from app.services.catalog import (
    ProductInput,
    check_product_input,
    create_product,
    get_product,
    list_products,
    update_product,
)
from views.access import admin_pages as bp
from views.parsing import ID, active_flag, form_cents, form_int, query_page
from views.rendering import is_partial, page_or_partial, redirect_to

PRODUCT_FIELDS = ("sku", "name", "description", "category", "price", "stock", "image_url")


@bp.get("/products")
def products() -> Response:
    page, per_page = query_page()
    q = request.args.get("q", "").strip()[:200]
    result = list_products(db_session(), q=q, page=page, per_page=per_page, include_inactive=True)
    return page_or_partial(
        "catalog/admin/products.html", "catalog/admin/_products_table.html", result=result, q=q
    )


def _product_form(*, creating: bool) -> tuple[ProductInput, dict[str, str], dict[str, str]]:
    """The input, the typed values (kept for re-display), and the form-level problems."""
    form = {k: (request.form.get(k) or "") for k in PRODUCT_FIELDS}
    form["active"] = "1" if request.form.get("active") == "1" else ""
    problems: dict[str, str] = {}
    price = form_cents("price", problems)
    stock = form_int("stock", problems, maximum=10_000_000)
    sku, name = form["sku"].strip(), form["name"].strip()
    data = ProductInput(
        # Blank on create is "missing"; blank on edit is a bad value, not "keep the old one".
        sku=sku if sku or not creating else None,
        name=name if name or not creating else None,
        description=form["description"],
        category=form["category"].strip(),
        price_cents=price,
        stock=stock,
        image_url=form["image_url"].strip(),
        active=form["active"] == "1",
    )
    return data, form, problems


def _product_errors(error: ValidationError | Conflict) -> dict[str, str]:
    if isinstance(error, ValidationError):
        return {("price" if k == "price_cents" else k): v for k, v in error.fields.items()}
    return {"sku": "is already used by another product"}


def _render_form(product: Product | None, form: dict[str, Any], errors: dict[str, str]) -> Response:
    html = render_template(
        "catalog/admin/product_form.html", product=product, form=form, errors=errors
    )
    return make_response(html, 422 if errors else 200)


def _save(product: Product | None) -> Response:
    """Create (no product) or update from the form; errors are shown next to the fields."""
    data, form, problems = _product_form(creating=product is None)
    session = db_session()
    try:
        if problems:
            check_product_input(data, creating=product is None)  # report every field at once
            raise ValidationError(problems)
        if product is None:
            product = create_product(session, data)
            flash(f"Created {product.name}.", "success")
        else:
            product = update_product(session, product.id, data)
            flash(f"Saved {product.name}.", "success")
    except (ValidationError, Conflict) as error:
        return _render_form(product, form, {**_product_errors(error), **problems})
    return redirect_to(url_for("admin.products"))


@bp.get("/products/new")
def product_new() -> Response:
    return _render_form(None, {"active": "1"}, {})


@bp.post("/products")
def product_create() -> Response:
    return _save(None)


@bp.get(f"/products/<{ID}:product_id>")
def product_edit(product_id: int) -> Response:
    product = get_product(db_session(), product_id, include_inactive=True)
    form = {k: getattr(product, k) or "" for k in PRODUCT_FIELDS if k != "price"}
    form["price"] = f"{product.price_cents // 100}.{product.price_cents % 100:02d}"
    form["active"] = "1" if product.active else ""
    return _render_form(product, form, {})


@bp.post(f"/products/<{ID}:product_id>")
def product_update(product_id: int) -> Response:
    return _save(get_product(db_session(), product_id, include_inactive=True))


@bp.post(f"/products/<{ID}:product_id>/active")
def product_active(product_id: int) -> Response:
    product = update_product(db_session(), product_id, ProductInput(active=active_flag()))
    if is_partial():
        return make_response(render_template("catalog/admin/_product_row.html", product=product))
    state = "visible in the shop" if product.active else "hidden from the shop"
    flash(f"{product.name} is now {state}.", "success")
    return redirect_to(url_for("admin.products"))
