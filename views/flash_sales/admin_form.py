"""The admin sale form: reading what it sent, mapping the service's errors back onto it,
and rendering it (with its item rows, time zone and UTC previews).

Item rows are numbered `items-N-field` (N < 50, gaps allowed: rows are added and removed
in the page); a row whose fields are all blank is ignored. Times are typed as wall-clock
times in the form's time zone (`tz`, an IANA name; empty means UTC) and converted to UTC
by `views.timezones.to_utc`, the one rule the live preview uses too. The zone an admin
last saved with is remembered in a cookie of their own (no table needed for a preference).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Response, current_app, make_response, render_template, request
from sqlalchemy.orm import Session

from app.current import db_session
from app.db import clean_text, utcnow
from app.errors import Conflict, ValidationError
from app.models.catalog import Product
from app.services.catalog import find_products, list_products
from app.services.flash_sales import SaleItemInput, SaleView
from app.services.pagination import Page
from views.access import signed_in_user
from views.pages import money
from views.parsing import form_cents, form_int, whole_number
from views.timezones import UNKNOWN_ZONE, Converted, find_zone, to_utc, zone_line, zone_names

MAX_ROWS = 50
SEARCH_LIMIT, MAX_QUERY = 10, 100
ITEM_FIELDS = ("product_id", "sale_price", "quantity", "per_customer_limit")
SERVICE_FIELDS = {"sale_price_cents": "sale_price"}
ROW_KEY = re.compile(r"items-(0|[1-9][0-9]?)-")  # ASCII digits, no leading zero
SERVICE_ITEM = re.compile(r"items\[(\d+)\]\.(\w+)")
ZONE_COOKIE, ZONE_COOKIE_DAYS = "admin_tz", 365
UTC_ZONE = ZoneInfo("UTC")


@dataclass
class Submitted:
    """What the sale form sent: typed values kept for re-display, and the parsed input."""

    form: dict[str, str]
    rows: list[int]
    zone: ZoneInfo | None = None
    name: str = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    items: list[SaleItemInput] = field(default_factory=list)
    row_of: list[int] = field(default_factory=list)  # the form row of each item
    problems: dict[str, str] = field(default_factory=dict)


def typed(name: str, limit: int = 300) -> str:
    return clean_text(request.form.get(name) or "")[:limit]


def row_numbers(keys: Iterable[str]) -> list[int]:
    """The row numbers N of `items-N-…` keys, in order (the form has rows below 50 only)."""
    found = {int(m.group(1)) for key in keys if (m := ROW_KEY.match(key))}
    return sorted(n for n in found if n < MAX_ROWS)


def fold_mark(local: str, zone: ZoneInfo) -> str:
    """The hidden `<key>_fold` value of a sale's time that is the second of a wall-clock
    time shown twice: that time and zone, so the mark holds only while both stay as shown."""
    return f"{local}@{zone.key}"


def is_later(values: Mapping[str, str], key: str) -> bool:
    """Whether the form's `key` time is still the second of its doubled hour (the mark the
    edit page set, with the time and zone unchanged since); a new time reads as the first."""
    mark = values.get(f"{key}_fold", "")
    return bool(mark) and mark == f"{values.get(key, '').strip()}@{values.get('tz', '').strip()}"


def read_zone(raw: str) -> ZoneInfo | None:
    """The form's zone: empty is UTC; None for a name no zone has."""
    return find_zone(raw) if raw.strip() else UTC_ZONE


