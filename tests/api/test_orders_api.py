"""POST/GET /api/v1/orders: placing, stock, visibility (CONTRACT §3.3)."""

from __future__ import annotations

from sqlalchemy import select

from app.models.orders import Order, OrderLine
from app.models.payments import Payment
from app.services.credit import credit_balance, grant_credit
from app.services.orders import LineRequest, place_order
from tests.api.helpers import CARD_DECLINED, assert_error, order_body, order_count, stock_of
from tests.builders import make_product, make_user
from tests.conftest import bearer

ORDERS = "/api/v1/orders"


def payments_of(app):
    return app.extensions["backroom.payments"]


def test_it_places_a_paid_order_in_the_contract_shape(client, session, customer, customer_headers):
    product = make_product(session, stock=3, price_cents=1500)
    response = client.post(ORDERS, json=order_body((product.id, 2)), headers=customer_headers)
    assert response.status_code == 201
    body = response.get_json()
    assert {
        "id",
        "number",
        "status",
        "total_cents",
        "store_credit_cents",
        "lines",
        "payment",
    } <= set(body)
    assert (body["status"], body["total_cents"], body["store_credit_cents"]) == ("paid", 3000, 0)
    assert body["number"].startswith("BR-")
    [line] = body["lines"]
    assert {"id", "product_id", "quantity", "unit_price_cents"} <= set(line)
    assert (line["product_id"], line["quantity"], line["unit_price_cents"]) == (product.id, 2, 1500)
    assert set(body["payment"]) >= {"status", "reference", "amount_cents"}
    assert body["payment"]["status"] == "succeeded"
    assert body["payment"]["amount_cents"] == 3000
    assert body["payment"]["reference"].startswith("ch_")
    assert stock_of(session, product.id) == 1
    order = session.get(Order, body["id"])
    assert order is not None
    assert (order.customer_id, order.status) == (customer.id, "paid")


