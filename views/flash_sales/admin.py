"""Admin flash-sale pages (/admin/flash-sales): the calendar-like list, create and edit
(while scheduled), cancel, and the live sale page whose numbers refresh themselves every
5 s (sold, held, available per item, orders per minute, hold expiries, the payment circuit).

The form (views/flash_sales/admin_form.py) adds item rows by searching the catalog
(`products`, then `row`), and shows the UTC of the times typed in the admin's zone as they
type (`utc`). Times are shown in the zone the admin last saved with, with UTC beside them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, flash, make_response, render_template, request, url_for
from markupsafe import escape

from app.current import current_payments, db_session
from app.db import clean_text, utcnow
from app.errors import Conflict, ValidationError
from app.services.catalog import find_products
from app.services.flash_sales import (
    STATES,
    SaleView,
    cancel_sale,
    create_sale,
    get_sale,
    list_sales,
    sale_stats,
    update_sale,
)
from views.access import admin_required, signed_in_user
from views.flash_sales.admin_form import (
    MAX_QUERY,
    MAX_ROWS,
    UTC_ZONE,
    Search,
    adding,
    conflict_errors,
    conflict_message,
    fold_mark,
    is_later,
    read_form,
    read_zone,
    remember_zone,
    remembered_zone,
    render_form,
    rework,
    row_numbers,
    search_products,
    service_errors,
)
from views.pages import money
from views.parsing import ID, form_int, query_page
from views.rendering import page_or_partial, redirect_to
from views.timezones import from_utc, in_zone, is_second, local_value, to_utc, zone_line

bp = Blueprint("admin_flash_sales", __name__, url_prefix="/admin/flash-sales")


@bp.before_request
@admin_required
def _only_admins() -> None:
    """Every /admin page needs the admin role (login redirect or 403 otherwise)."""


@bp.app_template_filter("in_zone")
def _in_zone(moment: datetime, zone: ZoneInfo | None, fmt: str = "%d %b %Y, %H:%M") -> str:
    return in_zone(moment, zone, fmt)


def _save(sale: SaleView | None) -> Response:
    """Create (no sale) or update from the form; errors are shown next to their fields. The
    form's find, add and remove buttons (without JavaScript) only rework the form."""
    if any(key in request.form for key in ("find", "add", "remove")):
        return rework(sale)
    got = read_form()
    session, now = db_session(), utcnow()
    expected = None
    if sale is not None:
        expected = form_int("version", got.problems, minimum=1)
    if got.problems or got.starts_at is None or got.ends_at is None:
        problem = "The form lost its version; reload the page." if "version" in got.problems else ""
        return render_form(sale, got.form, got.rows, got.problems, 422, problem)
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
        products = find_products(session, [i.product_id for i in got.items])
        errors = service_errors(error, got, products)
        return render_form(sale, got.form, got.rows, errors, 422)
    except Conflict as error:
        errors = conflict_errors(error, got)
        return render_form(sale, got.form, got.rows, errors, 409, conflict_message(error))
    response = redirect_to(url_for("admin_flash_sales.show", sale_id=saved.id))
    remember_zone(response, got.zone or UTC_ZONE)
    return response


def _prefill(sale: SaleView) -> tuple[dict[str, str], list[int]]:
    """The sale as the form shows it, its times in the admin's zone (UTC when none)."""
    zone = remembered_zone() or UTC_ZONE
    form = {"name": sale.name, "tz": zone.key, "version": str(sale.version)}
    for key, moment in (("starts_at", sale.starts_at), ("ends_at", sale.ends_at)):
        form[key] = local_value(moment, zone)
        form[f"{key}_fold"] = fold_mark(form[key], zone) if is_second(moment, zone) else ""
    for n, item in enumerate(sale.items):
        at = f"items-{n}-"
        form[at + "product_id"] = str(item.product_id)
        form[at + "sale_price"] = money(item.sale_price_cents).lstrip("$").replace(",", "")
        form[at + "quantity"] = str(item.quantity)
        form[at + "per_customer_limit"] = str(item.per_customer_limit)
    return form, list(range(min(MAX_ROWS, len(sale.items))))


def _not_editable(sale: SaleView) -> Response:
    """A sale that has started (or is over) has no form: to its page, saying why."""
    flash(
        f"{sale.name} is {sale.state}: only a sale that has not started can be edited.", "warning"
    )
    return redirect_to(url_for("admin_flash_sales.show", sale_id=sale.id))


