"""Sessions: a new one at every sign-in, and sign-out, a new password or deactivation end
every other session and API token of the user; users change their password, admins set one."""

from __future__ import annotations

import json
import re

from flask.sessions import SecureCookieSessionInterface

from app.services.users import set_user_active
from tests.builders import make_product
from tests.conftest import bearer, csrf_token, sign_in
from tests.views.conftest import text


def cookie_of(app, client) -> dict[str, object]:
    """The session as the browser holds it (decoded with the app's key)."""
    cookie = client.get_cookie("backroom_session")
    assert cookie is not None
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    return dict(serializer.loads(cookie.value))


def signed_in(client) -> bool:
    return "Sign out" in text(client.get("/products"))


def test_it_starts_a_new_session_at_sign_in_keeping_only_the_cart(app, client, customer, session):
    product = make_product(session)
    anonymous_token = csrf_token(client)
    client.post("/cart/add", data={"csrf_token": anonymous_token, "product_id": str(product.id)})
    with client.session_transaction() as before:
        before["planted"] = "by an attacker"
    token = sign_in(client, customer)
    state = cookie_of(app, client)
    assert "planted" not in state
    assert state["cart"] == {str(product.id): 1}
    assert token != anonymous_token  # the form token of the old session is gone too
    forged = client.post("/cart/add", data={"csrf_token": anonymous_token,
                                            "product_id": str(product.id)})  # fmt: skip
    assert forged.status_code == 400


def test_signing_out_ends_every_other_session_and_token(app, customer):
    laptop, phone, script = app.test_client(), app.test_client(), app.test_client()
    sign_in(laptop, customer)
    sign_in(phone, customer)
    headers = bearer(script, customer)
    assert signed_in(laptop)
    assert signed_in(phone)
    laptop.post("/logout", data={"csrf_token": csrf_token(laptop)})
    assert not signed_in(laptop)
    assert not signed_in(phone)
    assert script.get("/api/v1/orders", headers=headers).status_code == 401
    sign_in(phone, customer)  # a new sign-in works as ever
    assert signed_in(phone)


def test_a_form_token_from_before_sign_out_is_refused(client, customer):
    token = sign_in(client, customer)
    client.post("/logout", data={"csrf_token": token})
    sign_in(client, customer)
    refused = client.post("/logout", data={"csrf_token": token})
    assert refused.status_code == 400
    assert signed_in(client)


def test_deactivating_an_account_ends_its_sessions_for_good(app, session, customer, admin):
    browser = app.test_client()
    sign_in(browser, customer)
    set_user_active(session, customer.id, active=False, actor=admin)
    assert not signed_in(browser)
    set_user_active(session, customer.id, active=True, actor=admin)
    assert not signed_in(browser)  # reactivation revives no old session


def test_a_customer_changes_their_password_and_stays_signed_in_here_only(app, customer):
    here, there, script = app.test_client(), app.test_client(), app.test_client()
    sign_in(there, customer)
    headers = bearer(script, customer)
    token = sign_in(here, customer)
    page = text(here.get("/account/password"))
    assert 'name="current_password"' in page
    assert "signs you out on every" in page
    response = here.post("/account/password", data={
        "csrf_token": token, "current_password": "password123",
        "password": "brand-new-secret", "password_confirm": "brand-new-secret",
    })  # fmt: skip
    assert response.status_code == 302
    assert "Your password is changed" in text(here.get(response.headers["Location"]))
    assert signed_in(here)
    assert not signed_in(there)
    assert script.get("/api/v1/orders", headers=headers).status_code == 401
    assert script.post("/api/v1/auth/token", json={"username": "casey",
                       "password": "brand-new-secret"}).status_code == 200  # fmt: skip
    assert script.post("/api/v1/auth/token", json={"username": "casey",
                       "password": "password123"}).status_code == 401  # fmt: skip


def test_it_refuses_a_wrong_current_password_and_changes_nothing(app, client, customer):
    token = sign_in(client, customer)
    response = client.post("/account/password", data={
        "csrf_token": token, "current_password": "not-my-password",
        "password": "brand-new-secret", "password_confirm": "brand-new-secret",
    })  # fmt: skip
    assert response.status_code == 422
    assert "Current password is wrong" in text(response)
    assert "your password is unchanged" in text(response)
    other = app.test_client()
    assert other.post("/api/v1/auth/token", json={"username": "casey",
                      "password": "password123"}).status_code == 200  # fmt: skip


def test_wrong_current_passwords_count_as_failed_sign_ins(make_app, customer):
    client = make_app(login_failure_limit="2 per 15 minutes").test_client()
    token = sign_in(client, customer)
    form = {"csrf_token": token, "password": "brand-new-secret",
            "password_confirm": "brand-new-secret"}  # fmt: skip
    for _ in range(2):
        wrong = client.post("/account/password", data={**form, "current_password": "guess"})
        assert wrong.status_code == 422
    locked = client.post("/account/password", data={**form, "current_password": "password123"})
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins for this username. Try again in about 15 minutes." in text(
        locked
    )


def test_it_names_each_problem_with_the_new_password(client, customer):
    token = sign_in(client, customer)
    base = {"csrf_token": token, "current_password": "password123"}
    short = client.post(
        "/account/password", data={**base, "password": "short", "password_confirm": "short"}
    )
    assert short.status_code == 422
    assert "New password must have at least 8 characters" in text(short)
    mismatch = {"password": "brand-new-secret", "password_confirm": "brand-new-secreT"}
    differ = client.post("/account/password", data={**base, **mismatch})
    assert differ.status_code == 422
    assert "Repeat the new password does not match" in text(differ)


