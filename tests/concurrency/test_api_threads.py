"""Concurrent HTTP requests through the Flask app, each thread with its own client."""

from __future__ import annotations

from collections import Counter

import pytest

from app import create_app
from app.config import Config
from app.db import Database
from app.models.users import User
from app.services.users import issue_token
from tests.concurrency.test_orders_threads import race
from tests.concurrency.workers import assert_conserved, ledger, seed
from tests.conftest import app_settings

SECRET = "test-secret"


@pytest.fixture
def served(fresh_url, tmp_path):
    """An app on the fresh database, as a web worker would run it."""
    database = Database(fresh_url, pool_size=10)
    app = create_app(
        app_settings(fresh_url, tmp_path, secret_key=SECRET),
        config=Config(),
        database=database,
    )
    app.extensions["backroom.payments"].gateway.latency_seconds = 0.002
    yield app
    database.dispose()


def tokens(app, user_ids):
    with app.extensions["backroom.db"].session() as session:
        return {
            uid: {"Authorization": f"Bearer {issue_token(session.get(User, uid), SECRET)}"}
            for uid in user_ids
        }


def order(product_id, quantity=1):
    return {
        "lines": [{"product_id": product_id, "quantity": quantity}],
        "payment": {"card_number": "4242424242424242"},
    }


def test_it_sells_exactly_the_stock_to_concurrent_api_clients(served, fresh_url):
    customers, [product] = seed(fresh_url, customers=20, stocks=[7])
    headers = tokens(served, customers)

    def buy(i):
        response = served.test_client().post(
            "/api/v1/orders", json=order(product), headers=headers[customers[i]]
        )
        code = response.get_json().get("error", {}).get("code", "")
        return response.status_code, code

    results = race(20, buy)
    assert Counter(results) == {(201, ""): 7, (409, "insufficient_stock"): 13}
    state = ledger(fresh_url, [product])
    assert state["stock"] == {product: 0}
    assert_conserved(state, {product: 7})


def test_it_does_the_work_once_for_one_idempotency_key_sent_concurrently(served, fresh_url):
    [customer], [product] = seed(fresh_url, customers=1, stocks=[50])
    headers = {**tokens(served, [customer])[customer], "Idempotency-Key": "double-click"}

    def click(_):
        response = served.test_client().post(
            "/api/v1/orders", json=order(product, 2), headers=headers
        )
        return response.status_code, response.get_data(as_text=True)

    results = race(10, click)
    created = {body for status, body in results if status == 201}
    assert len(created) == 1, results
    assert {status for status, _ in results} <= {201, 409}
    assert all("idempotency_in_progress" in body for status, body in results if status == 409)
    state = ledger(fresh_url, [product])
    assert state["statuses"] == {"paid": 1}
    assert state["stock"] == {product: 48}