def test_it_places_a_multi_line_order(client, session, customer_headers):
    mug = make_product(session, stock=5, price_cents=1000)
    pot = make_product(session, stock=2, price_cents=2500)
    response = client.post(
        ORDERS, json=order_body((pot.id, 2), (mug.id, 3)), headers=customer_headers
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["total_cents"] == 3 * 1000 + 2 * 2500
    assert sorted((x["product_id"], x["quantity"]) for x in body["lines"]) == sorted(
        [(mug.id, 3), (pot.id, 2)]
    )
    assert (stock_of(session, mug.id), stock_of(session, pot.id)) == (2, 0)
    rows = session.scalars(select(OrderLine).where(OrderLine.order_id == body["id"])).all()
    assert len(rows) == 2


def test_it_merges_repeated_lines_for_one_product(client, session, customer_headers):
    product = make_product(session, stock=5, price_cents=100)
    response = client.post(
        ORDERS, json=order_body((product.id, 1), (product.id, 2)), headers=customer_headers
    )
    assert response.status_code == 201
    assert [(x["product_id"], x["quantity"]) for x in response.get_json()["lines"]] == [
        (product.id, 3)
    ]
    assert stock_of(session, product.id) == 2


def test_it_keeps_the_price_paid_when_the_product_price_changes(
    client, session, customer_headers, admin_headers
):
    product = make_product(session, stock=5, price_cents=700)
    order = client.post(ORDERS, json=order_body((product.id, 1)), headers=customer_headers)
    client.patch(f"/api/v1/products/{product.id}", json={"price_cents": 900}, headers=admin_headers)
    again = client.get(f"{ORDERS}/{order.get_json()['id']}", headers=customer_headers).get_json()
    assert again["lines"][0]["unit_price_cents"] == 700
    assert again["total_cents"] == 700


def test_it_refuses_insufficient_stock_with_409_and_keeps_nothing(
    client, session, customer, customer_headers
):
    grant_credit(
        session, customer_id=customer.id, amount_cents=5000, reason="goodwill", actor_id=None
    )
    plenty = make_product(session, stock=10, price_cents=1000)
    scarce = make_product(session, stock=1, price_cents=1000)
    calls = payments_of(client.application).gateway.calls
    response = client.post(
        ORDERS,
        json=order_body((plenty.id, 4), (scarce.id, 2), credit=1000),
        headers=customer_headers,
    )
    error = assert_error(response, 409, "insufficient_stock")
    assert error["details"]["product_ids"] == [scarce.id]
    assert (stock_of(session, plenty.id), stock_of(session, scarce.id)) == (10, 1)
    assert credit_balance(session, customer.id) == 5000
    assert order_count(session) == 0
    assert client.get(ORDERS, headers=customer_headers).get_json()["total"] == 0
    assert payments_of(client.application).gateway.calls == calls


def test_it_sells_the_last_unit_then_refuses_the_next(client, session, customer_headers):
    product = make_product(session, stock=1)
    assert (
        client.post(ORDERS, json=order_body((product.id, 1)), headers=customer_headers).status_code
        == 201
    )
    response = client.post(ORDERS, json=order_body((product.id, 1)), headers=customer_headers)
    assert_error(response, 409, "insufficient_stock")
    assert stock_of(session, product.id) == 0


def test_it_answers_an_unknown_product_with_404(client, session, customer_headers):
    product = make_product(session, stock=5)
    response = client.post(
        ORDERS, json=order_body((product.id, 1), (product.id + 999, 1)), headers=customer_headers
    )
    error = assert_error(response, 404, "not_found")
    assert error["details"]["product_ids"] == [product.id + 999]
    assert stock_of(session, product.id) == 5
    assert order_count(session) == 0


def test_it_answers_an_inactive_product_with_404(client, session, customer_headers, admin_headers):
    product = make_product(session, stock=5)
    client.patch(f"/api/v1/products/{product.id}", json={"active": False}, headers=admin_headers)
    response = client.post(ORDERS, json=order_body((product.id, 1)), headers=customer_headers)
    assert_error(response, 404, "not_found")
    assert stock_of(session, product.id) == 5


def test_it_refuses_orders_to_support_staff(client, session, support_headers):
    product = make_product(session, stock=5)
    response = client.post(ORDERS, json=order_body((product.id, 1)), headers=support_headers)
    assert_error(response, 403, "forbidden")


def test_it_refuses_anonymous_orders(client, session):
    product = make_product(session, stock=5)
    assert_error(client.post(ORDERS, json=order_body((product.id, 1))), 401, "unauthorized")
    assert stock_of(session, product.id) == 5


def test_it_shows_a_customer_only_their_own_orders(client, session, customer, customer_headers):
    product = make_product(session, stock=10)
    other = make_user(session, "customer", username="olive")
    theirs = place_order(
        session,
        payments_of(client.application),
        customer_id=other.id,
        lines=[LineRequest(product.id, 1)],
        card_number="4242424242424242",
    )
    mine = client.post(
        ORDERS, json=order_body((product.id, 2)), headers=customer_headers
    ).get_json()
    body = client.get(ORDERS, headers=customer_headers).get_json()
    assert set(body) == {"items", "total", "page", "per_page"}
    assert [o["id"] for o in body["items"]] == [mine["id"]]
    assert body["total"] == 1
    assert body["items"][0] == mine | {"payment": body["items"][0]["payment"]}
    assert theirs.id != mine["id"]


def test_it_shows_staff_every_order(client, session, customer, customer_headers, support_headers):
    product = make_product(session, stock=10)
    other = make_user(session, "customer", username="olive")
    client.post(ORDERS, json=order_body((product.id, 1)), headers=customer_headers)
    client.post(ORDERS, json=order_body((product.id, 1)), headers=bearer(client, other))
    body = client.get(ORDERS, headers=support_headers).get_json()
    assert body["total"] == 2
    assert {o["customer_id"] for o in body["items"]} == {customer.id, other.id}


def test_it_filters_staff_lists_by_status(client, session, customer_headers, support_headers):
    product = make_product(session, stock=10)
    client.post(ORDERS, json=order_body((product.id, 1)), headers=customer_headers)
    client.post(
        ORDERS, json=order_body((product.id, 1), card=CARD_DECLINED), headers=customer_headers
    )
    failed = client.get(f"{ORDERS}?status=payment_failed", headers=support_headers).get_json()
    paid = client.get(f"{ORDERS}?status=paid", headers=support_headers).get_json()
    assert [o["status"] for o in failed["items"]] == ["payment_failed"]
    assert [o["status"] for o in paid["items"]] == ["paid"]
    assert_error(
        client.get(f"{ORDERS}?status=bogus", headers=support_headers), 422, "validation_error"
    )
    assert_error(
        client.get(ORDERS, query_string={"status": "p\x00"}, headers=support_headers),
        422,
        "validation_error",
    )


def test_it_pages_orders_newest_first(client, session, customer_headers):
    product = make_product(session, stock=10)
    ids = [
        client.post(ORDERS, json=order_body((product.id, 1)), headers=customer_headers).get_json()[
            "id"
        ]
        for _ in range(3)
    ]
    first = client.get(f"{ORDERS}?per_page=2", headers=customer_headers).get_json()
    second = client.get(f"{ORDERS}?per_page=2&page=2", headers=customer_headers).get_json()
    assert [o["id"] for o in first["items"] + second["items"]] == ids[::-1]
    assert_error(
        client.get(f"{ORDERS}?page=zero", headers=customer_headers), 422, "validation_error"
    )


def test_it_reads_one_of_my_orders(client, session, customer_headers):
    product = make_product(session, stock=10)
    placed = client.post(
        ORDERS, json=order_body((product.id, 1)), headers=customer_headers
    ).get_json()
    response = client.get(f"{ORDERS}/{placed['id']}", headers=customer_headers)
    assert response.status_code == 200
    assert response.get_json() == placed


def test_it_answers_another_customers_order_exactly_like_a_missing_one(
    client, session, customer_headers
):
    product = make_product(session, stock=10)
    other = make_user(session, "customer", username="olive")
    theirs = client.post(
        ORDERS, json=order_body((product.id, 1)), headers=bearer(client, other)
    ).get_json()
    foreign = client.get(f"{ORDERS}/{theirs['id']}", headers=customer_headers)
    missing = client.get(f"{ORDERS}/{theirs['id'] + 1000}", headers=customer_headers)
    assert_error(foreign, 404, "not_found")
    assert foreign.status_code == missing.status_code
    assert foreign.get_json() == missing.get_json()


def test_it_lets_staff_read_any_order(client, session, customer_headers, support_headers):
    product = make_product(session, stock=10)
    placed = client.post(
        ORDERS, json=order_body((product.id, 1)), headers=customer_headers
    ).get_json()
    response = client.get(f"{ORDERS}/{placed['id']}", headers=support_headers)
    assert response.status_code == 200
    assert response.get_json()["id"] == placed["id"]
    assert_error(client.get(f"{ORDERS}/{2**31}", headers=support_headers), 404, "not_found")


def test_it_hides_an_order_whose_payment_failed_from_the_customer(
    client, session, customer_headers, support_headers
):
    product = make_product(session, stock=10)
    client.post(
        ORDERS, json=order_body((product.id, 1), card=CARD_DECLINED), headers=customer_headers
    )
    failed = session.scalars(select(Order)).one()
    assert failed.status == "payment_failed"
    assert client.get(ORDERS, headers=customer_headers).get_json()["total"] == 0
    assert_error(client.get(f"{ORDERS}/{failed.id}", headers=customer_headers), 404, "not_found")
    staff_view = client.get(f"{ORDERS}/{failed.id}", headers=support_headers).get_json()
    assert staff_view["status"] == "payment_failed"
    assert staff_view["payment"]["status"] == "declined"


def test_it_records_the_card_payment_row(client, session, customer_headers):
    product = make_product(session, stock=10, price_cents=1234)
    placed = client.post(
        ORDERS,
        json=order_body((product.id, 1), card="4242 4242 4242 4242"),
        headers=customer_headers,
    ).get_json()
    payment = session.scalars(select(Payment).where(Payment.order_id == placed["id"])).one()
    assert (payment.status, payment.amount_cents, payment.card_last4) == ("succeeded", 1234, "4242")
    assert payment.reference == placed["payment"]["reference"]


def test_it_shows_an_order_without_a_card_payment_as_not_required(
    client, session, customer, support_headers
):
    from app.db import transaction

    with transaction(session):
        order = Order(
            number="BR-NOPAY001",
            customer_id=customer.id,
            status="paid",
            total_cents=0,
            kind="replacement",
        )
        session.add(order)
    body = client.get(f"{ORDERS}/{order.id}", headers=support_headers).get_json()
    assert body["payment"] == {"status": "not_required", "reference": None, "amount_cents": 0}
    assert body["lines"] == []
