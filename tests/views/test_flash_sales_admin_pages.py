"""Admin flash-sale pages: list, create, edit while scheduled, cancel, the live page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from app.db import utcnow
from app.models.catalog import Product
from app.models.flash_sales import FlashSale, FlashSaleItem
from app.payments import BreakerOpen, GatewayFailure
from app.services.catalog import ProductInput, update_product
from app.services.flash_sales import SaleItemInput, cancel_sale, create_sale, end_due_sales, reserve
from tests.builders import make_product, make_user
from tests.conftest import sign_in
from tests.views.conftest import HX, text

HOUR = timedelta(hours=1)


@pytest.fixture
def token(client, admin):
    return sign_in(client, admin)


def local(value: datetime) -> str:
    """How a browser's datetime-local input sends a time."""
    return value.strftime("%Y-%m-%dT%H:%M")


def soon(hours: float = 1) -> datetime:
    return utcnow().replace(second=0, microsecond=0) + timedelta(hours=hours)


def sale_form(token, product, **changes):
    form = {
        "csrf_token": token,
        "name": "Lunch deals",
        "starts_at": local(soon(1)),
        "ends_at": local(soon(2)),
        "items-0-product_id": str(product.id),
        "items-0-sale_price": "6.50",
        "items-0-quantity": "4",
        "items-0-per_customer_limit": "2",
    }
    form.update(changes)
    return form


def item(n: int, product_id: str, price: str, quantity: str, limit: str) -> dict[str, str]:
    """The form fields of item row `n`, as typed."""
    return {
        f"items-{n}-product_id": product_id,
        f"items-{n}-sale_price": price,
        f"items-{n}-quantity": quantity,
        f"items-{n}-per_customer_limit": limit,
    }


def make_sale(session, products, *, start=HOUR, end=2 * HOUR, quantity=3, now=None, name="Deal"):
    now = now or utcnow()
    return create_sale(
        session,
        name=name,
        starts_at=now + start,
        ends_at=now + end,
        items=[SaleItemInput(p.id, 500, quantity, 2) for p in products],
        now=now,
    )


def count_sales(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(FlashSale)) or 0


def stock(session, product) -> int:
    session.expire_all()
    return session.scalar(select(Product.stock).where(Product.id == product.id)) or 0


def cell(html: str, item_id: int, col: str) -> str:
    row = re.search(rf'id="flash-item-{item_id}".*?</tr>', html, re.S)
    assert row, html[:500]
    value = re.search(rf'data-col="{col}">(\d+)', row.group(0))
    assert value
    return value.group(1)


# Access ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/admin/flash-sales", "/admin/flash-sales/new"])
def test_it_sends_anonymous_visitors_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?next={path}"


def test_it_forbids_customers_and_staff_every_page(client, session, customer):
    product = make_product(session)
    sale = make_sale(session, [product])
    token = sign_in(client, customer)
    for path in ("/admin/flash-sales", "/admin/flash-sales/new", f"/admin/flash-sales/{sale.id}"):
        assert client.get(path).status_code == 403
    response = client.post(f"/admin/flash-sales/{sale.id}/cancel", data={"csrf_token": token})
    assert response.status_code == 403
    assert client.post("/admin/flash-sales", data=sale_form(token, product)).status_code == 403
    session.refresh(sale)
    assert sale.state == "scheduled"
    assert count_sales(session) == 1


def test_it_refuses_a_post_without_the_csrf_token(client, session, token):
    product = make_product(session)
    form = sale_form(token, product)
    del form["csrf_token"]
    assert client.post("/admin/flash-sales", data=form).status_code == 400
    assert count_sales(session) == 0


# The list --------------------------------------------------------------------------------


def test_it_lists_sales_with_their_states_and_numbers(client, session, token):
    a, b, c = make_product(session), make_product(session), make_product(session)
    make_sale(session, [a], name="Upcoming Sale", quantity=4)
    make_sale(session, [b], name="Running Sale", start=-HOUR)
    make_sale(session, [c], name="Past Sale", now=utcnow() - 3 * HOUR)  # over by now
    html = text(client.get("/admin/flash-sales"))
    for name in ("Upcoming Sale", "Running Sale", "Past Sale"):
        assert name in html
    assert 'data-state="scheduled"' in html
    assert "Scheduled" in html
    assert 'data-state="active"' in html
    assert "Live now" in html
    assert 'data-state="ended"' in html
    assert "Ended" in html
    assert "0 / 4" in html
    assert 'href="/admin/flash-sales/new"' in html
    assert "UTC" in html


def test_it_filters_by_state_with_an_htmx_partial(client, session, token):
    a, b = make_product(session), make_product(session)
    make_sale(session, [a], name="Upcoming Sale")
    make_sale(session, [b], name="Running Sale", start=-HOUR)
    response = client.get("/admin/flash-sales?state=active", headers=HX)
    html = text(response)
    assert html.lstrip().startswith('<section id="flash-sales-table"')
    assert "Running Sale" in html
    assert "Upcoming Sale" not in html
    assert "HX-Request" in response.headers["Vary"]


def test_it_answers_an_unknown_state_filter_with_422(client, token):
    assert client.get("/admin/flash-sales?state=bogus").status_code == 422
    assert client.get("/admin/flash-sales?page=0").status_code == 422


def test_it_shows_an_empty_list(client, token):
    assert "No flash sales" in text(client.get("/admin/flash-sales"))


# Creating ---------------------------------------------------------------------------------


