import re

import pytest
from sqlalchemy import func, select

import views.orders.cart
from app.errors import Conflict, NotFound, PaymentUnavailable
from app.models.idempotency import IdempotencyRecord
from app.models.orders import Order
from app.services.catalog import ProductInput, update_product
from app.services.credit import credit_balance, grant_credit
from app.services.idempotency import claim_key
from tests.builders import make_product, make_user
from tests.conftest import csrf_token, sign_in
from tests.views.conftest import HX, add_to_cart, checkout_key, text

APPROVED, DECLINED, BROKEN = "4242424242424242", "4000000000000002", "4000000000000119"


def orders_count(session):
    return session.scalar(select(func.count()).select_from(Order))


def checkout(client, token, key, card=APPROVED, **extra):
    data = {"card_number": card, "idempotency_key": key, "csrf_token": token, **extra}
    return client.post("/cart/checkout", data=data)


@pytest.fixture
def shopper(client, customer):
    """A signed-in customer's CSRF token."""
    return sign_in(client, customer)


# Adding -----------------------------------------------------------------------------


def test_it_adds_to_the_cart_without_js_and_shows_the_count(client, session):
    product = make_product(session, name="Desk Fan", price_cents=2500)
    token = csrf_token(client)
    response = client.post(
        "/cart/add",
        data={"product_id": product.id, "quantity": 2, "csrf_token": token, "next": "/products"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/products"
    html = text(client.get("/cart"))
    assert "Added Desk Fan to your cart." in html
    assert "$50.00" in html
    assert 'id="cart-count" class="cart-count"' in html
    assert ">2<span" in html


def test_it_adds_by_htmx_and_triggers_the_cart_badge(client, session):
    product = make_product(session, name="Desk Fan")
    token = csrf_token(client)
    response = client.post(
        "/cart/add", data={"product_id": product.id, "csrf_token": token}, headers=HX
    )
    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "cart-changed"
    assert "Added. 1 in your cart." in text(response)
    badge = client.get("/cart/badge", headers=HX)
    assert 'hx-trigger="cart-changed from:body"' in text(badge)
    assert ">1<span" in text(badge)


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "cart"]
)
def test_it_never_redirects_an_add_to_another_site(client, session, target):
    product = make_product(session)
    token = csrf_token(client)
    response = client.post(
        "/cart/add", data={"product_id": product.id, "csrf_token": token, "next": target}
    )
    assert response.headers["Location"] == "/cart"


def test_it_clamps_an_add_to_the_stock_with_a_message(client, session):
    product = make_product(session, name="Rare Vase", stock=3)
    token = csrf_token(client)
    response = client.post(
        "/cart/add",
        data={"product_id": product.id, "quantity": 50, "csrf_token": token},
        headers=HX,
    )
    assert "Only 3 of Rare Vase available; your cart has 3." in text(response)
    add_to_cart(client, token, product, 1)
    assert "Only 3 of Rare Vase available" in text(client.get("/cart"))


@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({}, 422),
        ({"product_id": "abc"}, 422),
        ({"product_id": "1", "quantity": "99999999999999"}, 422),
        ({"product_id": "1", "quantity": "0"}, 422),
        ({"product_id": "999999"}, 404),
    ],
)
def test_it_refuses_malformed_adds_with_a_clear_4xx(client, session, form, status):
    token = csrf_token(client)
    response = client.post("/cart/add", data={**form, "csrf_token": token})
    assert response.status_code == status
    assert "something went wrong" not in text(response)


def test_it_refuses_to_add_an_inactive_or_sold_out_product(client, session):
    retired = make_product(session, name="Retired")
    update_product(session, retired.id, ProductInput(active=False))
    sold_out = make_product(session, name="Sold Out Thing", stock=0)
    token = csrf_token(client)
    response = client.post("/cart/add", data={"product_id": retired.id, "csrf_token": token})
    assert response.status_code == 404
    response = client.post(
        "/cart/add", data={"product_id": sold_out.id, "csrf_token": token}, headers=HX
    )
    assert response.headers["HX-Retarget"] == "#alerts"
    assert "Sold Out Thing is out of stock" in text(response)


