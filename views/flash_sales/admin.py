"""Admin flash-sale pages (/admin/flash-sales): the calendar-like list, create and edit
(while scheduled) with several item rows, cancel, and the live sale page whose numbers
refresh themselves every 5 s (sold, held, available per item, orders per minute, hold
expiries, the payment circuit).

Times are typed into `datetime-local` inputs and read as UTC; prices are typed in dollars.
The form's item rows are numbered `items-N-field`; blank rows are ignored, and the
service's `items[i].field` errors are mapped back to the row they came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, flash, make_response, render_template, request, url_for
from sqlalchemy.orm import Session

from app.current import current_payments, db_session
from app.db import clean_text, utcnow
from app.errors import Conflict, ValidationError
from app.models.catalog import Product
from app.services.catalog import list_products
from app.services.flash_sales import (
    STATES,
    SaleItemInput,
    SaleView,
    cancel_sale,
    create_sale,
    get_sale,
    list_sales,
    sale_stats,
    update_sale,
)
from views.access import admin_required, signed_in_user
from views.pages import money
from views.parsing import ID, form_cents, form_int, parse_datetime, query_page
from views.rendering import page_or_partial, redirect_to

bp = Blueprint("admin_flash_sales", __name__, url_prefix="/admin/flash-sales")
ROWS, MAX_ROWS, PICKER_PAGES = 5, 50, 3
ITEM_FIELDS = ("product_id", "sale_price", "quantity", "per_customer_limit")
SERVICE_FIELDS = {"sale_price_cents": "sale_price"}
ROW_KEY = re.compile(r"items-(\d{1,2})-")
SERVICE_ITEM = re.compile(r"items\[(\d+)\]\.(\w+)")
WHEN_HINT = "must be a date and time (UTC), like 2026-12-01 09:00"


@bp.before_request
@admin_required
def _only_admins() -> None:
    """Every /admin page needs the admin role (login redirect or 403 otherwise)."""


@dataclass
class Submitted:
    """What the sale form sent: typed values kept for re-display, and the parsed input."""

    form: dict[str, str]
    rows: int
    name: str = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    items: list[SaleItemInput] = field(default_factory=list)
    row_of: list[int] = field(default_factory=list)  # the form row of each item
    problems: dict[str, str] = field(default_factory=dict)


def _typed(name: str) -> str:
    return clean_text(request.form.get(name) or "")[:300]


def _read_form() -> Submitted:
    indexes = {int(m.group(1)) for key in request.form if (m := ROW_KEY.match(key))}
    rows = max([ROWS, *(i + 1 for i in indexes if i < MAX_ROWS)])
    keys = ["name", "starts_at", "ends_at", "version"]
    keys += [f"items-{n}-{f}" for n in range(rows) for f in ITEM_FIELDS]
    got = Submitted(form={k: _typed(k) for k in keys}, rows=rows)
    problems = got.problems
    got.name = (request.form.get("name") or "")[:1000]
    for key in ("starts_at", "ends_at"):
        raw = (request.form.get(key) or "").strip()
        setattr(got, key, parse_datetime(raw) if raw else None)
        if getattr(got, key) is None:
            problems[key] = "is required" if not raw else WHEN_HINT
    for n in range(rows):
        at = f"items-{n}-"
        if not any(got.form[at + f].strip() for f in ITEM_FIELDS):
            continue  # a blank row
        values = (
            form_int(at + "product_id", problems, minimum=1),
            form_cents(at + "sale_price", problems),
            form_int(at + "quantity", problems, minimum=1),
            form_int(at + "per_customer_limit", problems, minimum=1),
        )
        if at + "product_id" in problems:
            problems[at + "product_id"] = "must be chosen from the list"
        product_id, price, quantity, limit = values
        if product_id is not None and price is not None and quantity and limit:
            got.items.append(SaleItemInput(product_id, price, quantity, limit))
            got.row_of.append(n)
    if not got.items and not any(k.startswith("items-") for k in problems):
        problems["items"] = "need at least one product: fill in a row below"
    return got


def _service_errors(
    error: ValidationError, got: Submitted, products: dict[int, Product]
) -> dict[str, str]:
    """The service's field names (`items[0].quantity`) as the form's (`items-3-quantity`)."""
    errors: dict[str, str] = {}
    for key, message in error.fields.items():
        match = SERVICE_ITEM.fullmatch(key)
        if match is None or int(match.group(1)) >= len(got.row_of):
            errors[key if key in ("name", "starts_at", "ends_at") else "items"] = message
            continue
        index, name = int(match.group(1)), match.group(2)
        product = products.get(got.items[index].product_id)
        if name == "sale_price_cents" and product is not None and "regular price" in message:
            message = f"must be less than the regular price ({money(product.price_cents)})"
        errors[f"items-{got.row_of[index]}-{SERVICE_FIELDS.get(name, name)}"] = message
    if errors.get("ends_at") == "must be after starts_at":
        errors["ends_at"] = "must be after the start"
    return errors


def _conflict_errors(error: Conflict, got: Submitted) -> dict[str, str]:
    if error.code != "sale_overlap":
        return {}
    clashing = set(error.details.get("product_ids") or ())
    return {
        f"items-{row}-product_id": "is already in another sale at that time"
        for item, row in zip(got.items, got.row_of, strict=True)
        if item.product_id in clashing
    }


def _conflict_message(error: Conflict) -> str:
    if error.code == "sale_overlap":
        ids = ", ".join(f"#{i}" for i in error.details.get("sale_ids") or ())
        return (
            f"Another scheduled or active sale ({ids}) has a product of this sale in an "
            "overlapping window. Change the times or the products; nothing was saved."
        )
    if error.code == "stale_version":
        return "Someone changed this sale meanwhile: reload it to see it now; nothing was saved."
    if error.code == "sale_not_editable":
        return "This sale has started or is over and can no longer be edited; nothing was saved."
    return error.message[:1].upper() + error.message[1:]


def _picker(session: Session) -> dict[int, Product]:
    """Active products for the item rows, by name (a few hundred at most)."""
    products: dict[int, Product] = {}
    for page in range(1, PICKER_PAGES + 1):
        result = list_products(session, page=page, per_page=100)
        products.update((p.id, p) for p in result.items)
        if not result.has_next:
            break
    return products


def _render_form(
    sale: SaleView | None,
    form: dict[str, str],
    rows: int,
    errors: dict[str, str],
    status: int = 200,
    problem: str = "",
) -> Response:
    session = db_session()
    html = render_template(
        "flash_sales/admin/form.html",
        sale=sale,
        form=form,
        rows=rows,
        errors=errors,
        problem=problem,
        products=_picker(session),
    )
    return make_response(html, 422 if errors and status == 200 else status)


def _save(sale: SaleView | None) -> Response:
    """Create (no sale) or update from the form; errors are shown next to their fields."""
    got = _read_form()
    session, now = db_session(), utcnow()
    expected = None
    if sale is not None:
        expected = form_int("version", got.problems, minimum=1)
    if got.problems or got.starts_at is None or got.ends_at is None:
        problem = "The form lost its version; reload the page." if "version" in got.problems else ""
        return _render_form(sale, got.form, got.rows, got.problems, 422, problem)
    fields: dict[str, Any] = {
        "name": got.name,
        "starts_at": got.starts_at,
        "ends_at": got.ends_at,
        "items": got.items,
        "now": now,
    }
    try:
        if sale is None:
            saved = create_sale(session, **fields, created_by=signed_in_user().id)
            flash(f"Created {saved.name}; its units are set aside from stock.", "success")
        else:
            saved = update_sale(session, sale.id, **fields, expected_version=expected)
            flash(f"Saved {saved.name}.", "success")
    except ValidationError as error:
        errors = _service_errors(error, got, _picker(session))
        return _render_form(sale, got.form, got.rows, errors, 422)
    except Conflict as error:
        errors = _conflict_errors(error, got)
        return _render_form(sale, got.form, got.rows, errors, 409, _conflict_message(error))
    return redirect_to(url_for("admin_flash_sales.show", sale_id=saved.id))


def _local(value: datetime) -> str:
    """A UTC time as a `datetime-local` value (seconds only when there are some)."""
    return value.strftime("%Y-%m-%dT%H:%M:%S" if value.second else "%Y-%m-%dT%H:%M")


def _prefill(sale: SaleView) -> tuple[dict[str, str], int]:
    form = {
        "name": sale.name,
        "starts_at": _local(sale.starts_at),
        "ends_at": _local(sale.ends_at),
        "version": str(sale.version),
    }
    for n, item in enumerate(sale.items):
        at = f"items-{n}-"
        form[at + "product_id"] = str(item.product_id)
        form[at + "sale_price"] = money(item.sale_price_cents).lstrip("$").replace(",", "")
        form[at + "quantity"] = str(item.quantity)
        form[at + "per_customer_limit"] = str(item.per_customer_limit)
    return form, max(ROWS, min(MAX_ROWS, len(sale.items) + 2))


def _days(sales: list[SaleView]) -> list[tuple[str, list[SaleView]]]:
    """Sales grouped by the UTC day they start, in the list's order."""
    days: list[tuple[str, list[SaleView]]] = []
    for sale in sales:
        label = sale.starts_at.strftime("%A %d %B %Y")
        if not days or days[-1][0] != label:
            days.append((label, []))
        days[-1][1].append(sale)
    return days