def test_it_shows_an_empty_form_with_a_product_search_and_a_time_zone(client, session, token):
    make_product(session, name="Teapot", price_cents=2500, stock=12)
    html = text(client.get("/admin/flash-sales/new"))
    assert 'name="items-0-product_id"' not in html  # no rows until a product is added
    assert "Teapot" not in html  # products are searched for, not listed
    assert '<label for="product-search">Find a product</label>' in html
    assert 'hx-get="/admin/flash-sales/products"' in html
    assert 'hx-target="#product-results"' in html
    assert '<tbody id="items-body">' in html
    assert 'type="datetime-local"' in html
    assert "Starts <span" in html
    assert "(UTC)" not in html
    # No remembered zone: empty, for the page to fill in the browser's.
    assert re.search(r'<input id="field-tz" name="tz" type="text" value=""', html)
    assert '<option value="America/New_York">' in html
    assert 'hx-get="/admin/flash-sales/utc"' in html


def test_it_creates_a_sale_and_sets_its_units_aside(client, session, token):
    product = make_product(session, price_cents=1000, stock=10)
    other = make_product(session, price_cents=3000, stock=5)
    form = sale_form(
        token,
        product,
        **item(2, str(other.id), "19", "5", "1"),
    )
    response = client.post("/admin/flash-sales", data=form)
    assert response.status_code == 302
    sale = session.scalars(select(FlashSale)).one()
    assert response.headers["Location"] == f"/admin/flash-sales/{sale.id}"
    assert sale.name == "Lunch deals"
    assert sale.starts_at == soon(1)
    items = {i.product_id: i for i in session.scalars(select(FlashSaleItem))}
    assert (items[product.id].sale_price_cents, items[product.id].quantity) == (650, 4)
    assert items[other.id].per_customer_limit == 1
    assert stock(session, product) == 6
    assert stock(session, other) == 0
    page = text(client.get(response.headers["Location"]))
    assert "Created Lunch deals" in page


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": ""}, "name", "Name is required"),
        ({"name": "x" * 201}, "name", "Name must be at most 200"),
        ({"starts_at": "tomorrow"}, "starts_at", "Starts must be a date and time"),
        ({"ends_at": ""}, "ends_at", "Ends is required"),
        ({"ends_at": local(soon(0.5))}, "ends_at", "Ends must be after the start"),
        (
            {"starts_at": local(soon(-3)), "ends_at": local(soon(-2))},
            "ends_at",
            "Ends must be in the future",
        ),
        ({"items-0-sale_price": "10.00"}, "items-0-sale_price", "regular price ($10.00)"),
        ({"items-0-sale_price": "6.505"}, "items-0-sale_price", "must be an amount like"),
        ({"items-0-sale_price": "0"}, "items-0-sale_price", "at least 1"),
        ({"items-0-quantity": "11"}, "items-0-quantity", "more than the 10 in stock"),
        ({"items-0-quantity": "0"}, "items-0-quantity", "must be from 1 to"),
        ({"items-0-quantity": "9" * 30}, "items-0-quantity", "must be from 1 to"),
        ({"items-0-per_customer_limit": ""}, "items-0-per_customer_limit", "is required"),
        ({"items-0-product_id": "999999"}, "items-0-product_id", "no such product"),
        ({"items-0-product_id": "abc"}, "items-0-product_id", "must be chosen: find it by name"),
        (
            {
                "items-0-product_id": "",
                "items-0-sale_price": "",
                "items-0-quantity": "",
                "items-0-per_customer_limit": "",
            },
            "items",
            "Items need at least one product: find one above",
        ),
    ],
)
def test_it_shows_each_error_next_to_its_field_and_saves_nothing(
    client, session, token, changes, field, message
):
    product = make_product(session, price_cents=1000, stock=10)
    response = client.post("/admin/flash-sales", data=sale_form(token, product, **changes))
    html = text(response)
    assert response.status_code == 422
    assert message in html
    # The sale's own inputs come from the field macro (`field-<name>`); item cells and the
    # items fieldset are named after the form field itself.
    error_id = f"field-{field}" if field in ("name", "starts_at", "ends_at") else field
    assert f'id="{error_id}-error"' in html
    assert html.count('class="field-error"') == 1  # only that field is marked
    assert "nothing was saved" in html
    assert count_sales(session) == 0
    assert stock(session, product) == 10


def test_it_maps_errors_to_the_row_they_came_from_past_blank_rows(client, session, token):
    product = make_product(session, price_cents=1000, stock=10)
    second = make_product(session, price_cents=1000, stock=2)
    form = sale_form(
        token,
        product,
        **item(3, str(second.id), "5", "3", "1"),
    )
    html = text(client.post("/admin/flash-sales", data=form))
    assert re.search(r'id="items-3-quantity-error">Quantity is more than the 2 in stock', html)
    assert 'id="items-0-quantity-error"' not in html
    assert 'name="items-3-quantity" type="text" value="3"' in html  # kept as typed
    assert count_sales(session) == 0


def test_it_refuses_an_overlapping_sale_of_the_same_product_with_409(client, session, token):
    product = make_product(session, stock=10)
    existing = make_sale(session, [product], quantity=2)
    form = sale_form(token, product, **{"items-0-quantity": "3"})
    response = client.post("/admin/flash-sales", data=form)
    html = text(response)
    assert response.status_code == 409
    assert f"Another scheduled or active sale (#{existing.id})" in html
    assert "is already in another sale at that time" in html
    assert count_sales(session) == 1
    assert stock(session, product) == 8


@pytest.mark.parametrize(
    "changes",
    [
        {"name": "bad\x00name"},
        {"starts_at": "2026-13-45T99:99"},
        {"starts_at": "\x00"},
        {"ends_at": "9" * 500},
        {"items-0-product_id": "1\x00"},
        {"items-0-product_id": "9" * 40},
        {"items-0-sale_price": "9" * 40},
        {"items-0-sale_price": "-5"},
        {"items-0-per_customer_limit": "1e9"},
        {"items-49-quantity": "1"},
    ],
)
def test_it_answers_malformed_input_with_422_never_500(client, session, token, changes):
    product = make_product(session, price_cents=1000, stock=10)
    response = client.post("/admin/flash-sales", data=sale_form(token, product, **changes))
    assert response.status_code == 422
    assert count_sales(session) == 0


