"""The flash-sale API of CONTRACT §3.5: sales, reservations, checkout, release, the limit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.db import utcnow
from app.payments.gateway import CARD_APPROVED
from tests.api.helpers import CARD_DECLINED, assert_error, stock_of
from tests.builders import make_product, make_user
from tests.conftest import bearer

SALES = "/api/v1/flash-sales"


@pytest.fixture
def flash_app(make_app):
    return make_app(flash_rate_limit="1000 per minute")


@pytest.fixture
def api(flash_app):
    return flash_app.test_client()


@pytest.fixture
def admin_auth(api, admin):
    return bearer(api, admin)


@pytest.fixture
def buyer(session):
    return make_user(session, "customer", username="buyer")


@pytest.fixture
def buyer_auth(api, buyer):
    return bearer(api, buyer)


@pytest.fixture
def product(session):
    return make_product(session, stock=50, price_cents=2000)


def iso(delta_seconds: float) -> str:
    return (utcnow() + timedelta(seconds=delta_seconds)).isoformat()


def sale_body(product, *, start=-1, end=3600, price=1500, quantity=10, limit=2, **extra):
    body = {
        "name": "Midnight madness",
        "starts_at": iso(start),
        "ends_at": iso(end),
        "items": [
            {
                "product_id": product.id,
                "sale_price_cents": price,
                "quantity": quantity,
                "per_customer_limit": limit,
            }
        ],
    }
    body.update(extra)
    return body


def open_sale(api, admin_auth, product, **kwargs):
    response = api.post(SALES, json=sale_body(product, **kwargs), headers=admin_auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def reserve(api, auth, sale, product, quantity=1):
    return api.post(
        f"{SALES}/{sale['id']}/reservations",
        json={"product_id": product.id, "quantity": quantity},
        headers=auth,
    )


def test_an_admin_creates_a_sale_that_sets_its_units_aside(api, admin_auth, session, product):
    sale = open_sale(api, admin_auth, product, start=60)
    assert set(sale) >= {"id", "name", "state", "starts_at", "ends_at", "items"}
    assert sale["state"] == "scheduled"
    [item] = sale["items"]
    assert item == item | {
        "product_id": product.id,
        "sale_price_cents": 1500,
        "regular_price_cents": 2000,
        "quantity": 10,
        "sold": 0,
        "reserved": 0,
        "available": 10,
        "per_customer_limit": 2,
    }
    assert stock_of(session, product.id) == 40
    assert api.get(f"{SALES}/{sale['id']}").get_json() == sale
    listed = api.get(f"{SALES}?state=scheduled").get_json()
    assert [s["id"] for s in listed["items"]] == [sale["id"]]
    assert api.get(f"{SALES}?state=active").get_json()["total"] == 0


def test_a_sale_whose_start_has_passed_is_active_at_once(api, admin_auth, product):
    assert open_sale(api, admin_auth, product, start=-5)["state"] == "active"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price": 2000}, "items[0].sale_price_cents"),
        ({"quantity": 51}, "items[0].quantity"),
        ({"start": 100, "end": 50}, "ends_at"),
        ({"start": -100, "end": -50}, "ends_at"),
        ({"limit": 0}, "items[0].per_customer_limit"),
    ],
)
def test_it_refuses_a_bad_sale_and_writes_nothing(api, admin_auth, session, product, change, field):
    response = api.post(SALES, json=sale_body(product, **change), headers=admin_auth)
    error = assert_error(response, 422, "validation_error")
    assert set(error["details"]["fields"]) == {field}, error
    assert stock_of(session, product.id) == 50
    assert api.get(SALES).get_json()["total"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": "x", "starts_at": "tomorrow", "ends_at": "2026-13-01T00:00:00Z", "items": []},
        {"name": 5, "starts_at": 1, "ends_at": None, "items": "all"},
        {"name": "x", "starts_at": "2030-01-01", "ends_at": "2030-01-02", "items": [1, {}]},
        {
            "name": "x",
            "starts_at": "2030-01-01T00:00:00+14:00",
            "ends_at": "9999-12-31T23:59:59-14:00",
            "items": [{"product_id": "1", "sale_price_cents": 1.5, "quantity": -1}],
        },
    ],
)
def test_malformed_sales_are_a_422_never_a_500(api, admin_auth, body):
    assert_error(api.post(SALES, json=body, headers=admin_auth), 422, "validation_error")


def test_overlapping_sales_of_one_product_conflict(api, admin_auth, product):
    open_sale(api, admin_auth, product, start=60, end=3600)
    response = api.post(SALES, json=sale_body(product, start=1800, end=7200), headers=admin_auth)
    assert_error(response, 409, "sale_overlap")


def test_only_admins_create_or_cancel(api, buyer_auth, admin_auth, product):
    assert_error(api.post(SALES, json=sale_body(product), headers=buyer_auth), 403, "forbidden")
    assert_error(api.post(SALES, json=sale_body(product)), 401, "unauthorized")
    sale = open_sale(api, admin_auth, product)
    assert_error(api.post(f"{SALES}/{sale['id']}/cancel", headers=buyer_auth), 403, "forbidden")


def test_cancelling_releases_holds_and_gives_the_units_back(
    api, admin_auth, buyer_auth, session, product
):
    sale = open_sale(api, admin_auth, product)
    assert reserve(api, buyer_auth, sale, product).status_code == 201
    response = api.post(f"{SALES}/{sale['id']}/cancel", headers=admin_auth)
    assert response.status_code == 200
    assert response.get_json()["state"] == "cancelled"
    assert response.get_json()["items"][0]["reserved"] == 0
    session.expire_all()
    assert stock_of(session, product.id) == 50
    assert_error(reserve(api, buyer_auth, sale, product), 409, "sale_not_active")
    again = api.post(f"{SALES}/{sale['id']}/cancel", headers=admin_auth)
    assert again.status_code == 409


def test_a_customer_reserves_and_pays_at_the_sale_price(api, admin_auth, buyer_auth, product):
    sale = open_sale(api, admin_auth, product)
    response = reserve(api, buyer_auth, sale, product, quantity=2)
    assert response.status_code == 201
    hold = response.get_json()
    assert set(hold) >= {"id", "product_id", "quantity", "unit_price_cents", "expires_at"}
    assert (hold["product_id"], hold["quantity"], hold["unit_price_cents"]) == (product.id, 2, 1500)
    shown = api.get(f"{SALES}/{sale['id']}").get_json()["items"][0]
    assert (shown["reserved"], shown["available"]) == (2, 8)
    paid = api.post(
        f"/api/v1/reservations/{hold['id']}/checkout",
        json={"payment": {"card_number": CARD_APPROVED}},
        headers=buyer_auth,
    )
    assert paid.status_code == 201, paid.get_json()
    order = paid.get_json()
    assert (order["status"], order["total_cents"]) == ("paid", 3000)
    shown = api.get(f"{SALES}/{sale['id']}").get_json()["items"][0]
    assert (shown["sold"], shown["reserved"], shown["available"]) == (2, 0, 8)
    again = api.post(
        f"/api/v1/reservations/{hold['id']}/checkout",
        json={"payment": {"card_number": CARD_APPROVED}},
        headers=buyer_auth,
    )
    assert_error(again, 410, "reservation_expired")


def test_a_declined_card_keeps_the_hold(api, admin_auth, buyer_auth, product):
    sale = open_sale(api, admin_auth, product)
    hold = reserve(api, buyer_auth, sale, product).get_json()
    path = f"/api/v1/reservations/{hold['id']}/checkout"
    declined = api.post(path, json={"payment": {"card_number": CARD_DECLINED}}, headers=buyer_auth)
    assert_error(declined, 402, "payment_declined")
    assert api.get(f"{SALES}/{sale['id']}").get_json()["items"][0]["reserved"] == 1
    paid = api.post(path, json={"payment": {"card_number": CARD_APPROVED}}, headers=buyer_auth)
    assert paid.status_code == 201


def test_checkout_with_one_idempotency_key_buys_once(api, admin_auth, buyer_auth, product):
    sale = open_sale(api, admin_auth, product)
    hold = reserve(api, buyer_auth, sale, product).get_json()
    path = f"/api/v1/reservations/{hold['id']}/checkout"
    headers = {**buyer_auth, "Idempotency-Key": "pay-once"}
    body = {"payment": {"card_number": CARD_APPROVED}}
    first, second = (api.post(path, json=body, headers=headers) for _ in range(2))
    assert first.status_code == second.status_code == 201
    assert first.get_json() == second.get_json()


def test_sold_out_limit_and_not_started_are_told_apart(
    api, admin_auth, buyer_auth, session, product
):
    later = make_product(session, stock=5, price_cents=900)
    sale = open_sale(api, admin_auth, product, quantity=3, limit=2)
    assert_error(reserve(api, buyer_auth, sale, product, quantity=3), 422, "limit_exceeded")
    assert reserve(api, buyer_auth, sale, product, quantity=2).status_code == 201
    assert_error(reserve(api, buyer_auth, sale, product), 422, "limit_exceeded")
    other = bearer(api, make_user(session, "customer", username="other"))
    assert reserve(api, other, sale, product).status_code == 201
    assert_error(reserve(api, other, sale, product), 409, "sold_out")
    upcoming = open_sale(api, admin_auth, later, start=600, price=500, quantity=5)
    assert_error(reserve(api, buyer_auth, upcoming, later), 409, "sale_not_active")
    missing = api.post(
        f"{SALES}/{sale['id']}/reservations",
        json={"product_id": later.id, "quantity": 1},
        headers=buyer_auth,
    )
    assert_error(missing, 404, "not_found")
    for bad, fields in (
        ({"product_id": product.id, "quantity": 0}, {"quantity"}),
        ({"quantity": 10**12}, {"product_id", "quantity"}),
        ({}, {"product_id", "quantity"}),
    ):
        response = api.post(f"{SALES}/{sale['id']}/reservations", json=bad, headers=buyer_auth)
        assert set(assert_error(response, 422, "validation_error")["details"]["fields"]) == fields
    not_an_object = api.post(f"{SALES}/{sale['id']}/reservations", json=[], headers=buyer_auth)
    assert_error(not_an_object, 400, "bad_request")


def test_releasing_gives_units_back_and_is_the_owners_alone(
    api, admin_auth, buyer_auth, session, product
):
    sale = open_sale(api, admin_auth, product)
    hold = reserve(api, buyer_auth, sale, product).get_json()
    other = bearer(api, make_user(session, "customer", username="other"))
    path = f"/api/v1/reservations/{hold['id']}"
    assert_error(api.delete(path, headers=other), 404, "not_found")
    assert_error(api.post(f"{path}/checkout", json={"payment": {"card_number": CARD_APPROVED}},
                          headers=other), 404, "not_found")  # fmt: skip
    assert api.delete(path, headers=buyer_auth).status_code == 204
    assert api.get(f"{SALES}/{sale['id']}").get_json()["items"][0]["available"] == 10


def test_reserving_and_paying_share_one_budget_per_customer(make_app, session, admin, product):
    app = make_app(flash_rate_limit="3 per minute")
    api = app.test_client()
    admin_auth, buyer_auth = bearer(api, admin), bearer(api, make_user(session, "customer"))
    sale = open_sale(api, admin_auth, product)
    hold = reserve(api, buyer_auth, sale, product).get_json()
    assert_error(reserve(api, buyer_auth, sale, product, quantity=5), 422, "limit_exceeded")
    checkout = api.post(
        f"/api/v1/reservations/{hold['id']}/checkout",
        json={"payment": {"card_number": CARD_APPROVED}},
        headers=buyer_auth,
    )
    assert checkout.status_code == 201
    limited = reserve(api, buyer_auth, sale, product)
    assert_error(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) > 0
    other = bearer(api, make_user(session, "customer", username="other"))
    assert reserve(api, other, sale, product).status_code == 201  # a budget per customer