def _render_live(sale_id: int, status: int = 200, problem: str = "") -> Response:
    now = utcnow()
    stats = sale_stats(db_session(), sale_id, now=now)
    return page_or_partial(
        "flash_sales/admin/show.html",
        "flash_sales/admin/_live.html",
        status,
        stats=stats,
        sale=stats.sale,
        breaker=current_payments().breaker.status(),
        now=now,
        problem=problem,
    )


# Routes -------------------------------------------------------------------------------


@bp.get("")
def index() -> Response:
    page, per_page = query_page()
    state = request.args.get("state", "").strip()[:20]
    now = utcnow()
    result = list_sales(db_session(), now=now, state=state or None, page=page, per_page=per_page)
    return page_or_partial(
        "flash_sales/admin/index.html",
        "flash_sales/admin/_table.html",
        result=result,
        days=_days(result.items),
        state=state,
        states=STATES,
        now=now,
    )


@bp.get("/new")
def new() -> Response:
    return _render_form(None, {}, ROWS, {})


@bp.post("")
def create() -> Response:
    return _save(None)


@bp.get(f"/<{ID}:sale_id>")
def show(sale_id: int) -> Response:
    return _render_live(sale_id)


@bp.get(f"/<{ID}:sale_id>/edit")
def edit(sale_id: int) -> Response:
    sale = get_sale(db_session(), sale_id, now=utcnow())
    if sale.state != "scheduled":
        flash(
            f"{sale.name} is {sale.state}: only a sale that has not started can be edited.",
            "warning",
        )
        return redirect_to(url_for("admin_flash_sales.show", sale_id=sale.id))
    form, rows = _prefill(sale)
    return _render_form(sale, form, rows, {})


@bp.post(f"/<{ID}:sale_id>/edit")
def update(sale_id: int) -> Response:
    return _save(get_sale(db_session(), sale_id, now=utcnow()))


@bp.post(f"/<{ID}:sale_id>/cancel")
def cancel(sale_id: int) -> Response:
    session, now = db_session(), utcnow()
    sale = get_sale(session, sale_id, now=now)
    # The shown state, not the stored one: a sale past its end is over even if the
    # scheduler has not ended it yet, and cancelling it would rewrite its history.
    if sale.state not in ("scheduled", "active"):
        problem = f"This sale is {sale.state}: only a scheduled or active sale can be cancelled."
        return _render_live(sale_id, 409, problem)
    try:
        cancel_sale(session, sale_id, actor=signed_in_user(), now=now)
    except Conflict as error:  # the scheduler ended it at this very moment
        return _render_live(sale_id, 409, _conflict_message(error))
    flash(
        f"Cancelled {sale.name}: holds were released and unsold units went back to stock.",
        "success",
    )
    return redirect_to(url_for("admin_flash_sales.show", sale_id=sale_id))
