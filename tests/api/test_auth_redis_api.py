"""The sign-in failure limit and the payment circuit shared by app instances through Redis."""

from __future__ import annotations

import os
import secrets

import pytest

from tests.api.helpers import CARD_ERROR, assert_error, order_body
from tests.builders import make_product, make_user
from tests.conftest import bearer, need

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_url():
    url = os.environ.get("TEST_REDIS_URL", "")
    need("Redis", bool(url), "set TEST_REDIS_URL=redis://...")
    return url


@pytest.fixture
def shared(redis_url, make_app):
    """Build app instances (think: two web hosts) sharing one Redis under a fresh prefix."""
    import redis

    prefix = f"backroom-test-{secrets.token_hex(4)}"
    names: list[str] = []

    def build():
        # The per-client limit on token requests would be shared, through Redis, with every
        # other run against this Redis (flask-limiter keeps the first app's key prefix):
        # this test is about the per-username failure limit only.
        return make_app(
            redis_url=redis_url, redis_key_prefix=prefix, login_rate_limit="100000 per minute"
        )

    yield build, names
    client = redis.Redis.from_url(redis_url)
    for pattern in [f"*{prefix}*", *(f"*{name}*" for name in names)]:
        for key in client.scan_iter(match=pattern):
            client.delete(key)
    client.close()


def login(client, username, password="password123"):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password})


def test_it_counts_sign_in_failures_across_app_instances(shared, session):
    build, names = shared
    name = f"shared-{secrets.token_hex(4)}"
    names.append(name)
    make_user(session, "customer", username=name)
    first = build().test_client()
    for _ in range(6):
        assert login(first, name, "wrong-password").status_code == 401
    second = build().test_client()
    for _ in range(4):
        assert login(second, name, "wrong-password").status_code == 401
    response = login(second, name)
    assert_error(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) > 0
    assert_error(login(first, name), 429, "rate_limited")


def test_it_forgets_failures_in_a_new_instance_without_redis(make_app, session):
    """The control: in-process counting is per instance, which is why Redis is needed."""
    make_user(session, "customer", username="local")
    first = make_app().test_client()
    for _ in range(10):
        login(first, "local", "wrong-password")
    assert login(make_app().test_client(), "local").status_code == 200


def test_it_opens_the_payment_circuit_for_every_instance(shared, session):
    build, _ = shared
    customer = make_user(session, "customer")
    product = make_product(session, stock=10)
    first, second = build(), build()
    one, two = first.test_client(), second.test_client()
    headers = bearer(one, customer)
    for client in (one, two, one):
        response = client.post(
            "/api/v1/orders", json=order_body((product.id, 1), card=CARD_ERROR), headers=headers
        )
        assert_error(response, 502, "payment_error")
    response = two.post("/api/v1/orders", json=order_body((product.id, 1)), headers=headers)
    assert_error(response, 503, "payment_unavailable")
    assert second.extensions["backroom.payments"].gateway.calls == 1
