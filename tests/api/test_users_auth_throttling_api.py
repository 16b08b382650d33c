"""Sign-in throttling counts failures only, per username and per client address, with the
address taken from TRUSTED_PROXIES (CONTRACT §2, §3.1): a shop behind one proxy signs in."""

from __future__ import annotations

import pytest

from tests.api.helpers import assert_error
from tests.builders import make_user
from tests.conftest import CSRF_META

TOKEN = "/api/v1/auth/token"


def login(client, username, password="password123", **kwargs):
    return client.post(TOKEN, json={"username": username, "password": password}, **kwargs)


def from_address(address: str) -> dict[str, object]:
    return {"environ_base": {"REMOTE_ADDR": address}}


def test_it_lets_200_customers_behind_one_address_sign_in_within_a_minute(client, session):
    for n in range(200):
        make_user(session, "customer", username=f"shopper{n}")
    answers = [login(client, f"shopper{n}").status_code for n in range(200)]
    assert answers == [200] * 200


def test_it_lets_one_customer_sign_in_again_and_again(client, customer):
    assert {login(client, "casey").status_code for _ in range(60)} == {200}


def test_it_still_locks_a_username_after_its_failures_among_many_good_sign_ins(client, session):
    for n in range(50):
        make_user(session, "customer", username=f"shopper{n}")
    for n in range(50):
        assert login(client, f"shopper{n}").status_code == 200
        if n < 10:
            assert login(client, "shopper0", "wrong-password").status_code == 401
    assert_error(login(client, "shopper0"), 429, "rate_limited")
    assert login(client, "shopper1").status_code == 200


def test_it_locks_an_address_that_fails_too_often_across_usernames(make_app, session):
    client = make_app(login_address_failure_limit="5 per 15 minutes").test_client()
    for n in range(6):
        make_user(session, "customer", username=f"shopper{n}")
    here, there = from_address("203.0.113.7"), from_address("198.51.100.9")
    for n in range(5):  # one failure each: no username reaches its own limit
        assert login(client, f"shopper{n}", "wrong-password", **here).status_code == 401
    response = login(client, "shopper5", **here)
    error = assert_error(response, 429, "rate_limited")
    assert "address" in error["message"]
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60
    assert login(client, "shopper5", **there).status_code == 200


def test_it_never_counts_good_sign_ins_toward_the_address_limit(make_app, session):
    client = make_app(login_address_failure_limit="3 per 15 minutes").test_client()
    for n in range(30):
        make_user(session, "customer", username=f"shopper{n}")
    for n in range(30):
        assert login(client, f"shopper{n}").status_code == 200
    for n in range(2):
        assert login(client, f"shopper{n}", "wrong-password").status_code == 401
    assert login(client, "shopper29").status_code == 200


def test_it_ignores_x_forwarded_for_unless_proxies_are_trusted(make_app, session, customer):
    client = make_app(login_address_failure_limit="3 per 15 minutes").test_client()
    for n in range(3):  # an attacker rotating the header still comes from one socket
        forged = {"X-Forwarded-For": f"192.0.2.{n}"}
        assert login(client, "casey", "wrong-password", headers=forged).status_code == 401
    assert_error(login(client, "casey", headers={"X-Forwarded-For": "192.0.2.99"}), 429,
                 "rate_limited")  # fmt: skip


def test_it_limits_the_real_client_behind_a_trusted_proxy(make_app, session):
    client = make_app(
        trusted_proxies=1, login_address_failure_limit="3 per 15 minutes"
    ).test_client()
    for n in range(210):
        make_user(session, "customer", username=f"shopper{n}")
    proxy = from_address("10.0.0.2")  # every call arrives from the load balancer
    mallory = {"X-Forwarded-For": "203.0.113.66"}
    for n in range(3):
        assert login(client, f"shopper{n}", "wrong", headers=mallory, **proxy).status_code == 401
    assert_error(login(client, "shopper3", headers=mallory, **proxy), 429, "rate_limited")
    # Everyone else behind the same proxy is unaffected, however many sign in.
    for n in range(4, 210):
        customer = {"X-Forwarded-For": f"198.51.100.{n % 250}"}
        assert login(client, f"shopper{n}", headers=customer, **proxy).status_code == 200


def test_it_trusts_only_as_many_forwarded_hops_as_configured(make_app, session, customer):
    client = make_app(
        trusted_proxies=1, login_address_failure_limit="2 per 15 minutes"
    ).test_client()
    # The client forges a first hop; the trusted proxy appends the address it saw.
    for forged in ("192.0.2.1", "192.0.2.2"):
        headers = {"X-Forwarded-For": f"{forged}, 203.0.113.66"}
        assert login(client, "casey", "wrong", headers=headers).status_code == 401
    headers = {"X-Forwarded-For": "192.0.2.3, 203.0.113.66"}
    assert_error(login(client, "casey", headers=headers), 429, "rate_limited")


def test_it_throttles_failures_on_the_sign_in_page_like_the_api(make_app, session, customer):
    client = make_app(login_failure_limit="3 per 15 minutes").test_client()
    token = CSRF_META.search(client.get("/login").get_data(as_text=True)).group(1)

    def form(password: str):
        data = {"username": "casey", "password": password, "csrf_token": token}
        return client.post("/login", data=data)

    for _ in range(3):
        assert form("wrong-password").status_code == 401
    locked = form("password123")
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins for this username" in locked.get_data(as_text=True)
    assert_error(login(client, "casey"), 429, "rate_limited")  # one budget for both doors


def test_it_lets_many_people_sign_in_through_the_page_from_one_address(client, session):
    for n in range(40):
        make_user(session, "customer", username=f"shopper{n}")
    for n in range(40):
        page = client.get("/login")
        token = CSRF_META.search(page.get_data(as_text=True)).group(1)
        data = {"username": f"shopper{n}", "password": "password123", "csrf_token": token}
        assert client.post("/login", data=data).status_code == 302
        client.post("/logout", data={"csrf_token": _token(client)})


def _token(client) -> str:
    return CSRF_META.search(client.get("/products").get_data(as_text=True)).group(1)


@pytest.mark.parametrize("path", ["/api/v1/register", "/register"])
def test_it_limits_registrations_per_address_by_its_setting(make_app, path):
    client = make_app(register_rate_limit="2 per minute").test_client()
    answers = []
    for n in range(3):
        account = {"username": f"newbie{n}", "password": "password123",
                   "email": f"n{n}@example.com"}  # fmt: skip
        if path == "/register":
            token = CSRF_META.search(client.get("/register").get_data(as_text=True)).group(1)
            data = {**account, "password_confirm": "password123", "csrf_token": token}
            answers.append(client.post(path, data=data).status_code)
            client.post("/logout", data={"csrf_token": _token(client)})
        else:
            answers.append(client.post(path, json=account).status_code)
    assert answers[:2] == ([302, 302] if path == "/register" else [201, 201])
    assert answers[2] == 429
