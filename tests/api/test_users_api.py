"""POST /api/v1/users (admin) and POST /api/v1/register (anyone), CONTRACT §3.2."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models.users import User
from tests.api.helpers import assert_error, order_body, order_count
from tests.builders import make_product
from tests.conftest import bearer

USERS = "/api/v1/users"
REGISTER = "/api/v1/register"


def staff_body(**changes):
    return {"username": "wendy", "password": "long-password", "role": "warehouse", **changes}


def users_named(session, username):
    session.expire_all()
    return session.scalars(select(User).where(User.username == username)).all()


def test_it_lets_an_admin_create_a_staff_account(client, session, admin_headers):
    body = staff_body(name="Wendy W", email="wendy@example.com")
    response = client.post(USERS, json=body, headers=admin_headers)
    assert response.status_code == 201
    created = response.get_json()
    assert set(created) == {"id", "username", "role"}
    assert created["username"] == "wendy"
    assert created["role"] == "warehouse"
    user = session.scalars(select(User).where(User.username == "wendy")).one()
    assert (user.id, user.name, user.email, user.active) == (
        created["id"],
        "Wendy W",
        "wendy@example.com",
        True,
    )
    assert user.password_hash != "long-password"


def test_it_lets_the_new_account_sign_in(client, admin_headers):
    client.post(USERS, json=staff_body(), headers=admin_headers)
    response = client.post(
        "/api/v1/auth/token", json={"username": "wendy", "password": "long-password"}
    )
    assert response.status_code == 200
    assert response.get_json()["user"]["role"] == "warehouse"


def test_it_refuses_account_creation_to_a_customer_with_403(client, session, customer_headers):
    assert_error(client.post(USERS, json=staff_body(), headers=customer_headers), 403, "forbidden")
    assert session.scalars(select(User).where(User.username == "wendy")).first() is None


def test_it_refuses_account_creation_to_staff_other_than_admin(client, session, support_headers):
    assert_error(client.post(USERS, json=staff_body(), headers=support_headers), 403, "forbidden")
    assert users_named(session, "wendy") == []


def test_it_refuses_anonymous_account_creation_with_401(client, session):
    assert_error(client.post(USERS, json=staff_body()), 401, "unauthorized")
    assert users_named(session, "wendy") == []


def test_it_answers_a_taken_username_with_409(client, session, admin, admin_headers):
    response = client.post(USERS, json=staff_body(username="ada"), headers=admin_headers)
    assert_error(response, 409, "username_taken")
    [ada] = users_named(session, "ada")  # still one account, still the admin it was
    assert (ada.id, ada.role) == (admin.id, "admin")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"password": "short"}, "password"),
        ({"password": "x" * 300}, "password"),
        ({"role": "superuser"}, "role"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a\x00b@example.com"}, "email"),
        ({"username": "no spaces allowed"}, "username"),
        ({"username": "ab"}, "username"),
        ({"name": "n" * 121}, "name"),
        ({"name": "nul\x00name"}, "name"),
        ({"username": None}, "username"),
        ({"role": 3}, "role"),
        ({"email": ["a@b.co"]}, "email"),
    ],
)
def test_it_names_each_bad_field_with_422(client, session, admin_headers, changes, field):
    response = client.post(USERS, json=staff_body(**changes), headers=admin_headers)
    error = assert_error(response, 422, "validation_error")
    assert set(error["details"]["fields"]) == {field}
    assert users_named(session, changes.get("username") or "wendy") == []


def test_it_reports_every_bad_field_at_once(client, admin_headers):
    body = {"username": "x", "password": "short", "role": "king", "email": "nope"}
    error = assert_error(
        client.post(USERS, json=body, headers=admin_headers), 422, "validation_error"
    )
    assert set(error["details"]["fields"]) == {"username", "password", "role", "email"}


def test_it_registers_a_customer(client, session):
    body = {"username": "newbie", "password": "eight-ch", "email": "newbie@example.com"}
    response = client.post(REGISTER, json=body)
    assert response.status_code == 201
    created = response.get_json()
    assert created["username"] == "newbie"
    assert created["role"] == "customer"
    user = session.scalars(select(User).where(User.username == "newbie")).one()
    assert (user.id, user.role, user.email) == (created["id"], "customer", "newbie@example.com")


def test_it_ignores_a_role_sent_to_register(client, session):
    body = {"username": "sneaky", "password": "password123", "email": "s@example.com"}
    response = client.post(REGISTER, json={**body, "role": "admin"})
    assert response.status_code == 201
    assert response.get_json()["role"] == "customer"
    [user] = users_named(session, "sneaky")
    assert user.role == "customer"


def test_it_lets_a_registered_customer_order_with_a_token(client, session):
    client.post(REGISTER, json={"username": "newbie", "password": "eight-ch", "email": "n@e.co"})
    token = client.post(
        "/api/v1/auth/token", json={"username": "newbie", "password": "eight-ch"}
    ).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    product = make_product(session, stock=5)
    placed = client.post("/api/v1/orders", json=order_body((product.id, 1)), headers=headers)
    assert placed.status_code == 201
    [newbie] = users_named(session, "newbie")
    assert placed.get_json()["customer_id"] == newbie.id
    assert order_count(session) == 1
    listed = client.get("/api/v1/orders", headers=headers).get_json()
    assert [order["id"] for order in listed["items"]] == [placed.get_json()["id"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "newbie", "password": "seven77", "email": "n@e.co"}, "password"),
        ({"username": "newbie", "password": "password123"}, "email"),
        ({"username": "newbie", "password": "password123", "email": ""}, "email"),
        ({"password": "password123", "email": "n@e.co"}, "username"),
        ({"username": "newbie", "password": 12345678, "email": "n@e.co"}, "password"),
    ],
)
def test_it_refuses_a_bad_registration_with_422(client, session, body, field):
    error = assert_error(client.post(REGISTER, json=body), 422, "validation_error")
    assert set(error["details"]["fields"]) == {field}
    assert users_named(session, "newbie") == []


def test_it_refuses_to_register_a_taken_username_with_409(client, session, customer):
    body = {"username": "casey", "password": "password123", "email": "c@e.co"}
    assert_error(client.post(REGISTER, json=body), 409, "username_taken")
    [casey] = users_named(session, "casey")  # the existing account is untouched
    assert (casey.id, casey.email) == (customer.id, "customer@example.com")


def test_it_answers_a_register_body_that_is_not_an_object_with_400(client):
    assert_error(client.post(REGISTER, json=["newbie"]), 400, "bad_request")


def test_it_allows_registration_with_a_bearer_token_and_no_csrf(client, session, customer):
    body = {"username": "friend", "password": "password123", "email": "f@e.co"}
    response = client.post(REGISTER, json=body, headers=bearer(client, customer))
    assert response.status_code == 201
    [friend] = users_named(session, "friend")
    assert (friend.id, friend.role) == (response.get_json()["id"], "customer")
