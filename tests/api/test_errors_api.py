"""Cross-cutting API behaviour: request ids, JSON errors for routing, CSRF for cookie sessions."""

from __future__ import annotations

import re

import pytest
from flask_wtf.csrf import generate_csrf

import views.api.catalog
from tests.api.helpers import assert_error, order_body, order_count
from tests.builders import make_product, make_user
from tests.conftest import bearer, sign_in

CSRF_REFUSAL = {"reason": "csrf"}


def test_it_echoes_a_sane_request_id(client):
    response = client.get("/api/v1/products", headers={"X-Request-ID": "req-42.a:b_c"})
    assert response.headers["X-Request-ID"] == "req-42.a:b_c"


def test_it_generates_a_request_id_when_none_is_sent(client):
    first = client.get("/api/v1/products").headers["X-Request-ID"]
    second = client.get("/api/v1/products").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


@pytest.mark.parametrize(
    "bad", ["has spaces", "x" * 129, "new\\nline", "<script>", "é", "job:monitoring.prune_logs:1"]
)
def test_it_replaces_an_unsafe_request_id(client, bad):
    response = client.get("/api/v1/products", headers={"X-Request-ID": bad})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/nothing-here"),
        ("post", "/api/v1/orders/1"),
        ("get", "/api/v1/orders/abc"),
        ("get", "/health"),
    ],
)
def test_it_puts_a_request_id_on_every_response(client, method, path):
    response = getattr(client, method)(path, headers={"X-Request-ID": "trace-1"})
    assert response.headers["X-Request-ID"] == "trace-1"


def test_it_answers_an_unknown_api_route_with_404_json(client):
    assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error(client.post("/api/v1/nothing-here", json={}), 404, "not_found")


def test_it_answers_a_wrong_method_with_405_json(client):
    response = client.delete("/api/v1/products")
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]
    assert "POST" in response.headers["Allow"]
    assert_error(client.put("/api/v1/orders"), 405, "method_not_allowed")


def test_it_answers_an_unexpected_failure_with_a_json_500(client, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views.api.catalog, "list_products", explode)
    error = assert_error(client.get("/api/v1/products"), 500, "internal_error")
    assert "boom" not in error["message"]


def cookie_client(make_app, user):
    """A browser-like client signed in by its session cookie, plus a way to get a CSRF token."""
    app = make_app()
    app.add_url_rule("/_test/csrf-token", "test_csrf_token", generate_csrf)
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["_user_id"] = str(user.id)
        sess["_fresh"] = True
        sess["epoch"] = user.session_epoch
    return client


def test_it_honours_a_cookie_session_on_the_api(make_app, customer):
    client = cookie_client(make_app, customer)
    response = client.get("/api/v1/store-credit")
    assert response.status_code == 200
    assert response.get_json() == {"balance_cents": 0, "entries": []}  # the customer's ledger


def test_it_refuses_a_cookie_session_post_without_a_csrf_token(make_app, session, customer):
    client = cookie_client(make_app, customer)
    product = make_product(session, stock=5)
    response = client.post("/api/v1/orders", json=order_body((product.id, 1)))
    assert assert_error(response, 400, "bad_request")["details"] == CSRF_REFUSAL
    assert order_count(session) == 0


def test_it_accepts_a_cookie_session_post_with_the_csrf_header(make_app, session, customer):
    client = cookie_client(make_app, customer)
    token = client.get("/_test/csrf-token").get_data(as_text=True)
    product = make_product(session, stock=5)
    response = client.post(
        "/api/v1/orders", json=order_body((product.id, 1)), headers={"X-CSRFToken": token}
    )
    assert response.status_code == 201
    assert response.get_json()["customer_id"] == customer.id
    assert order_count(session) == 1


def test_it_refuses_a_forged_csrf_header(make_app, session, customer):
    client = cookie_client(make_app, customer)
    product = make_product(session, stock=5)
    response = client.post(
        "/api/v1/orders", json=order_body((product.id, 1)), headers={"X-CSRFToken": "forged"}
    )
    assert assert_error(response, 400, "bad_request")["details"] == CSRF_REFUSAL
    assert order_count(session) == 0


def test_it_needs_no_csrf_token_with_a_bearer_token(make_app, client, session, customer):
    browser = cookie_client(make_app, customer)
    product = make_product(session, stock=5)
    response = browser.post(
        "/api/v1/orders", json=order_body((product.id, 1)), headers=bearer(client, customer)
    )
    assert response.status_code == 201
    assert response.get_json()["customer_id"] == customer.id
    assert order_count(session) == 1


def test_it_considers_only_the_bearer_token_when_one_is_sent(make_app, customer):
    client = cookie_client(make_app, customer)
    response = client.get("/api/v1/store-credit", headers={"Authorization": "Bearer forged"})
    assert_error(response, 401, "unauthorized")


def test_it_refuses_an_api_post_from_a_signed_in_browser_without_csrf(client, session, customer):
    login_page = client.get("/login")  # a missing login template must fail this test
    assert login_page.status_code == 200
    assert 'name="username"' in login_page.get_data(as_text=True)
    token = sign_in(client, customer)
    product = make_product(session, stock=5)
    refused = client.post("/api/v1/orders", json=order_body((product.id, 1)))
    assert assert_error(refused, 400, "bad_request")["details"] == CSRF_REFUSAL
    assert order_count(session) == 0
    accepted = client.post(
        "/api/v1/orders", json=order_body((product.id, 1)), headers={"X-CSRFToken": token}
    )
    assert accepted.status_code == 201
    assert accepted.get_json()["customer_id"] == customer.id
    assert order_count(session) == 1


def test_it_treats_a_session_with_a_nonsense_user_id_as_anonymous(make_app):
    client = make_app().test_client()
    with client.session_transaction() as sess:
        sess["_user_id"] = "not-a-number"
    assert_error(client.get("/api/v1/store-credit"), 401, "unauthorized")


def test_it_treats_the_session_of_a_deactivated_user_as_anonymous(
    make_app, session, customer, admin
):
    from app.services.users import set_user_active

    client = cookie_client(make_app, customer)
    set_user_active(session, customer.id, active=False, actor=admin)
    assert_error(client.get("/api/v1/store-credit"), 401, "unauthorized")


def test_it_rate_limits_a_signed_in_browser_per_user(make_app, session, customer):
    app = make_app(flash_rate_limit="1 per minute")
    app.add_url_rule("/_test/csrf-token", "test_csrf_token", generate_csrf)

    def reserve(user):
        client = app.test_client()
        with client.session_transaction() as sess:
            sess["_user_id"], sess["epoch"] = str(user.id), user.session_epoch
        headers = {"X-CSRFToken": client.get("/_test/csrf-token").get_data(as_text=True)}
        path = "/api/v1/flash-sales/999999/reservations"  # no such sale: 404, yet it counts
        body = {"product_id": 1, "quantity": 1}
        return [client.post(path, json=body, headers=headers) for _ in range(2)]

    first, second = reserve(customer)
    assert_error(first, 404, "not_found")
    assert_error(second, 429, "rate_limited")
    other = make_user(session, "customer", username="other-browser")
    assert_error(reserve(other)[0], 404, "not_found")  # per user, not per address