def test_it_refuses_a_cart_post_without_a_csrf_token(client, session):
    product = make_product(session)
    response = client.post("/cart/add", data={"product_id": product.id})
    assert response.status_code == 400
    assert client.get("/cart/badge").get_data(as_text=True).count(">0<") == 1


def test_it_refuses_more_than_a_hundred_different_products(client, session):
    product = make_product(session)
    with client.session_transaction() as cookie:
        cookie["cart"] = {str(10_000 + i): 1 for i in range(100)}
    token = csrf_token(client)
    response = client.post("/cart/add", data={"product_id": product.id, "csrf_token": token})
    assert response.status_code == 422
    assert "at most 100 different products" in text(response)


# Viewing and changing -----------------------------------------------------------------


def test_it_shows_an_empty_cart(client):
    html = text(client.get("/cart"))
    assert "Your cart is empty" in html
    assert 'id="checkout-form"' not in html


def test_it_prices_the_cart_at_current_prices(client, session):
    product = make_product(session, name="Lamp", price_cents=1000)
    token = csrf_token(client)
    add_to_cart(client, token, product, 2)
    update_product(session, product.id, ProductInput(price_cents=1250))
    html = text(client.get("/cart"))
    assert '<td class="num total" id="cart-total">$25.00</td>' in html


def test_it_drops_gone_products_and_lowers_quantities_above_stock(client, session):
    retired = make_product(session, name="Old Model")
    scarce = make_product(session, name="Scarce Item", stock=5)
    token = csrf_token(client)
    add_to_cart(client, token, retired)
    add_to_cart(client, token, scarce, 4)
    update_product(session, retired.id, ProductInput(active=False))
    update_product(session, scarce.id, ProductInput(stock=2))
    html = text(client.get("/cart"))
    assert "Old Model is no longer available and was removed from your cart." in html
    assert "Only 2 of Scarce Item available; quantity lowered." in html
    assert f'id="cart-line-{retired.id}"' not in html
    assert 'value="2"' in html


def test_it_drops_sold_out_and_unknown_products(client, session):
    sold = make_product(session, name="Now Sold Out")
    token = csrf_token(client)
    add_to_cart(client, token, sold)
    update_product(session, sold.id, ProductInput(stock=0))
    with client.session_transaction() as cookie:
        cookie["cart"] = {**cookie["cart"], "999999": 1, "x": 2, "5": "many"}
    html = text(client.get("/cart"))
    assert "Now Sold Out is out of stock and was removed" in html
    assert "A product is no longer available" in html
    assert "Your cart is empty" in html


def test_it_ignores_a_cart_that_is_not_a_mapping(client):
    with client.session_transaction() as cookie:
        cookie["cart"] = ["nonsense"]
    assert "Your cart is empty" in text(client.get("/cart"))


def test_it_changes_a_quantity_by_htmx_without_a_reload(client, session):
    product = make_product(session, name="Mug", price_cents=800)
    token = csrf_token(client)
    add_to_cart(client, token, product)
    response = client.post(
        "/cart/update",
        data={"product_id": product.id, "quantity": 3, "csrf_token": token},
        headers=HX,
    )
    html = text(response)
    assert response.headers["HX-Trigger"] == "cart-changed"
    assert html.lstrip().startswith('<section id="cart-table"')
    assert "<html" not in html
    assert "$24.00" in html
    assert 'name="expected_total" value="2400" form="checkout-form"' in html


def test_it_lowers_an_update_above_stock_with_a_message(client, session):
    product = make_product(session, name="Mug", stock=4)
    token = csrf_token(client)
    add_to_cart(client, token, product)
    response = client.post(
        "/cart/update",
        data={"product_id": product.id, "quantity": 40, "csrf_token": token},
        headers=HX,
    )
    assert "Only 4 of Mug available; quantity lowered." in text(response)


def test_it_updates_without_js_and_redirects_back_to_the_cart(client, session):
    product = make_product(session, name="Mug")
    token = csrf_token(client)
    add_to_cart(client, token, product)
    response = client.post(
        "/cart/update", data={"product_id": product.id, "quantity": 2, "csrf_token": token}
    )
    assert response.headers["Location"] == "/cart"
    assert "Your cart was updated." in text(client.get("/cart"))


