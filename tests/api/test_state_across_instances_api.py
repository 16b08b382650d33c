"""App instances sharing the sign-in failure limit and the payment circuit: the web
processes of `backroom serve` through the serve process's state, web hosts through Redis.
Each test runs on both."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from flask import Flask

from tests.api.helpers import CARD_ERROR, assert_error, order_body
from tests.builders import make_product, make_user
from tests.conftest import bearer, need
from tests.shared_state import connect, serve_here


@dataclass
class Store:
    build: Callable[[], Flask]  # one more app instance (a web process, a web host)
    circuit: Callable[[], str]  # the payment circuit's state, as stored


@pytest.fixture
def username() -> str:
    return f"shared-{secrets.token_hex(4)}"


@pytest.fixture(params=["shared", pytest.param("redis", marks=pytest.mark.redis)])
def store(request, make_app, monkeypatch, username) -> Iterator[Store]:
    if request.param == "shared":
        served = serve_here(monkeypatch)
        yield Store(
            build=lambda: make_app(),
            circuit=lambda: str(connect(served).breaker("payment")["state"]),
        )
        return
    url = os.environ.get("TEST_REDIS_URL", "")
    need("Redis", bool(url), "set TEST_REDIS_URL=redis://...")
    import redis

    prefix = f"backroom-test-{secrets.token_hex(4)}"

    def build() -> Flask:
        return make_app(redis_url=url, redis_key_prefix=prefix)

    yield Store(
        build=build,
        circuit=lambda: build().extensions["backroom.payments"].breaker.status().state,
    )
    # flask-limiter keeps the first app's key prefix: the username finds the rest.
    client = redis.Redis.from_url(url)
    for pattern in (f"*{prefix}*", f"*{username}*"):
        for key in client.scan_iter(match=pattern):
            client.delete(key)
    client.close()


def login(client, username, password="password123"):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password})


def test_it_counts_sign_in_failures_across_instances(store, session, username):
    make_user(session, "customer", username=username)
    first = store.build().test_client()
    for _ in range(6):
        assert login(first, username, "wrong-password").status_code == 401
    second = store.build().test_client()
    for _ in range(4):
        assert login(second, username, "wrong-password").status_code == 401
    response = login(second, username)
    assert_error(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) > 0
    assert_error(login(first, username), 429, "rate_limited")


def test_it_opens_the_payment_circuit_for_every_instance(store, session):
    customer = make_user(session, "customer")
    product = make_product(session, stock=10)
    first, second = store.build(), store.build()
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
    assert store.circuit() == "open"


def test_it_forgets_failures_in_a_new_instance_with_nothing_shared(make_app, session):
    """The control: in-process counting is per instance, which is why the state is shared."""
    make_user(session, "customer", username="local")
    first = make_app().test_client()
    for _ in range(10):
        login(first, "local", "wrong-password")
    assert login(make_app().test_client(), "local").status_code == 200