def _days(sales: list[SaleView], zone: ZoneInfo) -> list[tuple[str, list[SaleView]]]:
    """Sales grouped by the day they start in `zone`, in the list's order."""
    days: list[tuple[str, list[SaleView]]] = []
    for sale in sales:
        label = from_utc(sale.starts_at, zone).strftime("%A %d %B %Y")
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
        zone=remembered_zone(),
    )


# Routes -------------------------------------------------------------------------------


@bp.get("")
def index() -> Response:
    page, per_page = query_page()
    state = request.args.get("state", "").strip()[:20]
    now, zone = utcnow(), remembered_zone()
    result = list_sales(db_session(), now=now, state=state or None, page=page, per_page=per_page)
    return page_or_partial(
        "flash_sales/admin/index.html",
        "flash_sales/admin/_table.html",
        result=result,
        days=_days(result.items, zone or UTC_ZONE),
        zone=zone,
        state=state,
        states=STATES,
        now=now,
    )


@bp.get("/new")
def new() -> Response:
    # No remembered zone: the field stays empty and the page fills in the browser's.
    zone = remembered_zone()
    return render_form(None, {"tz": zone.key if zone else ""}, [], {})


@bp.post("")
def create() -> Response:
    return _save(None)


@bp.get("/products")
def products() -> Response:
    """The form's product search: a few active products matching `q` (name
    or sku), best first, each with a button that adds it as an item row."""
    q = clean_text(request.args.get("q") or "")[:MAX_QUERY].strip()
    chosen = {request.args.get(f"items-{n}-product_id", "") for n in row_numbers(request.args)}
    search = Search(q, search_products(q), frozenset(chosen))
    return make_response(render_template("flash_sales/admin/_product_results.html", search=search))


def _row_refused(message: str, status: int) -> Response:
    """An answer to "add this product" that adds nothing: said in the search's status line."""
    response = make_response(escape(message), status)
    response.headers["HX-Retarget"] = "#product-search-status"
    response.headers["HX-Reswap"] = "innerHTML"
    return response


@bp.get("/row")
def row() -> Response:
    """One new item row for product `add`, numbered after the rows the form has (sent as
    `items-N-product_id`); a product already there, or one not for sale, is refused."""
    added = adding(request.args.get("add") or "", request.args)
    if added.n is None or added.product is None:
        return _row_refused(added.refusal, added.status)
    html = render_template(
        "flash_sales/admin/_item_row_added.html",
        n=added.n,
        form=added.fields(),
        errors={},
        products={added.product.id: added.product},
        said=added.said,
    )
    return make_response(html)


@bp.get("/utc")
def utc() -> Response:
    """The UTC of the form's typed times in its zone, as the previews beside the inputs
    (out-of-band swaps: one answer updates both and the zone's own line)."""
    keys = ("tz", "starts_at", "ends_at", "starts_at_fold", "ends_at_fold")
    args = {k: clean_text(request.args.get(k) or "")[:100] for k in keys}
    zone = read_zone(args["tz"])
    converted = {
        k: to_utc(args[k], zone, later=is_later(args, k))
        for k in ("starts_at", "ends_at")
        if zone and args[k].strip()
    }
    html = render_template(
        "flash_sales/admin/_utc_previews.html",
        previews=converted,
        zone_line=zone_line(zone, args["tz"], utcnow()),
    )
    return make_response(html)


@bp.get(f"/<{ID}:sale_id>")
def show(sale_id: int) -> Response:
    return _render_live(sale_id)


@bp.get(f"/<{ID}:sale_id>/edit")
def edit(sale_id: int) -> Response:
    sale = get_sale(db_session(), sale_id, now=utcnow())
    if sale.state != "scheduled":
        return _not_editable(sale)
    form, rows = _prefill(sale)
    return render_form(sale, form, rows, {})


@bp.post(f"/<{ID}:sale_id>/edit")
def update(sale_id: int) -> Response:
    sale = get_sale(db_session(), sale_id, now=utcnow())
    if sale.state != "scheduled":
        return _not_editable(sale)
    return _save(sale)


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
        return _render_live(sale_id, 409, conflict_message(error))
    flash(
        f"Cancelled {sale.name}: holds were released and unsold units went back to stock.",
        "success",
    )
    return redirect_to(url_for("admin_flash_sales.show", sale_id=sale_id))