def test_it_adds_through_update_when_the_product_is_not_in_the_cart(client, session):
    product = make_product(session, name="Newcomer")
    token = csrf_token(client)
    client.post("/cart/update", data={"product_id": product.id, "quantity": 2, "csrf_token": token})
    assert f'id="cart-line-{product.id}"' in text(client.get("/cart"))


def test_it_removes_a_line_by_htmx_and_hides_checkout_when_empty(client, session):
    product = make_product(session, name="Mug")
    token = csrf_token(client)
    add_to_cart(client, token, product)
    response = client.post(
        "/cart/remove", data={"product_id": product.id, "csrf_token": token}, headers=HX
    )
    html = text(response)
    assert response.headers["HX-Trigger"] == "cart-changed"
    assert "Your cart is empty" in html
    assert 'id="checkout" hx-swap-oob="true"' in html


def test_it_removes_with_quantity_zero(client, session):
    product = make_product(session, name="Mug")
    token = csrf_token(client)
    add_to_cart(client, token, product)
    client.post("/cart/update", data={"product_id": product.id, "quantity": 0, "csrf_token": token})
    assert "Your cart is empty" in text(client.get("/cart"))


def test_it_refuses_a_negative_or_malformed_quantity(client, session):
    product = make_product(session)
    token = csrf_token(client)
    add_to_cart(client, token, product)
    for quantity, problem in (
        ("-1", "must be from 0 to"),
        ("two", "must be a whole number"),
        ("", "is required"),
    ):
        response = client.post(
            "/cart/update",
            data={"product_id": product.id, "quantity": quantity, "csrf_token": token},
        )
        assert response.status_code == 422
        assert f"<strong>quantity</strong> {problem}" in text(response)
    # the cart still holds the one unit added before
    cart = text(client.get("/cart"))
    assert re.search(rf'id="cart-qty-{product.id}"[^>]*value="1"', cart)


# Checkout -------------------------------------------------------------------------------


def test_it_asks_anonymous_shoppers_to_sign_in_to_check_out(client, session):
    product = make_product(session)
    token = csrf_token(client)
    add_to_cart(client, token, product)
    assert "/login?next=/cart" in text(client.get("/cart"))
    response = checkout(client, token, "some-key")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/cart"


@pytest.mark.parametrize("role", ["support", "warehouse", "finance", "admin"])
def test_it_refuses_every_cart_page_to_staff_and_admins_with_a_reason(client, session, role):
    product = make_product(session)
    token = sign_in(client, make_user(session, role, username=f"{role}-shopper"))
    form = {"product_id": product.id, "quantity": 1, "csrf_token": token}
    answers = [
        client.get("/cart"),
        client.post("/cart/add", data=form),
        client.post("/cart/update", data=form),
        client.post("/cart/remove", data=form),
        checkout(client, token, "k1"),
    ]
    for response in answers:
        assert response.status_code == 403
        assert "Shopping is for customer accounts" in text(response)
    by_htmx = client.post("/cart/add", data=form, headers=HX)
    assert by_htmx.headers["HX-Retarget"] == "#alerts"
    assert "Shopping is for customer accounts" in text(by_htmx)
    with client.session_transaction() as cookie:
        assert "cart" not in cookie
    assert orders_count(session) == 0


def test_a_visitor_cart_kept_at_a_staff_sign_in_is_not_sold(client, session, support):
    product = make_product(session)
    add_to_cart(client, csrf_token(client), product)
    token = sign_in(client, support)
    assert checkout(client, token, "k1").status_code == 403
    assert orders_count(session) == 0


@pytest.mark.parametrize("role", ["support", "admin"])
def test_it_shows_staff_and_admins_no_cart_link_and_no_add_buttons(client, session, role):
    product = make_product(session, name="Browse Only", stock=5)
    sign_in(client, make_user(session, role, username=f"{role}-browser"))
    for page in (client.get("/products"), client.get(f"/products/{product.id}")):
        html = text(page)
        assert page.status_code == 200
        assert "Browse Only" in html
        assert 'class="cart-link"' not in html
        assert 'id="cart-count"' not in html
        assert 'action="/cart/add"' not in html
        assert "Add to cart" not in html