def test_the_password_page_needs_a_signed_in_user(client):
    response = client.get("/account/password")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/account/password")


def test_the_nav_links_the_users_name_to_the_password_page(client, customer):
    sign_in(client, customer)
    page = text(client.get("/products"))
    assert re.search(r'<a class="who-name" href="/account/password"[^>]*>', page)


def test_an_admin_sets_a_new_password_and_signs_the_user_out(app, client, admin, customer):
    browser = app.test_client()
    sign_in(browser, customer)
    token = sign_in(client, admin)
    users = text(client.get("/admin/users"))
    assert f'href="/admin/users/{customer.id}/password"' in users
    assert 'href="/account/password">Change password' in users  # their own row
    form = text(client.get(f"/admin/users/{customer.id}/password"))
    assert "Set a new password for casey" in form
    response = client.post(f"/admin/users/{customer.id}/password", data={
        "csrf_token": token, "password": "reset-by-admin", "password_confirm": "reset-by-admin",
    })  # fmt: skip
    assert response.status_code == 302
    assert "casey has a new password" in text(client.get("/admin/users"))
    assert not signed_in(browser)
    api = app.test_client()
    assert api.post("/api/v1/auth/token", json={"username": "casey",
                    "password": "reset-by-admin"}).status_code == 200  # fmt: skip


def test_an_admin_gets_each_problem_with_the_password_named(client, admin, customer):
    token = sign_in(client, admin)
    url = f"/admin/users/{customer.id}/password"
    short = client.post(url, data={"csrf_token": token, "password": "short",
                                   "password_confirm": "short"})  # fmt: skip
    assert short.status_code == 422
    assert "must have at least 8 characters" in text(short)
    differ = client.post(url, data={"csrf_token": token, "password": "long-enough-1",
                                    "password_confirm": "long-enough-2"})  # fmt: skip
    assert differ.status_code == 422
    assert client.get("/admin/users/999999/password").status_code == 404


def test_only_admins_set_other_peoples_passwords(client, session, customer):
    from tests.builders import make_user

    support = make_user(session, "support", username="sam")
    token = sign_in(client, support)
    assert client.get(f"/admin/users/{customer.id}/password").status_code == 403
    refused = client.post(
        f"/admin/users/{customer.id}/password",
        data={
            "csrf_token": token,
            "password": "hijacked-pass",
            "password_confirm": "hijacked-pass",
        },
    )
    assert refused.status_code == 403


def test_the_session_cookie_carries_the_users_epoch(app, client, customer):
    sign_in(client, customer)
    assert json.dumps(cookie_of(app, client)["epoch"]) == "0"


def test_it_names_every_problem_at_once(client, customer):
    token = sign_in(client, customer)
    response = client.post("/account/password", data={
        "csrf_token": token, "current_password": "wrong", "password": "short",
        "password_confirm": "other",
    })  # fmt: skip
    page = text(response)
    assert response.status_code == 422
    assert "Current password is wrong" in page
    assert "New password must have at least 8 characters" in page
    assert "Repeat the new password does not match" in page


def test_it_refuses_the_current_password_as_the_new_one(app, client, customer):
    headers = bearer(app.test_client(), customer)
    token = sign_in(client, customer)
    response = client.post("/account/password", data={
        "csrf_token": token, "current_password": "password123", "password": "password123",
        "password_confirm": "password123",
    })  # fmt: skip
    assert response.status_code == 422
    assert "New password must differ from your current password" in text(response)
    assert app.test_client().get("/api/v1/orders", headers=headers).status_code == 200


def test_a_session_ended_elsewhere_is_told_why_on_the_sign_in_page(app, customer):
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, customer)
    sign_in(phone, customer)
    laptop.post("/logout", data={"csrf_token": csrf_token(laptop)})
    assert "signed out, here and on your other devices" in text(laptop.get("/login"))
    moved = phone.get("/orders")
    assert moved.status_code == 302
    page = text(phone.get(moved.headers["Location"]))
    assert "You were signed out. That happens when you sign out on another device" in page


def test_an_admins_reset_lets_a_locked_out_user_back_in(make_app, session, admin, customer):
    app = make_app(login_failure_limit="3 per 15 minutes")
    api, browser = app.test_client(), app.test_client()
    wrong = {"username": "casey", "password": "nope-nope"}
    for _ in range(3):
        assert api.post("/api/v1/auth/token", json=wrong).status_code == 401
    locked = api.post("/api/v1/auth/token", json={"username": "casey", "password": "password123"})
    assert locked.status_code == 429
    token = sign_in(browser, admin)
    browser.post(
        f"/admin/users/{customer.id}/password",
        data={
            "csrf_token": token,
            "password": "fresh-start-1",
            "password_confirm": "fresh-start-1",
        },
    )
    back = api.post("/api/v1/auth/token", json={"username": "casey", "password": "fresh-start-1"})
    assert back.status_code == 200


def test_an_admin_is_sent_to_their_own_password_page(client, admin):
    token = sign_in(client, admin)
    for response in (
        client.get(f"/admin/users/{admin.id}/password"),
        client.post(f"/admin/users/{admin.id}/password", data={
            "csrf_token": token, "password": "no-current-needed",
            "password_confirm": "no-current-needed"}),
    ):  # fmt: skip
        assert response.status_code == 302
        assert response.headers["Location"] == "/account/password"
    assert signed_in(client)  # nothing was changed


def test_the_reset_form_says_when_the_account_is_deactivated(client, session, admin, customer):
    set_user_active(session, customer.id, active=False, actor=admin)
    sign_in(client, admin)
    page = text(client.get(f"/admin/users/{customer.id}/password"))
    assert "This account is deactivated" in page
