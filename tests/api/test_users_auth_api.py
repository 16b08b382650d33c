"""POST /api/v1/auth/token and bearer tokens (CONTRACT §3.1)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import itsdangerous.timed
import pytest
from itsdangerous import URLSafeTimedSerializer

from app.models.users import User
from app.services.users import issue_token, set_password, set_user_active
from tests.api.helpers import assert_error
from tests.builders import make_user
from tests.conftest import bearer

TOKEN = "/api/v1/auth/token"


def login(client, username, password="password123"):
    return client.post(TOKEN, json={"username": username, "password": password})


def test_it_issues_a_token_with_the_user(client, customer):
    response = login(client, "casey")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"token", "user"}
    assert body["user"] == {"id": customer.id, "username": "casey", "role": "customer"}
    assert isinstance(body["token"], str)
    assert len(body["token"]) > 20


def test_it_accepts_the_token_as_a_bearer_credential(client, customer):
    token = login(client, "casey").get_json()["token"]
    response = client.get("/api/v1/store-credit", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.get_json()["balance_cents"] == 0


def test_it_refuses_a_wrong_password_with_401(client, customer):
    assert_error(login(client, "casey", "wrong-password"), 401, "unauthorized")


def test_it_refuses_an_unknown_username_like_a_wrong_password(client, customer):
    unknown = assert_error(login(client, "nobody-here"), 401, "unauthorized")
    wrong = assert_error(login(client, "casey", "wrong-password"), 401, "unauthorized")
    assert unknown == wrong


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "casey"},
        {"password": "password123"},
        {"username": 5, "password": "password123"},
        {"username": "casey", "password": ["password123"]},
    ],
)
def test_it_answers_a_token_request_without_credentials_with_422(client, customer, body):
    error = assert_error(client.post(TOKEN, json=body), 422, "validation_error")
    assert error["details"]["fields"]


def test_it_answers_a_json_token_request_that_is_not_an_object_with_400(client):
    response = client.post(TOKEN, data='["casey"]', content_type="application/json")
    assert_error(response, 400, "bad_request")


def test_it_locks_a_username_after_ten_failures_even_for_the_right_password(client, customer):
    for _ in range(10):
        assert login(client, "casey", "wrong-password").status_code == 401
    response = login(client, "casey")
    error = assert_error(response, 429, "rate_limited")
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 15 * 60
    assert error["details"]["retry_after"] == retry_after


def test_it_counts_failures_per_username_case_insensitively(client, customer):
    for _ in range(10):
        login(client, "CASEY", "wrong-password")
    assert_error(login(client, "casey"), 429, "rate_limited")


def test_it_leaves_other_usernames_unaffected_by_a_lock(client, session, customer):
    make_user(session, "customer", username="other")
    for _ in range(10):
        login(client, "casey", "wrong-password")
    assert login(client, "other").status_code == 200
    assert_error(login(client, "casey"), 429, "rate_limited")


def test_it_allows_nine_failures_then_a_good_sign_in(client, customer):
    for _ in range(9):
        login(client, "casey", "wrong-password")
    assert login(client, "casey").status_code == 200


def test_it_lifts_the_lock_when_the_window_has_passed(make_app, customer):
    client = make_app(login_failure_limit="3 per 1 second").test_client()
    for _ in range(3):
        assert login(client, "casey", "wrong-password").status_code == 401
    assert_error(login(client, "casey"), 429, "rate_limited")
    time.sleep(1.1)
    assert login(client, "casey").status_code == 200


def test_it_refuses_a_token_to_a_deactivated_user(client, session, customer, admin):
    set_user_active(session, customer.id, active=False, actor=admin)
    assert_error(login(client, "casey"), 401, "unauthorized")


def test_it_stops_honouring_the_token_of_a_deactivated_user(client, session, customer, admin):
    headers = bearer(client, customer)
    assert client.get("/api/v1/orders", headers=headers).status_code == 200
    set_user_active(session, customer.id, active=False, actor=admin)
    assert_error(client.get("/api/v1/orders", headers=headers), 401, "unauthorized")


def test_it_rejects_a_token_issued_before_the_password_changed(client, session, customer):
    headers = bearer(client, customer)
    set_password(session, customer.id, "a-brand-new-password")
    assert_error(client.get("/api/v1/orders", headers=headers), 401, "unauthorized")
    assert login(client, "casey", "a-brand-new-password").status_code == 200


def test_it_rejects_a_token_issued_before_an_admin_set_a_new_password(
    client, session, customer, admin
):
    headers = bearer(client, customer)
    set_password(session, customer.id, "reset-by-the-admin")
    assert_error(client.get("/api/v1/orders", headers=headers), 401, "unauthorized")


def test_it_keeps_a_deactivated_users_old_tokens_dead_after_reactivation(
    client, session, customer, admin
):
    headers = bearer(client, customer)
    set_user_active(session, customer.id, active=False, actor=admin)
    set_user_active(session, customer.id, active=True, actor=admin)
    assert_error(client.get("/api/v1/orders", headers=headers), 401, "unauthorized")
    assert client.get("/api/v1/orders", headers=bearer(client, customer)).status_code == 200


def test_it_puts_no_part_of_the_password_hash_into_a_token(client, session, customer):
    token = login(client, "casey").get_json()["token"]
    payload = URLSafeTimedSerializer("test-secret", salt="api-token").loads(token)
    stored = session.get(User, customer.id).password_hash
    assert set(payload) == {"uid", "ep"}
    assert not any(str(value) in stored for value in payload.values() if len(str(value)) > 3)


def test_it_rejects_an_expired_token(client, customer, monkeypatch):
    real = time.time
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real() - 2 * 24 * 3600)
    token = issue_token(customer, "test-secret")
    monkeypatch.undo()
    response = client.get("/api/v1/orders", headers={"Authorization": f"Bearer {token}"})
    assert_error(response, 401, "unauthorized")


def test_it_rejects_a_token_signed_with_another_secret(client, customer):
    token = issue_token(customer, "some-other-secret")
    response = client.get("/api/v1/orders", headers={"Authorization": f"Bearer {token}"})
    assert_error(response, 401, "unauthorized")


@pytest.mark.parametrize(
    "payload",
    [
        ["not", "a", "dict"],
        {"uid": "1"},
        {"ep": 0},
        {"uid": "me", "ep": "0"},
        {"uid": "me", "ep": False},
        {"uid": "me"},
    ],
)
def test_it_rejects_a_validly_signed_token_of_the_wrong_shape(client, customer, payload):
    if isinstance(payload, dict) and payload.get("uid") == "me":
        payload = {**payload, "uid": customer.id}
    token = URLSafeTimedSerializer("test-secret", salt="api-token").dumps(payload)
    response = client.get("/api/v1/orders", headers={"Authorization": f"Bearer {token}"})
    assert_error(response, 401, "unauthorized")


def test_it_rejects_the_token_of_a_user_that_no_longer_exists(client, customer):
    token = URLSafeTimedSerializer("test-secret", salt="api-token").dumps(
        {"uid": customer.id + 1000, "ep": 0}
    )
    response = client.get("/api/v1/orders", headers={"Authorization": f"Bearer {token}"})
    assert_error(response, 401, "unauthorized")


@pytest.mark.parametrize(
    "header",
    ["Basic Y2FzZXk6cGFzc3dvcmQxMjM=", "Bearer", "Bearer    ", "Token abc", "Bearer not-a-token"],
)
def test_it_answers_a_malformed_authorization_header_with_401(client, customer, header):
    response = client.get("/api/v1/orders", headers={"Authorization": header})
    assert_error(response, 401, "unauthorized")


def test_it_answers_a_protected_call_without_credentials_with_401(client):
    assert_error(client.get("/api/v1/orders"), 401, "unauthorized")
    assert_error(client.get("/api/v1/store-credit"), 401, "unauthorized")


def test_it_does_not_reach_the_database_with_a_nul_in_the_username(client, customer):
    assert_error(login(client, "ca\x00sey"), 401, "unauthorized")


class UnreachableLimiter:
    """A limiter whose storage is gone: every count raises."""

    def _down(self, *args, **kwargs):
        raise ConnectionError("limiter storage unreachable")

    hit = test = get_window_stats = _down


def test_it_fails_open_when_the_failure_counter_is_unreachable(client, customer, monkeypatch):
    """A limiter outage must not lock everyone out: failures go uncounted, sign-in works."""
    broken = SimpleNamespace(limiter=UnreachableLimiter())
    monkeypatch.setitem(client.application.extensions, "backroom.limiter", broken)
    for _ in range(12):
        assert login(client, "casey", "wrong-password").status_code == 401
    assert login(client, "casey").status_code == 200
