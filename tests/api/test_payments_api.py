"""Card payments, the payment circuit breaker and store credit through the API (§3.3)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from app.models.credit import CreditEntry
from app.models.orders import Order
from app.models.payments import GatewayCharge
from app.services.credit import credit_balance, grant_credit
from tests.api.helpers import (
    CARD_DECLINED,
    CARD_ERROR,
    assert_error,
    order_body,
    order_count,
    stock_of,
)
from tests.builders import make_product
from tests.conftest import bearer

ORDERS = "/api/v1/orders"
BREAKERS = "/api/v1/system/breakers"


def gateway_calls(app):
    return app.extensions["backroom.payments"].gateway.calls


def breaker(client, headers):
    response = client.get(BREAKERS, headers=headers)
    assert response.status_code == 200
    [item] = response.get_json()["items"]
    assert item["name"] == "payment"
    return item


def test_it_answers_a_declined_card_with_402_and_gives_everything_back(
    client, session, customer, customer_headers, support_headers
):
    grant_credit(
        session, customer_id=customer.id, amount_cents=300, reason="goodwill", actor_id=None
    )
    product = make_product(session, stock=4, price_cents=1000)
    response = client.post(
        ORDERS,
        json=order_body((product.id, 2), card=CARD_DECLINED, credit=300),
        headers=customer_headers,
    )
    assert_error(response, 402, "payment_declined")
    assert stock_of(session, product.id) == 4
    assert credit_balance(session, customer.id) == 300
    order = session.scalars(select(Order)).one()
    assert order.status == "payment_failed"
    reasons = [e.reason for e in session.scalars(select(CreditEntry).order_by(CreditEntry.id))]
    assert reasons == ["goodwill", "order_payment", "order_payment_reversed"]
    assert breaker(client, support_headers)["failures"] == 0


def test_it_does_not_count_declines_toward_the_breaker(
    client, session, customer_headers, support_headers
):
    product = make_product(session, stock=10)
    for _ in range(5):
        response = client.post(
            ORDERS, json=order_body((product.id, 1), card=CARD_DECLINED), headers=customer_headers
        )
        assert_error(response, 402, "payment_declined")
    state = breaker(client, support_headers)
    assert (state["state"], state["failures"], state["opened_at"]) == ("closed", 0, None)
    assert gateway_calls(client.application) == 5
    assert (
        client.post(ORDERS, json=order_body((product.id, 1)), headers=customer_headers).status_code
        == 201
    )


def test_it_answers_a_processing_error_with_502_and_gives_the_stock_back(
    client, session, customer_headers, support_headers
):
    product = make_product(session, stock=4)
    response = client.post(
        ORDERS, json=order_body((product.id, 3), card=CARD_ERROR), headers=customer_headers
    )
    assert_error(response, 502, "payment_error")
    assert stock_of(session, product.id) == 4
    assert session.scalars(select(Order)).one().status == "payment_failed"
    assert session.scalars(select(GatewayCharge)).all() == []
    state = breaker(client, support_headers)
    assert (state["state"], state["failures"]) == ("closed", 1)


def open_the_circuit(client, headers, product_id, failures=3):
    for _ in range(failures):
        response = client.post(
            ORDERS, json=order_body((product_id, 1), card=CARD_ERROR), headers=headers
        )
        assert_error(response, 502, "payment_error")


def test_it_opens_the_circuit_after_three_consecutive_failures(
    client, session, customer_headers, support_headers
):
    product = make_product(session, stock=10)
    open_the_circuit(client, customer_headers, product.id)
    calls, orders = gateway_calls(client.application), order_count(session)
    response = client.post(ORDERS, json=order_body((product.id, 1)), headers=customer_headers)
    error = assert_error(response, 503, "payment_unavailable")
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 30
    assert error["details"]["retry_after"] == retry_after
    assert gateway_calls(client.application) == calls
    assert order_count(session) == orders
    assert stock_of(session, product.id) == 10
    state = breaker(client, support_headers)
    assert (state["state"], state["failures"]) == ("open", 3)
    assert state["opened_at"].endswith("+00:00")


def test_it_starts_counting_again_after_a_success(
    client, session, customer_headers, support_headers
):
    product = make_product(session, stock=10)
    open_the_circuit(client, customer_headers, product.id, failures=2)
    assert (
        client.post(ORDERS, json=order_body((product.id, 1)), headers=customer_headers).status_code
        == 201
    )
    open_the_circuit(client, customer_headers, product.id, failures=2)
    assert breaker(client, support_headers)["state"] == "closed"


def test_it_lets_orders_paid_fully_by_credit_through_an_open_circuit(
    client, session, customer, customer_headers
):
    grant_credit(
        session, customer_id=customer.id, amount_cents=1000, reason="goodwill", actor_id=None
    )
    product = make_product(session, stock=10, price_cents=1000)
    open_the_circuit(client, customer_headers, product.id)
    calls = gateway_calls(client.application)
    response = client.post(
        ORDERS, json=order_body((product.id, 1), credit=1000), headers=customer_headers
    )
    assert response.status_code == 201
    assert response.get_json()["status"] == "paid"
    assert gateway_calls(client.application) == calls


@pytest.fixture
def quick_app(make_app):
    """An app whose payment circuit stays open for one second only."""
    return make_app(payment_breaker_reset_seconds=1)


def test_it_lets_one_trial_call_close_the_circuit_after_the_reset_time(
    quick_app, session, customer, support
):
    client = quick_app.test_client()
    headers, staff = bearer(client, customer), bearer(client, support)
    product = make_product(session, stock=10)
    open_the_circuit(client, headers, product.id)
    assert_error(
        client.post(ORDERS, json=order_body((product.id, 1)), headers=headers),
        503,
        "payment_unavailable",
    )
    time.sleep(1.1)
    assert breaker(client, staff)["state"] == "half_open"
    calls = gateway_calls(quick_app)
    response = client.post(ORDERS, json=order_body((product.id, 1)), headers=headers)
    assert response.status_code == 201
    assert gateway_calls(quick_app) == calls + 1
    state = breaker(client, staff)
    assert (state["state"], state["failures"], state["opened_at"]) == ("closed", 0, None)
    assert stock_of(session, product.id) == 9


def test_it_reopens_the_circuit_when_the_trial_call_fails(quick_app, session, customer, support):
    client = quick_app.test_client()
    headers, staff = bearer(client, customer), bearer(client, support)
    product = make_product(session, stock=10)
    open_the_circuit(client, headers, product.id)
    time.sleep(1.1)
    calls = gateway_calls(quick_app)
    trial = client.post(ORDERS, json=order_body((product.id, 1), card=CARD_ERROR), headers=headers)
    assert_error(trial, 502, "payment_error")
    assert gateway_calls(quick_app) == calls + 1
    assert breaker(client, staff)["state"] == "open"
    assert_error(
        client.post(ORDERS, json=order_body((product.id, 1)), headers=headers),
        503,
        "payment_unavailable",
    )
    assert gateway_calls(quick_app) == calls + 1
    assert stock_of(session, product.id) == 10


def test_it_shows_the_breakers_to_staff_only(client, customer_headers):
    assert_error(client.get(BREAKERS), 401, "unauthorized")
    assert_error(client.get(BREAKERS, headers=customer_headers), 403, "forbidden")


def test_it_shows_the_breakers_to_every_staff_role(client, session):
    from tests.builders import make_user

    for role in ("support", "warehouse", "finance", "admin"):
        user = make_user(session, role)
        state = breaker(client, bearer(client, user))
        assert (state["state"], state["failures"], state["opened_at"]) == ("closed", 0, None)


def test_it_pays_part_of_an_order_with_store_credit(client, session, customer, customer_headers):
    grant_credit(
        session, customer_id=customer.id, amount_cents=500, reason="goodwill", actor_id=None
    )
    product = make_product(session, stock=5, price_cents=1500)
    response = client.post(
        ORDERS, json=order_body((product.id, 1), credit=500), headers=customer_headers
    )
    assert response.status_code == 201
    body = response.get_json()
    assert (body["total_cents"], body["store_credit_cents"]) == (1500, 500)
    assert (body["payment"]["status"], body["payment"]["amount_cents"]) == ("succeeded", 1000)
    charge = session.scalars(select(GatewayCharge)).one()
    assert charge.amount_cents == 1000
    credit = client.get("/api/v1/store-credit", headers=customer_headers).get_json()
    assert credit["balance_cents"] == 0
    spent, granted = credit["entries"]
    assert (spent["amount_cents"], spent["reason"], spent["order_id"]) == (
        -500,
        "order_payment",
        body["id"],
    )
    assert (granted["amount_cents"], granted["order_id"], granted["return_id"]) == (500, None, None)
    assert set(spent) == {"amount_cents", "reason", "return_id", "order_id", "created_at"}
    assert spent["created_at"].endswith("+00:00")


def test_it_pays_a_whole_order_with_store_credit_without_the_gateway(
    client, session, customer, customer_headers
):
    grant_credit(
        session, customer_id=customer.id, amount_cents=3000, reason="goodwill", actor_id=None
    )
    product = make_product(session, stock=5, price_cents=1500)
    response = client.post(
        ORDERS, json=order_body((product.id, 2), credit=3000), headers=customer_headers
    )
    assert response.status_code == 201
    body = response.get_json()
    assert (body["status"], body["store_credit_cents"]) == ("paid", 3000)
    assert (body["payment"]["status"], body["payment"]["amount_cents"]) == ("not_required", 0)
    assert gateway_calls(client.application) == 0
    assert credit_balance(session, customer.id) == 0
    assert stock_of(session, product.id) == 3


def test_it_refuses_credit_above_the_balance_with_422(client, session, customer, customer_headers):
    grant_credit(
        session, customer_id=customer.id, amount_cents=200, reason="goodwill", actor_id=None
    )
    product = make_product(session, stock=5, price_cents=1500)
    response = client.post(
        ORDERS, json=order_body((product.id, 1), credit=201), headers=customer_headers
    )
    error = assert_error(response, 422, "validation_error")
    assert set(error["details"]["fields"]) == {"store_credit_cents"}
    assert credit_balance(session, customer.id) == 200
    assert stock_of(session, product.id) == 5
    assert order_count(session) == 0


@pytest.mark.parametrize("credit", [-1, 1501, "100", 1.5, True])
def test_it_refuses_credit_outside_the_order_with_422(
    client, session, customer, customer_headers, credit
):
    grant_credit(
        session, customer_id=customer.id, amount_cents=5000, reason="goodwill", actor_id=None
    )
    product = make_product(session, stock=5, price_cents=1500)
    response = client.post(
        ORDERS, json=order_body((product.id, 1), credit=credit), headers=customer_headers
    )
    error = assert_error(response, 422, "validation_error")
    assert set(error["details"]["fields"]) == {"store_credit_cents"}
    assert credit_balance(session, customer.id) == 5000


def test_it_shows_an_empty_store_credit_ledger(client, customer_headers):
    body = client.get("/api/v1/store-credit", headers=customer_headers).get_json()
    assert body == {"balance_cents": 0, "entries": []}


def test_it_refuses_the_store_credit_ledger_to_anonymous(client):
    assert_error(client.get("/api/v1/store-credit"), 401, "unauthorized")