def read_form() -> Submitted:
    keys = ["name", "starts_at", "ends_at", "starts_at_fold", "ends_at_fold", "version"]
    numbers = row_numbers(request.form.keys())
    keys += [f"items-{n}-{f}" for n in numbers for f in ITEM_FIELDS]
    got = Submitted(form={k: typed(k) for k in keys}, rows=[])
    problems = got.problems
    got.name = (request.form.get("name") or "")[:1000]
    tz = typed("tz", 100)
    got.zone = read_zone(tz)
    got.form["tz"] = got.zone.key if got.zone else tz
    if got.zone is None:
        problems["tz"] = UNKNOWN_ZONE
    for key in ("starts_at", "ends_at"):
        converted = to_utc(got.form[key], got.zone or UTC_ZONE, later=is_later(got.form, key))
        setattr(got, key, converted.utc)
        if converted.problem:
            problems[key] = converted.problem
    for n in numbers:
        at = f"items-{n}-"
        if not any(got.form[at + f].strip() for f in ITEM_FIELDS):
            continue  # a blank row
        got.rows.append(n)
        values = (
            form_int(at + "product_id", problems, minimum=1),
            form_cents(at + "sale_price", problems),
            form_int(at + "quantity", problems, minimum=1),
            form_int(at + "per_customer_limit", problems, minimum=1),
        )
        if at + "product_id" in problems:
            problems[at + "product_id"] = "must be chosen: find it by name or sku above"
        product_id, price, quantity, limit = values
        if product_id is not None and price is not None and quantity and limit:
            got.items.append(SaleItemInput(product_id, price, quantity, limit))
            got.row_of.append(n)
    if any(len(request.form.getlist(k)) > 1 for k in keys if k.startswith("items-")):
        # Two rows under one number (two adds answered at once): saving would drop one.
        problems["items"] = "came twice under one row number: reload the page and add them again"
    if not got.items and not any(k.startswith("items-") for k in problems):
        problems["items"] = "need at least one product: find one above and add it"
    return got