def test_it_ignores_fields_of_rows_the_form_cannot_have(client, session, token):
    product = make_product(session, price_cents=1000, stock=10)
    form = sale_form(token, product, **{"items-99999-quantity": "1", "items-x-quantity": "1"})
    assert client.post("/admin/flash-sales", data=form).status_code == 302
    assert count_sales(session) == 1


def test_it_answers_bad_ids_with_404(client, token):
    assert client.get("/admin/flash-sales/999999").status_code == 404
    assert client.get(f"/admin/flash-sales/{2**40}").status_code == 404
    assert client.get("/admin/flash-sales/999999/edit").status_code == 404


# The live page ------------------------------------------------------------------------------


def test_it_shows_the_live_numbers_after_a_reserve(client, session, token):
    product = make_product(session, name="Kettle", price_cents=4000, stock=10)
    sale = make_sale(session, [product], start=-HOUR, quantity=5)
    buyer = make_user(session, "customer")
    reserve(session, sale_id=sale.id, product_id=product.id, customer_id=buyer.id,
            quantity=2, now=utcnow(), ttl_seconds=600)  # fmt: skip
    item = sale.items[0]
    html = text(client.get(f"/admin/flash-sales/{sale.id}"))
    assert "Kettle" in html
    assert (cell(html, item.id, "sold"), cell(html, item.id, "held")) == ("0", "2")
    assert cell(html, item.id, "available") == "3"
    assert "$5.00" in html
    assert "$40.00" in html
    assert 'data-state="active"' in html
    countdown = re.search(r'Ends in <span class="countdown" data-countdown="(\d+)">', html)
    assert countdown
    assert 7100 < int(countdown.group(1)) <= 7200
    assert "Orders in the last minute" in html
    assert "Holds expired" in html
    assert 'data-breaker="closed"' in html
    assert "Closed" in html
    assert 'hx-trigger="every 5s"' in html


def test_it_answers_the_poll_with_the_live_region_only(client, session, token):
    product = make_product(session)
    sale = make_sale(session, [product])
    response = client.get(f"/admin/flash-sales/{sale.id}", headers=HX)
    html = text(response)
    assert html.lstrip().startswith('<section id="flash-sale-live"')
    assert "<html" not in html
    assert f'hx-get="/admin/flash-sales/{sale.id}"' in html
    assert "data-pause-while-editing" in html
    countdown = re.search(r'Starts in <span class="countdown" data-countdown="(\d+)">', html)
    assert countdown
    assert 3500 < int(countdown.group(1)) <= 3600


def test_it_shows_the_open_payment_circuit_with_its_retry(client, app, session, token):
    product = make_product(session)
    sale = make_sale(session, [product])
    breaker = app.extensions["backroom.payments"].breaker

    def failing() -> None:
        raise GatewayFailure("gateway down")

    for _ in range(50):
        if breaker.status().state == "open":
            break
        with pytest.raises((GatewayFailure, BreakerOpen)):
            breaker.call(failing)
    html = text(client.get(f"/admin/flash-sales/{sale.id}", headers=HX))
    assert 'data-breaker="open"' in html
    assert re.search(r"retry in \d+ s", html)


# Editing ------------------------------------------------------------------------------------


def test_it_edits_a_scheduled_sale_from_the_prefilled_form(client, session, token):
    product = make_product(session, price_cents=1000, stock=20)
    sale = make_sale(session, [product], quantity=3)
    html = text(client.get(f"/admin/flash-sales/{sale.id}/edit"))
    assert 'name="name" type="text" value="Deal"' in html
    assert 'name="items-0-sale_price" type="text" value="5.00"' in html
    assert f'name="version" value="{sale.version}"' in html
    form = sale_form(token, product, version=str(sale.version), **{"items-0-quantity": "5"})
    response = client.post(f"/admin/flash-sales/{sale.id}/edit", data=form)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/admin/flash-sales/{sale.id}"
    session.expire_all()
    assert session.get(FlashSale, sale.id).name == "Lunch deals"
    assert stock(session, product) == 15
    assert "Saved Lunch deals." in text(client.get(f"/admin/flash-sales/{sale.id}"))


def test_it_refuses_a_stale_edit_with_409(client, session, token):
    product = make_product(session, price_cents=1000, stock=20)
    sale = make_sale(session, [product], quantity=3)
    form = sale_form(token, product, version=str(sale.version + 5))
    response = client.post(f"/admin/flash-sales/{sale.id}/edit", data=form)
    assert response.status_code == 409
    assert "Someone changed this sale meanwhile" in text(response)
    session.expire_all()
    assert session.get(FlashSale, sale.id).name == "Deal"
    assert stock(session, product) == 17


def test_it_refuses_to_edit_a_sale_once_it_has_started(client, session, token):
    product = make_product(session, price_cents=1000, stock=20)
    sale = make_sale(session, [product], start=-HOUR)
    response = client.get(f"/admin/flash-sales/{sale.id}/edit")
    assert response.status_code == 302
    assert "only a sale that has not started can be edited" in text(
        client.get(response.headers["Location"])
    )
    # Saving is refused before the fields are looked at: nothing to fix on a live sale.
    for changes in ({}, {"items-0-sale_price": ""}, {"ends_at": "2001-01-01T00:00"}):
        form = sale_form(token, product, version=str(sale.version)) | changes
        response = client.post(f"/admin/flash-sales/{sale.id}/edit", data=form)
        assert response.status_code == 302
        assert response.headers["Location"].endswith(f"/admin/flash-sales/{sale.id}")
        assert "only a sale that has not started can be edited" in text(
            client.get(response.headers["Location"])
        )
    session.expire_all()
    assert session.get(FlashSale, sale.id).name == "Deal"


