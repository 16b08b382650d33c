"""Web processes of `backroom serve` (here: app instances built with the environment serve
gives its workers) share one flash-sale budget through the serve process's state, and keep
answering when it is gone. Sign-in failures and the payment circuit, shared the same way as
through Redis, are in test_state_across_instances_api."""

from __future__ import annotations

import logging

import pytest

from app.extensions import IN_PROCESS_LIMITS
from app.shared_state import SHARED_LIMITS, SharedLimitsStorage
from tests.api.helpers import CARD_ERROR, assert_error, order_body
from tests.api.test_flash_sales_api import open_sale, reserve
from tests.builders import make_product, make_user
from tests.conftest import bearer
from tests.shared_state import dead_address, reach, served_elsewhere


@pytest.fixture
def host(make_app):
    """Build one web process's app; each builds its own limiter storage and breaker."""

    def build(**overrides):
        settings = {"flash_rate_limit": "2 per minute"}
        return make_app(**{**settings, **overrides})

    return build


def login(client, username, password="password123"):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password})


def test_the_app_counts_in_the_shared_state(served_state, host):
    app = host()
    assert app.config["RATELIMIT_STORAGE_URI"] == SHARED_LIMITS
    assert isinstance(app.extensions["backroom.limiter"].storage, SharedLimitsStorage)


def test_two_web_processes_share_one_flash_budget_per_customer(served_state, host, session, admin):
    first = host().test_client()
    product = make_product(session, stock=50, price_cents=2000)
    sale = open_sale(first, bearer(first, admin), product, limit=5)
    auth = bearer(first, make_user(session, "customer", username="buyer"))
    assert reserve(first, auth, sale, product).status_code == 201
    second = host().test_client()  # a new limiter storage: only the shared state remembers
    assert reserve(second, auth, sale, product).status_code == 201
    limited = reserve(second, auth, sale, product)
    assert_error(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) > 0
    assert_error(reserve(first, auth, sale, product), 429, "rate_limited")
    other = bearer(second, make_user(session, "customer", username="other"))
    assert reserve(second, other, sale, product).status_code == 201  # a budget per customer


def test_it_counts_in_process_when_the_state_is_unreachable_at_start(
    monkeypatch, tmp_path, host, session, admin, caplog
):
    reach(monkeypatch, dead_address(tmp_path))
    with caplog.at_level(logging.ERROR, logger="app"):
        app = host()
    assert app.config["RATELIMIT_STORAGE_URI"] == IN_PROCESS_LIMITS
    assert "shared state is unreachable" in caplog.text
    client = app.test_client()
    product = make_product(session, stock=50, price_cents=2000)
    sale = open_sale(client, bearer(client, admin), product, limit=5)
    auth = bearer(client, make_user(session, "customer"))
    assert [reserve(client, auth, sale, product).status_code for _ in range(3)] == [201, 201, 429]


@pytest.mark.slow
def test_it_keeps_answering_when_the_state_goes_away(monkeypatch, host, session, admin):
    with served_elsewhere() as (env, serve):
        reach(monkeypatch, env)
        app = host()
        client = app.test_client()
        product = make_product(session, stock=50, price_cents=2000)
        sale = open_sale(client, bearer(client, admin), product, limit=5)
        auth = bearer(client, make_user(session, "customer"))
        assert reserve(client, auth, sale, product).status_code == 201
        serve.kill()
        serve.wait(10)
        answers = [reserve(client, auth, sale, product).status_code for _ in range(3)]
        assert answers == [201, 201, 429]  # counted again, in process: degraded, never a 500
        response = client.post(
            "/api/v1/orders", json=order_body((product.id, 1), card=CARD_ERROR), headers=auth
        )
        assert_error(response, 502, "payment_error")  # the breaker counts in process too
        assert app.extensions["backroom.payments"].breaker.status().failures == 1
