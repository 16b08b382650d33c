"""`Idempotency-Key` on POST /api/v1/orders (CONTRACT §3.1)."""

from __future__ import annotations

from sqlalchemy import func, select

from app.models.idempotency import IdempotencyRecord
from app.models.payments import GatewayCharge
from tests.api.helpers import (
    CARD_DECLINED,
    CARD_ERROR,
    assert_error,
    order_body,
    order_count,
    stock_of,
)
from tests.builders import make_product, make_user
from tests.conftest import bearer

ORDERS = "/api/v1/orders"


def keyed(headers, key):
    return {**headers, "Idempotency-Key": key}


def gateway_calls(client):
    return client.application.extensions["backroom.payments"].gateway.calls


def test_it_replays_the_first_answer_and_creates_nothing_new(client, session, customer_headers):
    product = make_product(session, stock=5, price_cents=800)
    body = order_body((product.id, 2))
    first = client.post(ORDERS, json=body, headers=keyed(customer_headers, "order-abc"))
    second = client.post(ORDERS, json=body, headers=keyed(customer_headers, "order-abc"))
    assert first.status_code == second.status_code == 201
    assert first.get_json() == second.get_json()
    assert second.mimetype == "application/json"
    assert order_count(session) == 1
    assert stock_of(session, product.id) == 3
    assert gateway_calls(client) == 1
    assert session.scalar(select(func.count()).select_from(GatewayCharge)) == 1


def test_it_treats_a_reordered_but_equal_body_as_the_same_request(
    client, session, customer_headers
):
    product = make_product(session, stock=5)
    body = order_body((product.id, 1))
    first = client.post(ORDERS, json=body, headers=keyed(customer_headers, "k1"))
    again = client.post(
        ORDERS, json=dict(reversed(list(body.items()))), headers=keyed(customer_headers, "k1")
    )
    assert again.get_json() == first.get_json()
    assert order_count(session) == 1


def test_it_refuses_the_same_key_with_another_body_with_409(client, session, customer_headers):
    product = make_product(session, stock=5)
    client.post(ORDERS, json=order_body((product.id, 1)), headers=keyed(customer_headers, "k1"))
    response = client.post(
        ORDERS, json=order_body((product.id, 2)), headers=keyed(customer_headers, "k1")
    )
    assert_error(response, 409, "idempotency_key_reused")
    assert order_count(session) == 1
    assert stock_of(session, product.id) == 4


def test_it_replays_a_declined_payment_too(client, session, customer_headers):
    product = make_product(session, stock=5)
    body = order_body((product.id, 1), card=CARD_DECLINED)
    first = client.post(ORDERS, json=body, headers=keyed(customer_headers, "declined-1"))
    second = client.post(ORDERS, json=body, headers=keyed(customer_headers, "declined-1"))
    assert_error(first, 402, "payment_declined")
    assert second.status_code == 402
    assert second.get_json() == first.get_json()
    assert gateway_calls(client) == 1
    assert order_count(session) == 1
    assert stock_of(session, product.id) == 5


def test_it_replays_a_validation_error(client, session, customer_headers):
    product = make_product(session, stock=5)
    body = {"lines": [{"product_id": product.id, "quantity": 0}], "payment": {"card_number": "x"}}
    first = client.post(ORDERS, json=body, headers=keyed(customer_headers, "bad-1"))
    second = client.post(ORDERS, json=body, headers=keyed(customer_headers, "bad-1"))
    assert_error(first, 422, "validation_error")
    assert (second.status_code, second.get_json()) == (422, first.get_json())


def test_it_lets_a_transient_failure_be_retried_with_the_same_key(
    client, session, customer_headers
):
    product = make_product(session, stock=5)
    failing = client.post(
        ORDERS,
        json=order_body((product.id, 1), card=CARD_ERROR),
        headers=keyed(customer_headers, "t1"),
    )
    assert_error(failing, 502, "payment_error")
    assert session.scalars(select(IdempotencyRecord)).all() == []
    retry = client.post(
        ORDERS,
        json=order_body((product.id, 1), card=CARD_ERROR),
        headers=keyed(customer_headers, "t1"),
    )
    assert_error(retry, 502, "payment_error")
    assert gateway_calls(client) == 2


def test_it_does_not_keep_a_503_so_the_key_works_once_payments_recover(
    client, session, customer_headers
):
    product = make_product(session, stock=5)
    for _ in range(3):
        client.post(
            ORDERS, json=order_body((product.id, 1), card=CARD_ERROR), headers=customer_headers
        )
    body = order_body((product.id, 1))
    unavailable = client.post(ORDERS, json=body, headers=keyed(customer_headers, "later"))
    assert_error(unavailable, 503, "payment_unavailable")
    client.application.extensions["backroom.payments"].breaker.reset()
    recovered = client.post(ORDERS, json=body, headers=keyed(customer_headers, "later"))
    assert recovered.status_code == 201
    assert stock_of(session, product.id) == 4


def test_it_keeps_keys_apart_per_customer(client, session, customer_headers):
    product = make_product(session, stock=5)
    other = bearer(client, make_user(session, "customer", username="olive"))
    body = order_body((product.id, 1))
    mine = client.post(ORDERS, json=body, headers=keyed(customer_headers, "shared"))
    theirs = client.post(ORDERS, json=body, headers=keyed(other, "shared"))
    assert mine.status_code == theirs.status_code == 201
    assert mine.get_json()["id"] != theirs.get_json()["id"]
    assert stock_of(session, product.id) == 3


def test_it_places_separate_orders_without_a_key(client, session, customer_headers):
    product = make_product(session, stock=5)
    body = order_body((product.id, 1))
    client.post(ORDERS, json=body, headers=customer_headers)
    client.post(ORDERS, json=body, headers=customer_headers)
    assert order_count(session) == 2


def test_it_refuses_an_unusable_key_with_422(client, session, customer_headers):
    product = make_product(session, stock=5)
    for key in ("", "k" * 256, "nul\x00key"):
        response = client.post(
            ORDERS, json=order_body((product.id, 1)), headers=keyed(customer_headers, key)
        )
        error = assert_error(response, 422, "validation_error")
        assert set(error["details"]["fields"]) == {"Idempotency-Key"}
    assert order_count(session) == 0


def test_it_releases_the_key_when_the_work_fails_unexpectedly(
    client, session, customer_headers, monkeypatch
):
    import views.api.orders

    product = make_product(session, stock=5)
    real = views.api.orders.place_order

    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(views.api.orders, "place_order", broken)
    body = order_body((product.id, 1))
    failed = client.post(ORDERS, json=body, headers=keyed(customer_headers, "oops"))
    assert_error(failed, 500, "internal_error")
    assert session.scalars(select(IdempotencyRecord)).all() == []
    monkeypatch.setattr(views.api.orders, "place_order", real)
    retried = client.post(ORDERS, json=body, headers=keyed(customer_headers, "oops"))
    assert retried.status_code == 201
