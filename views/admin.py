"""Admin pages: /admin/products (catalog incl. inactive, create, edit) and /admin/users
(accounts: list, create with a role, deactivate and reactivate, set a new password)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, make_response, render_template, request, url_for

from app import db_session
from app.errors import Conflict, ValidationError
from app.models.catalog import Product
from app.models.users import Role
from app.services.catalog import (
    ProductInput,
    check_product_input,
    create_product,
    get_product,
    list_products,
    update_product,
)
from app.services.users import (
    create_user,
    get_user,
    list_users,
    password_problem,
    set_password,
    set_user_active,
)
from views import login_guard
from views.access import admin_required, signed_in_user
from views.parsing import MAX_INT, form_cents, form_int, query_page
from views.rendering import is_partial, page_or_partial, redirect_to

bp = Blueprint("admin", __name__, url_prefix="/admin")
PRODUCT_FIELDS = ("sku", "name", "description", "category", "price", "stock", "image_url")
USER_FIELDS = ("username", "name", "email", "role")
ROLES = [r.value for r in Role]
ID = f"int(max={MAX_INT})"


@bp.before_request
@admin_required
def _only_admins() -> None:
    """Every /admin page needs the admin role (login redirect or 403 otherwise)."""


def _active_flag() -> bool:
    raw = request.form.get("active", "")
    if raw not in ("0", "1"):
        raise ValidationError({"active": "must be 0 or 1"})
    return raw == "1"


# Products ---------------------------------------------------------------------------


@bp.get("/products")
def products() -> Response:
    page, per_page = query_page()
    q = request.args.get("q", "").strip()[:200]
    result = list_products(db_session(), q=q, page=page, per_page=per_page, include_inactive=True)
    return page_or_partial("admin/products.html", "admin/_products_table.html", result=result, q=q)


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
    html = render_template("admin/product_form.html", product=product, form=form, errors=errors)
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
    product = update_product(db_session(), product_id, ProductInput(active=_active_flag()))
    if is_partial():
        return make_response(render_template("admin/_product_row.html", product=product))
    state = "visible in the shop" if product.active else "hidden from the shop"
    flash(f"{product.name} is now {state}.", "success")
    return redirect_to(url_for("admin.products"))


# Users ------------------------------------------------------------------------------


def _render_users(form: dict[str, str], errors: dict[str, str], status: int = 200) -> Response:
    page, per_page = query_page()
    if "per_page" not in request.args:
        per_page = 50
    result = list_users(db_session(), page=page, per_page=per_page)
    return page_or_partial(
        "admin/users.html",
        "admin/_users_table.html",
        status,
        result=result,
        form=form,
        errors=errors,
        roles=ROLES,
        me=signed_in_user(),
    )


@bp.get("/users")
def users() -> Response:
    return _render_users({"role": Role.CUSTOMER.value}, {})


@bp.post("/users")
def user_create() -> Response:
    form = {k: (request.form.get(k) or "")[:300] for k in USER_FIELDS}
    password = (request.form.get("password") or "")[:1000]
    try:
        user = create_user(db_session(), password=password, **form)
    except ValidationError as error:
        return _render_users(form, error.fields, 422)
    except Conflict as error:
        return _render_users(form, {"username": error.message}, 409)
    flash(f"Created {user.role} account {user.username}.", "success")
    return redirect_to(url_for("admin.users"))


@bp.post(f"/users/<{ID}:user_id>/active")
def user_active(user_id: int) -> Response:
    me = signed_in_user()
    user = set_user_active(db_session(), user_id, active=_active_flag(), actor=me)
    if is_partial():
        return make_response(render_template("admin/_user_row.html", account=user, me=me))
    flash(f"{user.username} is now {'active' if user.active else 'deactivated'}.", "success")
    return redirect_to(url_for("admin.users"))


@bp.route(f"/users/<{ID}:user_id>/password", methods=["GET", "POST"])
def user_password(user_id: int) -> Response:
    """Set a new password for an account (one who forgot theirs); every session and API
    token of that account ends."""
    session = db_session()
    account = get_user(session, user_id)
    if account.id == signed_in_user().id:
        return redirect_to(url_for("auth.password"))  # your own needs your current one
    if request.method == "GET":
        return make_response(
            render_template("admin/user_password.html", account=account, errors={})
        )
    password = (request.form.get("password") or "")[:1000]
    repeated = (request.form.get("password_confirm") or "")[:1000]
    problems = {
        "password": password_problem(password),
        "password_confirm": "does not match" if password != repeated else None,
    }
    errors = {field: problem for field, problem in problems.items() if problem}
    if errors:
        page = render_template("admin/user_password.html", account=account, errors=errors)
        return make_response(page, 422)
    set_password(session, user_id, password)
    login_guard.forgive(account.username)  # the reset is how a locked-out user gets back in
    flash(f"{account.username} has a new password and was signed out everywhere.", "success")
    return redirect_to(url_for("admin.users"))