@pytest.mark.parametrize("who", ["customer", "visitor"])
def test_it_shows_customers_and_visitors_the_cart_link_and_add_buttons(
    client, session, customer, who
):
    product = make_product(session, stock=5)
    if who == "customer":
        sign_in(client, customer)
    for page in (client.get("/products"), client.get(f"/products/{product.id}")):
        html = text(page)
        assert 'class="cart-link"' in html
        assert 'action="/cart/add"' in html


def test_it_places_the_order_takes_stock_and_empties_the_cart(client, session, shopper):
    product = make_product(session, name="Chair", price_cents=4500, stock=5)
    add_to_cart(client, shopper, product, 2)
    response = checkout(client, shopper, checkout_key(client), card="4242 4242 4242 4242")
    assert response.status_code == 302
    order = session.scalars(select(Order)).one()
    assert response.headers["Location"] == f"/orders/{order.id}"
    assert order.total_cents == 9000
    session.refresh(product)
    assert product.stock == 3
    page = text(client.get(response.headers["Location"]))
    assert f"Thank you! Order {order.number} is confirmed." in page
    assert "Your cart is empty" in text(client.get("/cart"))


def test_it_spends_store_credit_and_charges_the_card_the_rest(client, session, customer, shopper):
    grant_credit(session, customer_id=customer.id, amount_cents=1500, reason="gift", actor_id=None)
    product = make_product(session, price_cents=4000)
    add_to_cart(client, shopper, product)
    page = text(client.get("/cart"))
    assert "You have $15.00 of store credit." in page
    response = checkout(client, shopper, checkout_key(client), store_credit="10.50")
    assert response.status_code == 302
    order = session.scalars(select(Order)).one()
    assert order.store_credit_cents == 1050
    assert credit_balance(session, customer.id) == 450
    detail = text(client.get(response.headers["Location"]))
    assert "$10.50" in detail
    assert "$29.50" in detail


def test_it_places_one_order_for_a_double_submit(client, session, shopper):
    product = make_product(session, stock=5)
    add_to_cart(client, shopper, product)
    key = checkout_key(client)
    first = checkout(client, shopper, key)
    with client.session_transaction() as cookie:  # the second submit carries the old cookie
        cookie["cart"] = {str(product.id): 1}
    second = checkout(client, shopper, key)
    assert second.status_code == 302
    assert second.headers["Location"] == first.headers["Location"]
    assert orders_count(session) == 1
    session.refresh(product)
    assert product.stock == 4
    assert "Your order was already placed" in text(client.get(second.headers["Location"]))


def test_it_refuses_a_reused_key_for_a_different_cart(client, session, shopper):
    product = make_product(session, stock=5)
    add_to_cart(client, shopper, product)
    key = checkout_key(client)
    checkout(client, shopper, key)
    add_to_cart(client, shopper, product, 2)
    response = checkout(client, shopper, key)
    assert response.status_code == 409
    assert "already used for a different cart" in text(response)
    assert orders_count(session) == 1


def test_it_says_when_the_same_order_is_still_being_placed(
    client, session, customer, shopper, monkeypatch
):
    monkeypatch.setattr(views.orders.cart, "IN_FLIGHT_WAIT_SECONDS", 0.15)
    product = make_product(session)
    add_to_cart(client, shopper, product)
    payload = {"lines": [(product.id, 1)], "card": APPROVED, "credit": 0}
    claim_key(session, user_id=customer.id, scope="web-checkout", key="busy", payload=payload)
    response = checkout(client, shopper, "busy")
    assert response.status_code == 409
    assert "already being placed" in text(response)


def test_it_keeps_the_cart_and_says_so_when_the_card_is_declined(client, session, shopper):
    product = make_product(session, stock=5)
    add_to_cart(client, shopper, product, 2)
    key = checkout_key(client)
    response = checkout(client, shopper, key, card=DECLINED)
    html = text(response)
    assert response.status_code == 402
    assert "Your card was declined. You were not charged" in html
    assert f'id="cart-line-{product.id}"' in html
    session.refresh(product)
    assert product.stock == 5
    again = checkout(client, shopper, key, card=DECLINED)
    assert again.status_code == 402
    assert "Your card was declined" in text(again)