def test_it_shows_edit_errors_with_422(client, session, token):
    product = make_product(session, price_cents=1000, stock=20)
    sale = make_sale(session, [product])
    form = sale_form(token, product, version="x", name="")
    response = client.post(f"/admin/flash-sales/{sale.id}/edit", data=form)
    assert response.status_code == 422
    assert "The form lost its version" in text(response)


# Cancelling ---------------------------------------------------------------------------------


def test_it_cancels_a_sale_after_a_confirmation(client, session, token):
    product = make_product(session, stock=10)
    sale = make_sale(session, [product], start=-HOUR, quantity=4)
    page = text(client.get(f"/admin/flash-sales/{sale.id}"))
    assert f'action="/admin/flash-sales/{sale.id}/cancel"' in page
    assert 'data-confirm="Cancel Deal?' in page
    response = client.post(f"/admin/flash-sales/{sale.id}/cancel", data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/admin/flash-sales/{sale.id}"
    session.expire_all()
    assert session.get(FlashSale, sale.id).state == "cancelled"
    assert stock(session, product) == 10
    html = text(client.get(f"/admin/flash-sales/{sale.id}"))
    assert "Cancelled Deal" in html
    assert "Cancel sale" not in html


@pytest.mark.parametrize(
    ("how", "stored"),
    [("cancelled", "cancelled"), ("ended", "ended"), ("ended_by_the_clock", "scheduled")],
)
def test_it_refuses_to_cancel_a_finished_sale_with_409(client, session, admin, token, how, stored):
    product = make_product(session, stock=10)
    if how == "cancelled":
        sale = make_sale(session, [product])
        cancel_sale(session, sale.id, actor=admin, now=utcnow())
    else:  # over by now; the scheduler has ended it, or not yet
        sale = make_sale(session, [product], now=utcnow() - 3 * HOUR)
        if how == "ended":
            end_due_sales(session, utcnow())
    response = client.post(f"/admin/flash-sales/{sale.id}/cancel", data={"csrf_token": token})
    assert response.status_code == 409
    assert "only a scheduled or active sale can be cancelled" in text(response)
    session.expire_all()
    assert session.get(FlashSale, sale.id).state == stored


def test_it_answers_a_cancel_of_an_unknown_sale_with_404(client, token):
    assert (
        client.post("/admin/flash-sales/424242/cancel", data={"csrf_token": token}).status_code
        == 404
    )


def test_it_keeps_a_quantity_above_the_stock_left_when_editing(client, session, token):
    product = make_product(session, price_cents=1000, stock=10)
    sale = make_sale(session, [product], quantity=8)  # stock left: 2
    form = sale_form(token, product, version=str(sale.version), **{"items-0-quantity": "8"})
    response = client.post(f"/admin/flash-sales/{sale.id}/edit", data=form)
    assert response.status_code == 302
    assert stock(session, product) == 2


# Finding products and adding rows (issue 14) -------------------------------------------------


def test_it_finds_active_products_by_name_or_sku_with_price_and_stock(client, session, token):
    make_product(session, name="Blue Teapot", sku="TEA-1", price_cents=2500, stock=12)
    make_product(session, name="Kettle", sku="KET-9", price_cents=4000, stock=3)
    hidden = make_product(session, name="Old Teapot", sku="TEA-OLD")
    update_product(session, hidden.id, ProductInput(active=False))
    html = text(client.get("/admin/flash-sales/products?q=teapot", headers=HX))
    assert "Blue Teapot" in html
    assert "TEA-1 · $25.00 · 12 in stock" in html
    assert "Old Teapot" not in html  # inactive products cannot be put on sale
    assert "Kettle" not in html
    assert 'hx-get="/admin/flash-sales/row?add=' in html
    assert 'Add<span class="sr-only"> Blue Teapot</span>' in html
    by_sku = text(client.get("/admin/flash-sales/products?q=ket-9", headers=HX))
    assert "Kettle" in by_sku
    assert "1 of 1 match for" in by_sku


def test_it_shows_at_most_ten_matches_and_says_how_many_there_are(client, session, token):
    for n in range(14):
        make_product(session, name=f"Mug {n:02d}")
    html = text(client.get("/admin/flash-sales/products?q=mug"))
    assert html.count("<li ") == 10
    assert "10 of 14 matches" in html
    assert "type more to narrow them" in html


def test_it_says_plainly_when_nothing_matches(client, session, token):
    make_product(session, name="Kettle")
    html = text(client.get("/admin/flash-sales/products?q=zebra"))
    assert "No active product matches “zebra”" in html
    assert "<li" not in html
    assert "Type part of a product" in text(client.get("/admin/flash-sales/products?q=+"))


def test_it_marks_products_already_in_the_form(client, session, token):
    product = make_product(session, name="Kettle")
    url = f"/admin/flash-sales/products?q=kettle&items-4-product_id={product.id}"
    html = text(client.get(url))
    assert "Already in this sale" in html
    assert f"row?add={product.id}" not in html


@pytest.mark.parametrize(
    "q", ["%", "_", "\\", "'; drop table products; --", "x" * 5000, "\x00", "a b c d e f g h i j"]
)
def test_it_answers_any_search_text_without_a_500(client, session, token, q):
    make_product(session, name="Kettle")
    response = client.get("/admin/flash-sales/products", query_string={"q": q})
    assert response.status_code == 200
    assert "Kettle" not in text(response)


def test_it_keeps_the_search_and_rows_from_customers(client, session, customer):
    product = make_product(session)
    sign_in(client, customer)
    for path in ("/products?q=a", f"/row?add={product.id}", "/utc?tz=UTC"):
        assert client.get("/admin/flash-sales" + path).status_code == 403


def test_it_adds_a_row_for_a_found_product_numbered_after_the_others(client, session, token):
    first = make_product(session, name="Kettle")
    teapot = make_product(session, name="Teapot", price_cents=2500, stock=12)
    url = f"/admin/flash-sales/row?add={teapot.id}&items-3-product_id={first.id}"
    response = client.get(url, headers=HX)
    html = text(response)
    assert response.status_code == 200
    assert html.lstrip().startswith('<tr id="item-row-4"')
    assert f'name="items-4-product_id" value="{teapot.id}"' in html
    assert "Teapot" in html
    assert "regular $25.00 · 12 in stock" in html
    assert re.search(r'name="items-4-sale_price"[^>]*autofocus', html)  # the cursor goes there
    assert '<label class="sr-only" for="items-4-quantity">Quantity for Teapot</label>' in html
    assert 'data-remove-row="item-row-4">Remove<span class="sr-only"> Teapot</span>' in html
    assert 'id="product-search-status" hx-swap-oob="innerHTML">Added Teapot as item 2' in html
    assert "<html" not in html


def test_it_numbers_the_first_row_zero_and_reuses_a_free_number_past_49(client, session, token):
    product = make_product(session)
    assert 'id="item-row-0"' in text(client.get(f"/admin/flash-sales/row?add={product.id}"))
    other = make_product(session)
    url = f"/admin/flash-sales/row?add={product.id}&items-49-product_id={other.id}"
    assert text(client.get(url)).lstrip().startswith('<tr id="item-row-0"')


def test_it_refuses_to_add_a_product_twice_and_says_so(client, session, token):
    product = make_product(session, name="Kettle")
    url = f"/admin/flash-sales/row?add={product.id}&items-2-product_id={product.id}"
    response = client.get(url, headers=HX)
    assert response.status_code == 409
    assert text(response) == "Kettle is already in this sale: one row per product."
    assert response.headers["HX-Retarget"] == "#product-search-status"
    assert response.headers["HX-Reswap"] == "innerHTML"


def test_it_refuses_a_fifty_first_row(client, session, token):
    product = make_product(session)
    rows = "&".join(f"items-{n}-product_id={n + 100000}" for n in range(50))
    response = client.get(f"/admin/flash-sales/row?add={product.id}&{rows}")
    assert response.status_code == 409
    assert "at most 50 items" in text(response)


@pytest.mark.parametrize("add", ["", "abc", "0", "²", "①", "999999", "9" * 40, "inactive"])
def test_it_refuses_to_add_a_product_not_for_sale(client, session, token, add):
    product = make_product(session)
    if add == "inactive":
        update_product(session, product.id, ProductInput(active=False))
        add = str(product.id)
    response = client.get("/admin/flash-sales/row", query_string={"add": add})
    assert response.status_code == 422
    assert text(response) == "That product is not for sale now; search again."


def test_it_saves_sparse_rows_and_ignores_blank_ones(client, session, token):
    a = make_product(session, price_cents=1000, stock=10)
    b = make_product(session, price_cents=2000, stock=10)
    form = sale_form(token, a)
    for key in [k for k in form if k.startswith("items-0-")]:
        form[key.replace("items-0-", "items-7-")] = form.pop(key)
    form |= {
        "items-31-product_id": str(b.id),
        "items-31-sale_price": "15",
        "items-31-quantity": "2",
        "items-31-per_customer_limit": "1",
        "items-12-sale_price": "",
        "items-12-quantity": "",
    }
    assert client.post("/admin/flash-sales", data=form).status_code == 302
    items = {i.product_id: i.quantity for i in session.scalars(select(FlashSaleItem))}
    assert items == {a.id: 4, b.id: 2}


def test_it_redisplays_every_row_with_its_product_after_an_error(client, session, token):
    kettle = make_product(session, name="Kettle", price_cents=4000, stock=10)
    teapot = make_product(session, name="Teapot", price_cents=2500, stock=3)
    form = sale_form(
        token,
        kettle,
        name="",
        tz="Asia/Kolkata",
        starts_at="2030-01-15T09:00",
        ends_at="2030-01-15T11:00",
        **item(5, str(teapot.id), "20", "9", "1"),
    )
    html = text(client.post("/admin/flash-sales", data=form))
    assert "Name is required" in html
    assert 'id="item-row-0"' in html
    assert 'id="item-row-5"' in html
    assert "Kettle" in html
    assert "Teapot" in html
    assert "regular $25.00 · 3 in stock" in html
    assert 'name="items-5-quantity" type="text" value="9"' in html
    assert 'name="tz" type="text" value="Asia/Kolkata"' in html
    assert 'value="2030-01-15T09:00"' in html
    assert "= 2030-01-15 03:30 UTC" in html
    assert count_sales(session) == 0


def test_it_names_an_unknown_or_inactive_product_in_its_row(client, session, token):
    product = make_product(session, name="Kettle", price_cents=1000, stock=10)
    update_product(session, product.id, ProductInput(active=False))
    form = sale_form(
        token,
        product,
        **item(1, "999999", "1", "1", "1"),
    )
    html = text(client.post("/admin/flash-sales", data=form))
    assert "Kettle" in html
    assert "not for sale now" in html
    assert "Product #999999" in html
    assert html.count("no such product for sale now (unknown or inactive): remove this row") == 2
    assert count_sales(session) == 0


# Time zones (issue 14) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "typed", "utc"),
    [
        ("America/New_York", "2030-01-15T09:00", datetime(2030, 1, 15, 14, 0)),  # EST
        ("America/New_York", "2030-07-15T09:00", datetime(2030, 7, 15, 13, 0)),  # EDT
        ("Asia/Kolkata", "2030-01-15T09:00", datetime(2030, 1, 15, 3, 30)),
        ("Europe/London", "2030-07-01T12:00:30", datetime(2030, 7, 1, 11, 0, 30)),
        ("  UTC ", "2030-01-15T09:00", datetime(2030, 1, 15, 9, 0)),
        ("", "2030-01-15T09:00", datetime(2030, 1, 15, 9, 0)),  # empty: UTC
    ],
)
def test_it_reads_the_times_in_the_chosen_zone(client, session, token, tz, typed, utc):
    product = make_product(session, price_cents=1000, stock=10)
    ends = (datetime.fromisoformat(typed) + 2 * HOUR).isoformat()
    form = sale_form(token, product, tz=tz, starts_at=typed, ends_at=ends)
    response = client.post("/admin/flash-sales", data=form)
    assert response.status_code == 302, text(response)[:2000]
    sale = session.scalars(select(FlashSale)).one()
    assert sale.starts_at.replace(tzinfo=None) == utc
    assert sale.ends_at.replace(tzinfo=None) == utc + 2 * HOUR