def service_errors(
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
        if message == "no such product":
            message = "no such product for sale now (unknown or inactive): remove this row"
        errors[f"items-{got.row_of[index]}-{SERVICE_FIELDS.get(name, name)}"] = message
    if errors.get("ends_at") == "must be after starts_at":
        errors["ends_at"] = "must be after the start"
    return errors


def conflict_errors(error: Conflict, got: Submitted) -> dict[str, str]:
    if error.code != "sale_overlap":
        return {}
    clashing = set(error.details.get("product_ids") or ())
    return {
        f"items-{row}-product_id": "is already in another sale at that time"
        for item, row in zip(got.items, got.row_of, strict=True)
        if item.product_id in clashing
    }


def conflict_message(error: Conflict) -> str:
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


def row_products(session: Session, form: dict[str, str], rows: list[int]) -> dict[int, Product]:
    """The products the rows name, by id (one query)."""
    ids = [whole_number(form.get(f"items-{n}-product_id", "")) for n in rows]
    return find_products(session, [i for i in ids if i is not None])


@dataclass(frozen=True)
class Added:
    """The answer to "add this product as a row": its row number, or why not (and the
    status to answer with)."""

    n: int | None
    product: Product | None
    refusal: str = ""
    status: int = 200
    position: int = 0  # the item's place among the form's products (1 for the first)

    def fields(self) -> dict[str, str]:
        """The new row's form values: its product, the admin's three numbers still blank."""
        if self.n is None or self.product is None:
            return {}  # refused: no row
        blank = {f"items-{self.n}-{name}": "" for name in ITEM_FIELDS}
        return blank | {f"items-{self.n}-product_id": str(self.product.id)}

    @property
    def said(self) -> str:
        """The status line's words for it: added (and what to type next), or why not."""
        if self.refusal or self.product is None:
            return self.refusal
        return (
            f"Added {self.product.name} as item {self.position}: type its sale price, "
            "quantity and limit."
        )


def adding(raw: str, sent: Mapping[str, str]) -> Added:
    """A new row for product `raw`, numbered after the rows `sent` has (`items-N-…`); a
    product already there, or not for sale, or a 51st row, is refused."""
    numbers = row_numbers(sent.keys())
    chosen = {sent.get(f"items-{n}-product_id", "").strip() for n in numbers} - {""}
    product_id = whole_number(raw.strip()[:20]) or 0
    product = find_products(db_session(), [product_id]).get(product_id)
    if product is None or not product.active:
        return Added(None, None, "That product is not for sale now; search again.", 422)
    if str(product.id) in chosen:
        message = f"{product.name} is already in this sale: one row per product."
        return Added(None, product, message, 409)
    free = [n for n in range(MAX_ROWS) if n > max(numbers, default=-1)]
    free = free or [n for n in range(MAX_ROWS) if n not in numbers]
    if not free:
        return Added(None, product, f"A sale has at most {MAX_ROWS} items.", 409)
    return Added(free[0], product, position=len(chosen) + 1)


@dataclass(frozen=True)
class Search:
    """The product search as the page shows it: what was asked, what matched, which ids the
    form already has, and the status line (added, removed, refused)."""

    q: str = ""
    result: Page[Product] | None = None
    chosen: frozenset[str] = frozenset()
    said: str = ""
    added: int | None = None  # the row just added: the cursor goes to its sale price


def search_products(q: str) -> Page[Product] | None:
    """At most SEARCH_LIMIT active products matching `q` (name or sku), best first."""
    return list_products(db_session(), q=q, page=1, per_page=SEARCH_LIMIT) if q else None


def rework(sale: SaleView | None) -> Response:
    """Without JavaScript the form's own buttons find products (`find`), add a row (`add`)
    and remove one (`remove`): the form comes back with everything typed, nothing saved."""
    got = read_form()
    form, rows = got.form, row_numbers(request.form.keys())
    q = clean_text(request.form.get("q") or "")[:MAX_QUERY].strip()
    said, status, added_row = "", 200, None
    if (remove := whole_number(request.form.get("remove"), digits=2)) in rows:
        rows.remove(remove)
        key = f"items-{remove}-product_id"
        name = row_products(db_session(), form, [remove]).get(whole_number(form[key]) or 0)
        said = f"Removed {name.name if name else 'the row'} from the sale."
        for item_field in ITEM_FIELDS:
            form.pop(f"items-{remove}-{item_field}", None)
    elif "add" in request.form:
        added = adding(request.form.get("add") or "", form)
        said, status, added_row = added.said, added.status, added.n
        if added_row is not None:
            rows.append(added_row)
            form |= added.fields()
    chosen = frozenset(form.get(f"items-{n}-product_id", "") for n in rows)
    search = Search(q, search_products(q), chosen, said, added_row)
    return render_form(sale, form, rows, {}, status, search=search)


def previews(form: dict[str, str], zone: ZoneInfo | None) -> dict[str, Converted]:
    """The UTC equivalent of each typed time (nothing for an empty one or a bad zone)."""
    if zone is None:
        return {}
    return {
        k: to_utc(form[k], zone, later=is_later(form, k))
        for k in ("starts_at", "ends_at")
        if form.get(k, "").strip()
    }


def render_form(
    sale: SaleView | None,
    form: dict[str, str],
    rows: list[int],
    errors: dict[str, str],
    status: int = 200,
    problem: str = "",
    search: Search | None = None,
) -> Response:
    zone = read_zone(form.get("tz", ""))
    html = render_template(
        "flash_sales/admin/form.html",
        search=search,
        sale=sale,
        form=form,
        rows=rows,
        errors=errors,
        problem=problem,
        products=row_products(db_session(), form, rows),
        previews=previews(form, zone),
        zone_line=zone_line(zone, form.get("tz", ""), utcnow()) if form.get("tz") else "",
        zones=zone_names(),
    )
    return make_response(html, 422 if errors and status == 200 else status)


# The remembered zone ------------------------------------------------------------------------


def remembered_zone() -> ZoneInfo | None:
    """The zone this admin last saved a sale with in this browser, if any."""
    user_id, _, name = (request.cookies.get(ZONE_COOKIE) or "").partition(":")
    if user_id != str(signed_in_user().id):
        return None
    return find_zone(name)


def remember_zone(response: Response, zone: ZoneInfo) -> None:
    response.set_cookie(
        ZONE_COOKIE,
        f"{signed_in_user().id}:{zone.key}",
        max_age=ZONE_COOKIE_DAYS * 86400,
        path="/admin/flash-sales",
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
        httponly=True,
        samesite="Lax",
    )