def test_it_reports_a_processing_error_then_an_open_circuit(client, session, shopper):
    product = make_product(session, stock=50)
    add_to_cart(client, shopper, product)
    for _ in range(3):
        response = checkout(client, shopper, checkout_key(client), card=BROKEN)
        assert response.status_code == 502
        assert "The payment processor failed; you were not charged." in text(response)
    response = checkout(client, shopper, checkout_key(client))
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert "Payments are temporarily unavailable" in text(response)
    assert f'id="cart-line-{product.id}"' in text(response)
    assert session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 0


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            Conflict("not enough stock", code="insufficient_stock"),
            "Some items sold out while you were checking out",
        ),
        (NotFound("no such product"), "A product in your cart is no longer available"),
        (PaymentUnavailable("payments are paused"), "Payments are paused."),
    ],
)
def test_it_explains_each_way_placing_the_order_can_fail(
    client, session, shopper, monkeypatch, error, message
):
    product = make_product(session)
    add_to_cart(client, shopper, product)

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(views.orders.cart, "place_order", fail)
    response = checkout(client, shopper, checkout_key(client))
    assert response.status_code == error.status
    assert message in text(response)
    assert f'id="cart-line-{product.id}"' in text(response)


def test_it_releases_the_key_when_checkout_crashes(client, session, shopper, monkeypatch):
    product = make_product(session)
    add_to_cart(client, shopper, product)

    def crash(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views.orders.cart, "place_order", crash)
    response = checkout(client, shopper, checkout_key(client))
    assert response.status_code == 500
    assert session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 0


def test_it_shows_credit_above_the_balance_next_to_the_field(client, session, customer, shopper):
    grant_credit(session, customer_id=customer.id, amount_cents=500, reason="gift", actor_id=None)
    product = make_product(session, price_cents=4000)
    add_to_cart(client, shopper, product)
    response = checkout(client, shopper, checkout_key(client), store_credit="9.00")
    html = text(response)
    assert response.status_code == 422
    assert 'id="field-store_credit-error"' in html
    assert "more than your store credit balance" in html
    assert 'value="9.00"' in html


@pytest.mark.parametrize(
    ("card", "credit", "field"),
    [
        ("", "", "card_number"),
        ("not-a-card", "", "card_number"),
        (APPROVED, "lots", "store_credit"),
    ],
)
def test_it_shows_checkout_form_problems(client, session, shopper, card, credit, field):
    product = make_product(session)
    add_to_cart(client, shopper, product)
    response = checkout(client, shopper, checkout_key(client), card=card, store_credit=credit)
    assert response.status_code == 422
    assert f'id="field-{field}-error"' in text(response)
    assert orders_count(session) == 0


def test_it_refuses_a_total_the_shopper_did_not_see(client, session, shopper):
    product = make_product(session, price_cents=1000)
    add_to_cart(client, shopper, product)
    key = checkout_key(client)
    update_product(session, product.id, ProductInput(price_cents=2000))
    response = checkout(client, shopper, key, expected_total="1000")
    assert response.status_code == 409
    assert "Your cart changed since you last saw it" in text(response)
    assert orders_count(session) == 0


def test_it_refuses_checkout_when_an_item_disappeared(client, session, shopper):
    kept = make_product(session, name="Kept")
    gone = make_product(session, name="Gone Away")
    add_to_cart(client, shopper, kept)
    add_to_cart(client, shopper, gone)
    key = checkout_key(client)
    update_product(session, gone.id, ProductInput(active=False))
    response = checkout(client, shopper, key)
    html = text(response)
    assert response.status_code == 409
    assert "Gone Away is no longer available" in html
    assert orders_count(session) == 0


def test_it_sends_an_empty_cart_back_to_the_cart_page(client, shopper):
    response = checkout(client, shopper, "any-key")
    assert response.headers["Location"] == "/cart"
    assert "Your cart is empty." in text(client.get("/cart"))


def test_it_needs_the_form_key_to_check_out(client, session, shopper):
    product = make_product(session)
    add_to_cart(client, shopper, product)
    response = checkout(client, shopper, "")
    assert response.status_code == 400
    assert "This form expired" in text(response)


def test_it_refuses_a_checkout_without_a_csrf_token(client, session, shopper):
    product = make_product(session)
    add_to_cart(client, shopper, product)
    response = client.post("/cart/checkout", data={"card_number": APPROVED, "idempotency_key": "k"})
    assert response.status_code == 400
    assert orders_count(session) == 0
