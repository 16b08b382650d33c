"""Accounts: creation, sign-in, tokens, deactivation."""

from __future__ import annotations

import pytest
from sqlalchemy import select

import app.services.users as users
from app.errors import Conflict, NotFound, ValidationError
from app.models.users import User
from app.services.users import (
    Person,
    authenticate,
    create_user,
    display_name,
    end_sessions,
    ensure_admin,
    get_user,
    issue_token,
    list_users,
    people_by_id,
    register_customer,
    set_password,
    set_user_active,
    user_for_token,
)
from tests.builders import make_user

SECRET = "s3cret"


def test_it_creates_an_account_with_a_hashed_password(session):
    user = create_user(
        session,
        username=" dora ",
        password="password123",
        role="finance",
        name=" D ",
        email="d@e.co",
    )
    assert (user.username, user.role, user.name, user.email, user.active) == (
        "dora",
        "finance",
        "D",
        "d@e.co",
        True,
    )
    assert "password123" not in user.password_hash
    assert user.is_staff
    assert user.has_role("finance")
    assert not user.has_role("support")


def test_it_lets_an_admin_have_every_role(session, admin):
    assert admin.has_role("support", "warehouse")
    assert not make_user(session, "customer").is_staff


def test_it_refuses_a_taken_username(session, customer):
    with pytest.raises(Conflict) as caught:
        make_user(session, "customer", username="casey")
    assert caught.value.code == "username_taken"


def test_it_turns_a_racing_duplicate_username_into_username_taken(session, customer, monkeypatch):
    monkeypatch.setattr(users, "find_user", lambda *a: None)
    with pytest.raises(Conflict) as caught:
        make_user(session, "customer", username="casey")
    assert caught.value.code == "username_taken"


def test_it_requires_an_email_to_register(session):
    with pytest.raises(ValidationError) as caught:
        register_customer(session, username="newbie", password="password123", email="")
    assert set(caught.value.fields) == {"email"}
    user = register_customer(session, username="newbie", password="password123", email="n@e.co")
    assert user.role == "customer"


def test_it_authenticates_only_the_right_password_of_an_active_user(session, customer, admin):
    assert authenticate(session, "casey", "password123").id == customer.id
    assert authenticate(session, " casey ", "password123").id == customer.id
    assert authenticate(session, "casey", "wrong") is None
    assert authenticate(session, "nobody", "password123") is None
    assert authenticate(session, "", "password123") is None
    set_user_active(session, customer.id, active=False, actor=admin)
    assert authenticate(session, "casey", "password123") is None


def test_it_round_trips_a_token(session, customer):
    token = issue_token(customer, SECRET)
    assert user_for_token(session, token, SECRET, max_age=60).id == customer.id
    assert user_for_token(session, token, "other", max_age=60) is None
    assert user_for_token(session, token + "x", SECRET, max_age=60) is None


def test_it_revokes_tokens_when_deactivated_for_good(session, customer, admin):
    token = issue_token(customer, SECRET)
    set_user_active(session, customer.id, active=False, actor=admin)
    assert user_for_token(session, token, SECRET, max_age=60) is None
    reactivated = set_user_active(session, customer.id, active=True, actor=admin)
    assert user_for_token(session, token, SECRET, max_age=60) is None
    fresh = issue_token(reactivated, SECRET)
    assert user_for_token(session, fresh, SECRET, max_age=60).id == customer.id


def test_it_ends_every_token_when_the_sessions_end(session, customer):
    tokens = [issue_token(customer, SECRET) for _ in range(3)]
    epoch = end_sessions(session, customer.id)
    assert epoch == 1
    assert [user_for_token(session, t, SECRET, max_age=60) for t in tokens] == [None] * 3
    assert end_sessions(session, customer.id) == 2


def test_it_sets_a_new_password_and_ends_the_old_tokens(session, customer):
    token = issue_token(customer, SECRET)
    user = set_password(session, customer.id, "a-new-password")
    assert authenticate(session, "casey", "a-new-password").id == customer.id
    assert authenticate(session, "casey", "password123") is None
    assert user_for_token(session, token, SECRET, max_age=60) is None
    assert user.session_epoch == 1