def test_it_refuses_a_time_the_clocks_skip(client, session, token):
    product = make_product(session, price_cents=1000, stock=10)
    form = sale_form(
        token, product, tz="Europe/London", starts_at="2030-03-31T01:30", ends_at="2030-03-31T05:00"
    )
    response = client.post("/admin/flash-sales", data=form)
    html = text(response)
    assert response.status_code == 422
    assert "Starts does not exist in Europe/London: the clocks go forward" in html
    assert "01:30 is skipped" in html
    assert 'value="2030-03-31T01:30"' in html  # kept as typed
    assert "= 2030-03-31 04:00 UTC" in html  # the end is fine and shown
    assert count_sales(session) == 0


def test_it_reads_a_time_the_clocks_show_twice_as_the_first(client, session, token):
    product = make_product(session, price_cents=1000, stock=10)
    form = sale_form(
        token, product, tz="Europe/London", starts_at="2030-10-27T01:30", ends_at="2030-10-27T03:00"
    )
    assert client.post("/admin/flash-sales", data=form).status_code == 302
    sale = session.scalars(select(FlashSale)).one()
    assert sale.starts_at.replace(tzinfo=None) == datetime(2030, 10, 27, 0, 30)  # 01:30 BST
    preview = text(
        client.get(
            "/admin/flash-sales/utc",
            query_string={"tz": "Europe/London", "starts_at": "2030-10-27T01:30", "ends_at": ""},
        )
    )
    assert "01:30 happens twice that night in Europe/London" in preview
    assert "the first (BST, UTC+01:00) is used, not 2030-10-27 01:30 UTC: 2030-10-27 00:30 UTC" in (
        preview
    )


