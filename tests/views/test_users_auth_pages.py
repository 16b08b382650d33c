import re

from tests.builders import make_user
from tests.conftest import csrf_token, sign_in
from tests.views.conftest import text


def test_it_shows_the_login_form_with_labelled_username_and_password(client):
    response = client.get("/login")
    html = text(response)
    assert response.status_code == 200
    assert '<label for="field-username">Username</label>' in html
    assert 'name="username"' in html
    assert '<label for="field-password">Password</label>' in html
    assert 'name="password" type="password"' in html
    assert '<meta name="csrf-token"' in html
    assert "includeIndicatorStyles" in html


def test_it_loads_scripts_with_the_csp_nonce_and_nothing_inline(client):
    response = client.get("/login")
    html = text(response)
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    assert f'src="/static/htmx-2.0.11.min.js" nonce="{nonce}"' in html
    assert f'src="/static/app.js" nonce="{nonce}"' in html
    assert re.search(r"<script(?![^>]*\ssrc=)", html) is None
    assert " style=" not in html
    assert "hx-on" not in html
    assert "HX-Request" in response.headers["Vary"]


def test_it_signs_a_customer_in_and_sends_them_to_the_shop(client, customer):
    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"username": "casey", "password": "password123", "csrf_token": token}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/products"
    page = text(client.get("/products"))
    assert "Welcome back" in page
    assert "Sign out" in page


def test_it_sends_staff_to_the_staff_home(client, support):
    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"username": "sam", "password": "password123", "csrf_token": token}
    )
    assert response.headers["Location"] == "/staff"


def test_it_follows_a_local_next_but_not_another_site(client, customer):
    token = csrf_token(client, "/login")
    form = {"username": "casey", "password": "password123", "csrf_token": token}
    response = client.post("/login", data={**form, "next": "/cart"})
    assert response.headers["Location"] == "/cart"
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={**form, "csrf_token": token, "next": "https://evil.example/"}
    )
    assert response.headers["Location"] == "/products"


def test_it_keeps_the_next_target_in_the_login_form(client):
    html = text(client.get("/login?next=/cart"))
    assert 'name="next" value="/cart"' in html


def test_it_says_wrong_username_or_password_and_keeps_the_username(client, customer):
    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"username": "casey", "password": "nope-nope", "csrf_token": token}
    )
    html = text(response)
    assert response.status_code == 401
    assert "Wrong username or password." in html
    assert 'value="casey"' in html


def test_it_refuses_a_login_post_without_a_csrf_token(client, customer):
    response = client.post("/login", data={"username": "casey", "password": "password123"})
    assert response.status_code == 400
    assert "form expired" in text(response)


def test_it_redirects_a_signed_in_user_away_from_the_login_page(client, customer):
    sign_in(client, customer)
    response = client.get("/login")
    assert response.status_code == 302
    assert response.headers["Location"] == "/products"


def test_it_signs_out_from_the_nav_button(client, customer):
    token = sign_in(client, customer)
    assert 'action="/logout"' in text(client.get("/products"))
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    page = text(client.get("/products"))
    assert "Sign in" in page
    assert "Sign out" not in page


def test_it_shows_the_registration_form(client):
    html = text(client.get("/register"))
    for name in ("username", "email", "password", "password_confirm"):
        assert f'for="field-{name}"' in html


def test_it_registers_a_customer_and_signs_them_in(client, session):
    token = csrf_token(client, "/register")
    response = client.post(
        "/register",
        data={
            "username": "newbie",
            "email": "newbie@example.com",
            "password": "longenough",
            "password_confirm": "longenough",
            "csrf_token": token,
        },
    )
    assert response.status_code == 302
    page = text(client.get(response.headers["Location"]))
    assert "Your account is ready" in page
    assert "newbie" in page


def test_it_shows_registration_problems_next_to_the_fields(client):
    token = csrf_token(client, "/register")
    response = client.post(
        "/register",
        data={
            "username": "x",
            "email": "not-an-email",
            "password": "short",
            "password_confirm": "short",
            "csrf_token": token,
        },
    )
    html = text(response)
    assert response.status_code == 422
    assert 'id="field-username-error"' in html
    assert "Password must have at least 8 characters" in html
    assert 'aria-invalid="true"' in html
    assert 'value="not-an-email"' in html


def test_it_says_when_the_passwords_differ(client):
    token = csrf_token(client, "/register")
    response = client.post(
        "/register",
        data={
            "username": "someone",
            "email": "s@example.com",
            "password": "longenough",
            "password_confirm": "different1",
            "csrf_token": token,
        },
    )
    assert response.status_code == 422
    assert "Repeat the password does not match the password" in text(response)


def test_it_says_when_the_username_is_taken(client, session):
    make_user(session, "customer", username="taken")
    token = csrf_token(client, "/register")
    response = client.post(
        "/register",
        data={
            "username": "taken",
            "email": "t@example.com",
            "password": "longenough",
            "password_confirm": "longenough",
            "csrf_token": token,
        },
    )
    assert response.status_code == 409
    assert "that username is taken" in text(response)
