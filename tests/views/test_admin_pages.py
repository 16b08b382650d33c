import pytest
from sqlalchemy import select

from app.models.catalog import Product
from app.models.users import User
from app.services.catalog import ProductInput, update_product
from tests.builders import make_product, make_user
from tests.conftest import csrf_token, sign_in
from tests.views.conftest import HX, text

PRODUCT_FORM = {
    "name": "Walnut Tray",
    "sku": "TRAY-1",
    "price": "12.99",
    "stock": "7",
    "category": "Home",
    "description": "A tray.",
    "image_url": "",
    "active": "1",
}


@pytest.fixture
def token(client, admin):
    return sign_in(client, admin)


# Access ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/admin/products", "/admin/users", "/admin/products/new"])
def test_it_sends_anonymous_visitors_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?next={path}"


def test_it_sends_an_anonymous_post_to_sign_in_and_back_to_its_path(client):
    response = client.post("/admin/products", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/admin/products"


def test_it_falls_back_to_the_request_path_for_htmx_without_a_current_url(client):
    response = client.get("/admin/users", headers={**HX, "HX-Current-URL": "about:blank"})
    assert response.headers["HX-Redirect"] == "/login?next=/admin/users"


def test_it_forbids_a_customer_the_admin_pages(client, customer):
    sign_in(client, customer)
    assert client.get("/admin/products").status_code == 403
    assert client.get("/admin/users").status_code == 403


def test_it_forbids_staff_who_are_not_admins(client, session, support):
    token = sign_in(client, support)
    product = make_product(session)
    response = client.post(
        f"/admin/products/{product.id}/active", data={"active": "0", "csrf_token": token}
    )
    assert response.status_code == 403
    session.refresh(product)
    assert product.active


# Products -------------------------------------------------------------------------------


def test_it_lists_products_including_inactive_ones(client, session, token):
    make_product(session, name="Shown Thing")
    hidden = make_product(session, name="Hidden Thing")
    update_product(session, hidden.id, ProductInput(active=False))
    html = text(client.get("/admin/products"))
    assert "Shown Thing" in html
    assert "Hidden Thing" in html
    assert "Inactive" in html
    assert "Active" in html


def test_it_searches_products_with_an_htmx_partial(client, session, token):
    make_product(session, name="Copper Pot")
    make_product(session, name="Steel Pan")
    response = client.get("/admin/products?q=copper", headers=HX)
    html = text(response)
    assert html.lstrip().startswith('<section id="admin-products-table"')
    assert "Copper Pot" in html
    assert "Steel Pan" not in html


def test_it_shows_the_new_product_form_with_labels(client, token):
    html = text(client.get("/admin/products/new"))
    for name in ("name", "sku", "price", "stock", "category", "image_url", "description"):
        assert f'<label for="field-{name}">' in html
    assert 'id="field-active" name="active" type="checkbox" value="1" checked' in html


def test_it_creates_a_product_from_the_form(client, session, token):
    response = client.post("/admin/products", data={**PRODUCT_FORM, "csrf_token": token})
    assert response.status_code == 302
    product = session.scalars(select(Product).where(Product.sku == "TRAY-1")).one()
    assert product.price_cents == 1299
    assert product.stock == 7
    assert product.active
    assert "Created Walnut Tray." in text(client.get("/admin/products"))


def test_it_creates_an_inactive_product_when_unticked(client, session, token):
    form = {k: v for k, v in PRODUCT_FORM.items() if k != "active"}
    client.post("/admin/products", data={**form, "csrf_token": token})
    product = session.scalars(select(Product).where(Product.sku == "TRAY-1")).one()
    assert not product.active


def test_it_shows_errors_next_to_fields_and_keeps_what_was_typed(client, session, token):
    form = {**PRODUCT_FORM, "name": "", "price": "12.999", "stock": "lots", "sku": ""}
    response = client.post("/admin/products", data={**form, "csrf_token": token})
    html = text(response)
    assert response.status_code == 422
    assert "Price must be an amount like 12.99" in html
    assert "Stock must be a whole number" in html
    assert "Name is required" in html
    assert "SKU is required" in html
    assert 'value="12.999"' in html
    assert 'value="lots"' in html
    assert session.scalars(select(Product)).first() is None


def test_it_reports_service_validation_for_an_otherwise_parsed_form(client, session, token):
    form = {**PRODUCT_FORM, "image_url": "ftp://nope", "category": "x" * 101}
    response = client.post("/admin/products", data={**form, "csrf_token": token})
    html = text(response)
    assert response.status_code == 422
    assert "Image URL must be an http(s) URL" in html
    assert "Category must have at most 100 characters" in html


def test_it_says_when_a_sku_is_taken(client, session, token):
    make_product(session, sku="TRAY-1")
    response = client.post("/admin/products", data={**PRODUCT_FORM, "csrf_token": token})
    assert response.status_code == 422
    assert "SKU is already used by another product" in text(response)


def test_it_edits_price_stock_and_details(client, session, token):
    product = make_product(session, name="Old Name", price_cents=1999, stock=3)
    form_page = text(client.get(f"/admin/products/{product.id}"))
    assert 'value="19.99"' in form_page
    assert 'value="Old Name"' in form_page
    form = {**PRODUCT_FORM, "sku": product.sku, "name": "New Name", "price": "24.50"}
    response = client.post(f"/admin/products/{product.id}", data={**form, "csrf_token": token})
    assert response.status_code == 302
    session.refresh(product)
    assert (product.name, product.price_cents, product.stock) == ("New Name", 2450, 7)
    assert product.category == "Home"
    assert product.description == "A tray."


def test_it_refuses_a_blank_name_on_edit(client, session, token):
    product = make_product(session, name="Keep Me")
    form = {**PRODUCT_FORM, "sku": product.sku, "name": "  "}
    response = client.post(f"/admin/products/{product.id}", data={**form, "csrf_token": token})
    assert response.status_code == 422
    assert "Name must have 1-200 characters" in text(response)
    session.refresh(product)
    assert product.name == "Keep Me"


def test_it_refuses_a_malformed_stock_on_edit(client, session, token):
    product = make_product(session, stock=4)
    form = {**PRODUCT_FORM, "sku": product.sku, "stock": "-3"}
    response = client.post(f"/admin/products/{product.id}", data={**form, "csrf_token": token})
    assert response.status_code == 422
    assert "Stock must be from 0 to 10000000" in text(response)
    session.refresh(product)
    assert product.stock == 4


def test_it_answers_editing_an_unknown_product_with_404(client, token):
    assert client.get("/admin/products/987654").status_code == 404
    response = client.post("/admin/products/987654", data={**PRODUCT_FORM, "csrf_token": token})
    assert response.status_code == 404


def test_it_toggles_a_product_with_htmx_and_returns_its_row(client, session, token):
    product = make_product(session, name="Toggle Me")
    response = client.post(
        f"/admin/products/{product.id}/active",
        data={"active": "0", "csrf_token": token},
        headers=HX,
    )
    html = text(response)
    assert html.lstrip().startswith(f'<tr id="product-{product.id}" class="row-muted"')
    assert "Activate" in html
    session.refresh(product)
    assert not product.active


def test_it_toggles_a_product_without_js(client, session, token):
    product = make_product(session, name="Toggle Me")
    update_product(session, product.id, ProductInput(active=False))
    response = client.post(
        f"/admin/products/{product.id}/active", data={"active": "1", "csrf_token": token}
    )
    assert response.headers["Location"] == "/admin/products"
    assert "Toggle Me is now visible in the shop." in text(client.get("/admin/products"))
    response = client.post(
        f"/admin/products/{product.id}/active", data={"active": "0", "csrf_token": token}
    )
    assert "Toggle Me is now hidden from the shop." in text(client.get("/admin/products"))


def test_it_refuses_a_malformed_active_flag(client, session, token):
    product = make_product(session)
    response = client.post(
        f"/admin/products/{product.id}/active", data={"active": "maybe", "csrf_token": token}
    )
    assert response.status_code == 422
    assert "<strong>active</strong> must be 0 or 1" in text(response)
    session.refresh(product)
    assert product.active  # still in the shop


def test_it_refuses_admin_posts_without_a_csrf_token(client, session, token):
    product = make_product(session)
    response = client.post(f"/admin/products/{product.id}/active", data={"active": "0"})
    assert response.status_code == 400
    session.refresh(product)
    assert product.active


# Users ----------------------------------------------------------------------------------


def test_it_lists_users_with_roles_and_status(client, session, token, customer):
    html = text(client.get("/admin/users"))
    assert "casey" in html
    assert "ada" in html
    assert "(you)" in html
    assert "Customer" in html
    assert f'id="user-{customer.id}"' in html


def test_it_creates_a_user_with_a_role(client, session, token):
    response = client.post(
        "/admin/users",
        data={
            "username": "wendy",
            "password": "warehouse1",
            "role": "warehouse",
            "name": "Wendy W",
            "email": "wendy@example.com",
            "csrf_token": token,
        },
    )
    assert response.status_code == 302
    user = session.scalars(select(User).where(User.username == "wendy")).one()
    assert user.role == "warehouse"
    assert "Created warehouse account wendy." in text(client.get("/admin/users"))


def test_it_shows_user_errors_next_to_fields(client, session, token):
    response = client.post(
        "/admin/users",
        data={"username": "ok-name", "password": "short", "role": "wizard", "csrf_token": token},
    )
    html = text(response)
    assert response.status_code == 422
    assert "Password must have at least 8 characters" in html
    assert "Role must be one of" in html
    assert 'value="ok-name"' in html


def test_it_says_when_a_username_is_taken(client, session, token, customer):
    response = client.post(
        "/admin/users",
        data={
            "username": "casey",
            "password": "longenough",
            "role": "customer",
            "csrf_token": token,
        },
    )
    assert response.status_code == 409
    assert "that username is taken" in text(response)


def test_it_deactivates_and_reactivates_a_user_by_htmx(client, session, token, customer):
    response = client.post(
        f"/admin/users/{customer.id}/active",
        data={"active": "0", "csrf_token": token},
        headers=HX,
    )
    html = text(response)
    assert html.lstrip().startswith(f'<tr id="user-{customer.id}" class="row-muted"')
    assert "Deactivated" in html
    assert "Reactivate" in html
    session.refresh(customer)
    assert not customer.active
    client.post(f"/admin/users/{customer.id}/active", data={"active": "1", "csrf_token": token})
    session.refresh(customer)
    assert customer.active
    assert "casey is now active." in text(client.get("/admin/users"))


def test_it_stops_a_deactivated_user_from_signing_in(client, session, token, customer):
    client.post(f"/admin/users/{customer.id}/active", data={"active": "0", "csrf_token": token})
    client.post("/logout", data={"csrf_token": token})
    login_token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"username": "casey", "password": "password123", "csrf_token": login_token}
    )
    assert response.status_code == 401


def test_it_refuses_to_let_an_admin_deactivate_themselves(client, session, token, admin):
    assert f'action="/admin/users/{admin.id}/active"' not in text(client.get("/admin/users"))
    response = client.post(
        f"/admin/users/{admin.id}/active", data={"active": "0", "csrf_token": token}, headers=HX
    )
    assert response.headers["HX-Retarget"] == "#alerts"
    assert "you cannot deactivate your own account" in text(response)
    session.refresh(admin)
    assert admin.active


def test_it_answers_an_unknown_user_with_404(client, token):
    response = client.post("/admin/users/999999/active", data={"active": "0", "csrf_token": token})
    assert response.status_code == 404


def test_it_pages_through_users(client, session, token):
    for i in range(3):
        make_user(session, "customer", username=f"pager-{i}")
    html = text(client.get("/admin/users?per_page=2"))
    assert "Page 1 of 2" in html
    assert 'href="/admin/users?page=2&amp;per_page=2"' in html