@pytest.mark.parametrize(
    "tz",
    [
        "Mars/Olympus",
        "../../etc/passwd",
        "/usr/share/zoneinfo/UTC",
        "\x00x",
        "x" * 5000,
        "utc",
        "Europe",
        "Factory",
        "posixrules",
        "localtime",
    ],
)
def test_it_refuses_an_unknown_zone_and_keeps_what_was_typed(client, session, token, tz):
    product = make_product(session, price_cents=1000, stock=10)
    form = sale_form(token, product, tz=tz, starts_at="2030-01-15T09:00", name="Kept")
    response = client.post("/admin/flash-sales", data=form)
    html = text(response)
    assert response.status_code == 422
    assert 'id="field-tz-error">Time zone is not a time zone we know' in html
    assert 'value="2030-01-15T09:00"' in html
    assert 'value="Kept"' in html
    assert 'name="items-0-sale_price" type="text" value="6.50"' in html
    assert count_sales(session) == 0
    assert "admin_tz" not in response.headers.get("Set-Cookie", "")


def test_it_remembers_the_zone_of_the_last_save(client, session, token, admin):
    product = make_product(session, price_cents=1000, stock=20)
    form = sale_form(
        token,
        product,
        tz="America/New_York",
        starts_at="2030-01-15T09:00",
        ends_at="2030-01-15T11:00",
    )
    response = client.post("/admin/flash-sales", data=form)
    assert f"admin_tz={admin.id}:America/New_York" in response.headers["Set-Cookie"]
    sale_id = session.scalars(select(FlashSale.id)).one()
    new = text(client.get("/admin/flash-sales/new"))
    assert 'name="tz" type="text" value="America/New_York"' in new
    assert "America/New_York is UTC-05:00 now" in new or "America/New_York is UTC-04:00" in new
    edit = text(client.get(f"/admin/flash-sales/{sale_id}/edit"))
    assert 'name="starts_at" type="datetime-local" step="1" value="2030-01-15T09:00"' in edit
    assert "= 2030-01-15 14:00 UTC" in edit
    assert 'name="tz" type="text" value="America/New_York"' in edit
    page = text(client.get(f"/admin/flash-sales/{sale_id}"))
    assert "15 Jan 2030, 09:00 EST → 11:00 EST" in page
    assert "(America/New_York)" in page
    assert "15 Jan 2030, 14:00</time> → <time" in page
    listed = text(client.get("/admin/flash-sales"))
    assert "15 Jan 2030, 09:00 EST → 11:00 EST" in listed
    assert "Tuesday 15 January 2030" in listed
    assert "Every sale by its start time (America/New_York)" in listed


