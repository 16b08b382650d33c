"""Numbers typed with digits `int` cannot read ("²", "①", which `str.isdigit` accepts) are
bad input like any other: a 422 or the field's own error, never a 500 (issue 14 review)."""

from __future__ import annotations

import pytest

from tests.builders import make_partner, make_product, make_user
from tests.conftest import bearer, csrf_token, sign_in
from tests.views.conftest import text
from tests.views.returns_helpers import HX, paid_order
from views.parsing import whole_number

ODD = ["²", "①", "٣", "1²"]


@pytest.mark.parametrize("typed", ODD)
def test_whole_number_reads_only_ascii_digits(typed):
    assert whole_number(typed) is None
    assert whole_number("0042") == 42
    assert whole_number("12345678901") is None  # more digits than asked for
    assert whole_number("") is None


@pytest.mark.parametrize("typed", ODD)
@pytest.mark.parametrize(
    "path",
    ["/orders?customer={}", "/returns?customer={}", "/staff/queues/support?age={}"],
)
def test_staff_filters_refuse_odd_digits(client, session, path, typed):
    sign_in(client, make_user(session, "support"))
    response = client.get(path.format(typed))
    assert response.status_code == 422
    assert "must be" in text(response)


@pytest.mark.parametrize("typed", ODD)
def test_the_api_refuses_odd_digits(client, session, admin, typed):
    support = bearer(client, make_user(session, "support"))
    queue = client.get(f"/api/v1/queues/support?older_than_hours={typed}", headers=support)
    assert queue.status_code == 422
    assert queue.get_json()["error"]["details"]["fields"]["older_than_hours"]
    feeds = client.get(f"/api/v1/feeds?partner_id={typed}", headers=bearer(client, admin))
    assert feeds.status_code == 422
    assert "partner_id" in feeds.get_json()["error"]["details"]["fields"]


@pytest.mark.parametrize("typed", ODD)
def test_admin_pages_refuse_odd_digits(client, session, admin, typed):
    partner, _ = make_partner(session, admin)
    sign_in(client, admin)
    assert client.get(f"/admin/partners/{partner.id}?page={typed}").status_code == 422
    token = csrf_token(client)
    form = {"csrf_token": token, "sku": "ODD-1", "name": "Odd", "price": typed, "stock": "1"}
    response = client.post("/admin/products", data=form)
    assert response.status_code == 422
    assert "must be an amount like 12.99" in text(response)
    # Pages that only preselect something from `?from=` fall back to their default.
    assert client.get(f"/admin/workflows/rma/migrate?from={typed}").status_code == 200
    assert client.get(f"/admin/workflows/rma/drafts/new?from={typed}").status_code == 200


@pytest.mark.parametrize("typed", ODD)
def test_the_return_form_says_the_quantity_is_not_a_number(app, client, session, customer, typed):
    order = paid_order(app, session, customer, quantity=2)
    sign_in(client, customer)
    line = f"qty-{order.lines[0].id}"
    check = client.get(f"/orders/{order.id}/returns/new", query_string={line: typed}, headers=HX)
    assert check.status_code == 200
    assert "Quantity must be a whole number." in text(check)


def test_a_product_price_of_plain_digits_still_saves(client, session, admin):
    make_product(session)  # a catalog that is not empty
    sign_in(client, admin)
    form = {"csrf_token": csrf_token(client), "sku": "PLAIN-1", "name": "Plain", "price": "12.5"}
    response = client.post("/admin/products", data=form | {"stock": "3"})
    assert response.status_code == 302