@pytest.mark.parametrize(("password", "problem"), [("short", "at least 8"), ("x" * 257, "256")])
def test_it_refuses_a_weak_new_password_and_keeps_the_old_one(session, customer, password, problem):
    token = issue_token(customer, SECRET)
    with pytest.raises(ValidationError) as refused:
        set_password(session, customer.id, password)
    assert problem in refused.value.fields["password"]
    assert authenticate(session, "casey", "password123").id == customer.id
    assert user_for_token(session, token, SECRET, max_age=60).id == customer.id


def test_it_refuses_a_new_password_for_nobody(session):
    with pytest.raises(NotFound):
        set_password(session, 2**30, "long-enough-password")


def test_it_refuses_to_let_an_admin_deactivate_themselves(session, admin):
    with pytest.raises(ValidationError) as caught:
        set_user_active(session, admin.id, active=False, actor=admin)
    assert set(caught.value.fields) == {"active"}
    session.refresh(admin)
    assert admin.active
    assert set_user_active(session, admin.id, active=True, actor=admin).active


def test_it_answers_a_missing_user_with_not_found(session, admin):
    for user_id in (99999, 0, 2**40):
        with pytest.raises(NotFound):
            get_user(session, user_id)
    with pytest.raises(NotFound):
        set_user_active(session, 99999, active=False, actor=admin)


def test_it_lists_users_by_role_then_name(session):
    make_user(session, "support", username="zed")
    make_user(session, "admin", username="amy")
    make_user(session, "customer", username="bob")
    page = list_users(session)
    assert [(u.role, u.username) for u in page.items] == [
        ("admin", "amy"),
        ("customer", "bob"),
        ("support", "zed"),
    ]
    assert (page.total, page.page, page.per_page) == (3, 1, 50)


def test_it_creates_the_start_up_admin_once(session):
    assert ensure_admin(session, "boss", "long-password") is True
    assert ensure_admin(session, "boss", "long-password") is False
    assert session.scalars(select(User).where(User.username == "boss")).one().role == "admin"


def test_it_treats_a_racing_start_up_admin_as_existing(session, monkeypatch):
    make_user(session, "admin", username="boss")
    monkeypatch.setattr(users, "find_user", lambda *a: None)
    assert ensure_admin(session, "boss", "long-password") is False


def test_it_presents_accounts_to_flask_login(session, customer, admin):
    assert (customer.is_authenticated, customer.is_anonymous, customer.get_id()) == (
        True,
        False,
        str(customer.id),
    )
    assert customer.is_active
    set_user_active(session, customer.id, active=False, actor=admin)
    assert not customer.is_active


@pytest.mark.parametrize(
    ("username", "name", "shown", "for_staff"),
    [
        ("casey", "Casey Customer", "Casey Customer", "Casey Customer (casey)"),
        ("dana", "", "dana", "dana"),
        ("dana", "   ", "dana", "dana"),  # a blank name is no name
        ("lee", "lee", "lee", "lee"),  # never "lee (lee)"
        ("sam", "  Sam  ", "Sam", "Sam (sam)"),
    ],
)
def test_display_name_is_the_name_given_else_the_username(username, name, shown, for_staff):
    person = Person(username, name)
    assert display_name(person) == shown
    assert display_name(person, with_username=True) == for_staff


def test_display_name_reads_a_user_the_same_way(session):
    user = create_user(
        session, username="casey", password="password123", role="customer", name="Casey C"
    )
    assert display_name(user, with_username=True) == "Casey C (casey)"
    assert display_name(make_user(session, username="dana")) == "dana"


def test_people_by_id_reads_names_in_one_query(session):
    named = create_user(
        session, username="casey", password="password123", role="customer", name="Casey C"
    )
    plain = make_user(session, username="dana")
    found = people_by_id(session, [plain.id, named.id, named.id, 10**9])
    assert found == {named.id: Person("casey", "Casey C"), plain.id: Person("dana", "")}
    assert people_by_id(session, []) == {}