def test_it_prefills_an_edit_in_utc_without_a_remembered_zone(client, session, token):
    product = make_product(session, price_cents=1000, stock=20)
    sale = make_sale(session, [product])
    html = text(client.get(f"/admin/flash-sales/{sale.id}/edit"))
    # Set, so the page never swaps in the browser's zone under times written in UTC.
    assert 'name="tz" type="text" value="UTC"' in html
    assert f'value="{sale.starts_at.strftime("%Y-%m-%dT%H:%M")}' in html
    assert f'id="item-row-0" class="flash-admin-item" data-product-name="{product.name}"' in html


def test_it_ignores_a_zone_remembered_for_another_admin(client, session, token, admin):
    other = make_user(session, "admin", username="other-admin")
    client.set_cookie("admin_tz", f"{other.id}:Asia/Kolkata", path="/admin/flash-sales")
    assert 'name="tz" type="text" value=""' in text(client.get("/admin/flash-sales/new"))
    client.set_cookie("admin_tz", f"{admin.id}:Nowhere/Land", path="/admin/flash-sales")
    assert 'name="tz" type="text" value=""' in text(client.get("/admin/flash-sales/new"))
    client.set_cookie("admin_tz", f"{admin.id}:Asia/Kolkata", path="/admin/flash-sales")
    assert 'name="tz" type="text" value="Asia/Kolkata"' in text(
        client.get("/admin/flash-sales/new")
    )


def test_it_previews_the_utc_of_both_times_out_of_band(client, token):
    response = client.get(
        "/admin/flash-sales/utc",
        query_string={
            "tz": "Asia/Kolkata",
            "starts_at": "2030-01-15T09:00",
            "ends_at": "2030-01-15T10:15:30",
        },
        headers=HX,
    )
    html = text(response)
    assert response.status_code == 200
    assert '<p id="field-starts_at-utc" hx-swap-oob="innerHTML">' in html
    assert "= 2030-01-15 03:30 UTC" in html
    assert "= 2030-01-15 04:45:30 UTC" in html
    assert "Asia/Kolkata is UTC+05:30 now" in html


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ({"tz": "Europe/London", "starts_at": "2030-03-31T01:30"}, "That time does not exist"),
        ({"tz": "Nowhere", "starts_at": "2030-01-15T09:00"}, "“Nowhere” is not a time zone"),
        ({"tz": "UTC", "starts_at": "soon"}, "That time must be a date and time"),
        ({"tz": "UTC", "starts_at": "0001-01-01T00:00"}, "That time must be a date and time"),
        ({"tz": "UTC", "starts_at": "2030-02-30T09:00"}, "That time must be a date and time"),
        ({"tz": "\x00x" * 500, "starts_at": "9" * 9000}, "is not a time zone"),
        ({}, "UTC is UTC+00:00 now"),
    ],
)
def test_it_previews_bad_times_and_zones_as_words_not_500(client, token, args, says):
    response = client.get("/admin/flash-sales/utc", query_string=args)
    assert response.status_code == 200
    assert says in text(response)


def test_it_refuses_a_product_id_int_cannot_read_with_the_form_kept(client, session, token):
    product = make_product(session, price_cents=1000, stock=10)
    form = sale_form(token, product) | {"items-0-product_id": "²"}
    response = client.post("/admin/flash-sales", data=form)
    assert response.status_code == 422
    assert "must be chosen: find it by name or sku above" in text(response)
    assert count_sales(session) == 0


def test_it_refuses_two_rows_sent_under_one_number(client, session, token):
    """Two adds answered at once once numbered both rows 0: saving kept only the first."""
    a = make_product(session, price_cents=1000, stock=10)
    b = make_product(session, price_cents=1000, stock=10)
    form = MultiDict(sale_form(token, a))
    for key, value in (("product_id", str(b.id)), ("sale_price", "5.00"), ("quantity", "1"),
                       ("per_customer_limit", "1")):  # fmt: skip
        form.add(f"items-0-{key}", value)
    response = client.post("/admin/flash-sales", data=form)
    assert response.status_code == 422
    assert "came twice under one row number" in text(response)
    assert count_sales(session) == 0


def test_an_edited_sale_at_the_second_of_a_doubled_hour_keeps_its_time(
    client, session, token, admin
):
    """01:30 on 3 Nov 2030 happens twice in New York; a sale at the second (06:30 UTC) is
    saved unchanged at 06:30 UTC, not moved an hour earlier."""
    product = make_product(session, price_cents=1000, stock=10)
    now = utcnow()
    starts = datetime(2030, 11, 3, 6, 30, tzinfo=UTC)
    sale = create_sale(session, name="Fall back", starts_at=starts, ends_at=starts + 2 * HOUR,
                       items=[SaleItemInput(product.id, 500, 2, 1)], now=now)  # fmt: skip
    client.set_cookie("admin_tz", f"{admin.id}:America/New_York", path="/admin/flash-sales")
    html = text(client.get(f"/admin/flash-sales/{sale.id}/edit"))
    assert 'name="starts_at" type="datetime-local" step="1" value="2030-11-03T01:30"' in html
    mark = "2030-11-03T01:30@America/New_York"
    assert f'<input type="hidden" name="starts_at_fold" value="{mark}">' in html
    assert "the second (EST, UTC-05:00) is used, not 2030-11-03 05:30 UTC" in html
    form = {
        "csrf_token": token, "name": "Fall back", "tz": "America/New_York",
        "starts_at": "2030-11-03T01:30", "starts_at_fold": mark,
        "ends_at": "2030-11-03T03:30", "ends_at_fold": "", "version": str(sale.version),
        "items-0-product_id": str(product.id), "items-0-sale_price": "5.00",
        "items-0-quantity": "2", "items-0-per_customer_limit": "1",
    }  # fmt: skip
    assert client.post(f"/admin/flash-sales/{sale.id}/edit", data=form).status_code == 302
    session.expire_all()
    saved = session.get(FlashSale, sale.id)
    assert saved.starts_at.replace(tzinfo=None) == datetime(2030, 11, 3, 6, 30)
    asked = {"tz": "America/New_York", "starts_at": "2030-11-03T01:30", "starts_at_fold": mark}
    preview = text(client.get("/admin/flash-sales/utc", query_string=asked))
    assert "2030-11-03 06:30 UTC" in preview
    # The mark holds for that time in that zone only: another doubled hour, or the same
    # wall-clock time in another zone, is read as the first, as on a new sale.
    form |= {"starts_at": "2031-11-02T01:30", "ends_at": "2031-11-02T03:30",
             "version": str(saved.version)}  # fmt: skip
    assert client.post(f"/admin/flash-sales/{sale.id}/edit", data=form).status_code == 302
    session.expire_all()
    moved = session.get(FlashSale, sale.id)
    assert moved.starts_at.replace(tzinfo=None) == datetime(2031, 11, 2, 5, 30)  # the first
    asked |= {"tz": "America/Chicago"}
    preview = text(client.get("/admin/flash-sales/utc", query_string=asked))
    assert "the first (CDT, UTC-05:00) is used" in preview


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/Berlin", "Pacific/Kiritimati"])
def test_times_at_the_ends_of_the_calendar_show_without_a_500(client, session, token, admin, zone):
    """The API takes a start in year 1 (in the past: the sale starts at once) and an end in
    9999; no zone may carry them past what a date holds."""
    product = make_product(session, price_cents=1000, stock=10)
    now = utcnow()
    sale = create_sale(session, name="Forever", starts_at=datetime(1, 1, 1, tzinfo=UTC),
                       ends_at=datetime(9999, 12, 31, 23, tzinfo=UTC),
                       items=[SaleItemInput(product.id, 500, 2, 1)], now=now)  # fmt: skip
    client.set_cookie("admin_tz", f"{admin.id}:{zone}", path="/admin/flash-sales")
    for path in ("/admin/flash-sales", f"/admin/flash-sales/{sale.id}"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "9999" in text(response)


def test_a_browsers_older_name_for_a_zone_is_taken(client, session, token):
    """Chromium reports India as Asia/Calcutta; the zone data may only have the new name."""
    product = make_product(session, price_cents=1000, stock=10)
    form = sale_form(token, product, tz="Asia/Calcutta", starts_at="2030-01-15T09:00",
                     ends_at="2030-01-15T10:00")  # fmt: skip
    assert client.post("/admin/flash-sales", data=form).status_code == 302
    sale = session.scalars(select(FlashSale)).one()
    assert sale.starts_at.replace(tzinfo=None) == datetime(2030, 1, 15, 3, 30)


def test_without_javascript_find_add_and_remove_rework_the_form(client, session, token):
    """The form's own buttons post it: it comes back with what was typed, nothing saved."""
    kettle = make_product(session, name="Kettle", price_cents=3000, stock=9)
    mug = make_product(session, name="Mug", price_cents=900, stock=9)
    typed = sale_form(token, kettle, name="Typed", tz="Asia/Kolkata")
    found = text(client.post("/admin/flash-sales", data=typed | {"q": "mug", "find": "1"}))
    assert f'<button type="submit" name="add" value="{mug.id}"' in found
    assert 'name="q" type="search" value="mug"' in found
    assert 'value="Typed"' in found
    assert 'value="Asia/Kolkata"' in found
    added = client.post("/admin/flash-sales", data=typed | {"q": "mug", "add": str(mug.id)})
    html = text(added)
    assert added.status_code == 200
    assert "Added Mug as item 2: type its sale price, quantity and limit." in html
    assert f'name="items-1-product_id" value="{mug.id}"' in html
    assert re.search(r'id="items-1-sale_price"[^>]*autofocus', html)  # the cursor goes there
    assert not re.search(r'id="items-0-sale_price"[^>]*autofocus', html)
    assert "Already in this sale" in html  # the matches say so now
    again = client.post("/admin/flash-sales", data=typed | {"add": str(kettle.id)})
    assert again.status_code == 409
    assert "Kettle is already in this sale: one row per product." in text(again)
    removed = text(client.post("/admin/flash-sales", data=typed | {"remove": "0"}))
    assert "Removed Kettle from the sale." in removed
    assert 'name="items-0-product_id"' not in removed
    assert 'value="Typed"' in removed
    unknown = client.post("/admin/flash-sales", data=typed | {"remove": "7"})
    assert f'name="items-0-product_id" value="{kettle.id}"' in text(unknown)  # nothing gone
    assert count_sales(session) == 0


def test_enter_without_javascript_finds_and_never_saves_by_surprise(client, session, token):
    """Implicit submission uses the form's first submit button: it is a hidden Find, so Enter
    in the search box searches and Enter elsewhere brings the form back unsaved; with
    JavaScript, app.js makes Enter save with the button marked data-save."""
    kettle = make_product(session, name="Kettle", price_cents=3000, stock=9)
    html = text(client.get("/admin/flash-sales/new"))
    form = html[html.rindex("<form", 0, html.index("flash-admin-form")) :]
    buttons = re.findall(r"<button[^>]*>", form)
    first = next(b for b in buttons if 'type="submit"' in b)
    assert 'name="find"' in first
    assert 'aria-hidden="true"' in first
    assert 'tabindex="-1"' in first
    assert "data-enter-saves" in form[: form.index(">")]
    assert sum("data-save" in b for b in buttons) == 1
    entered = client.post("/admin/flash-sales", data=sale_form(token, kettle) | {"find": "1"})
    assert entered.status_code == 200
    assert "Type part of a product" in text(entered)  # an empty search: the hint
    assert count_sales(session) == 0
