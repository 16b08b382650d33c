import pytest
from sqlalchemy.exc import OperationalError

import views.orders.history
from app.errors import PaymentDeclined
from app.services.credit import grant_credit
from tests.builders import make_product, make_user
from tests.conftest import sign_in
from tests.views.conftest import HX, place, text


def test_it_sends_anonymous_visitors_to_sign_in(client):
    response = client.get("/orders?page=2")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/orders?page%3D2"


def test_it_sends_anonymous_htmx_requests_to_sign_in_with_hx_redirect(client):
    headers = {**HX, "HX-Current-URL": "http://localhost/orders?status=paid"}
    response = client.get("/orders", headers=headers)
    assert response.headers["HX-Redirect"] == "/login?next=/orders?status%3Dpaid"


def test_it_lists_a_customers_own_orders_only(app, client, session, customer):
    product = make_product(session, name="Teapot", price_cents=3100)
    mine = place(app, session, customer, product, quantity=2)
    other = make_user(session, "customer")
    theirs = place(app, session, other, product)
    sign_in(client, customer)
    html = text(client.get("/orders"))
    assert mine.number in html
    assert theirs.number not in html
    assert "$62.00" in html
    assert "Paid" in html


def test_it_hides_orders_whose_payment_failed_from_the_customer(app, client, session, customer):
    product = make_product(session)
    with pytest.raises(PaymentDeclined):
        place(app, session, customer, product, card_number="4000000000000002")
    sign_in(client, customer)
    assert "No orders yet" in text(client.get("/orders"))


def test_it_shows_the_store_credit_balance_and_ledger(app, client, session, customer):
    grant_credit(
        session, customer_id=customer.id, amount_cents=2500, reason="welcome_gift", actor_id=None
    )
    product = make_product(session, price_cents=1000)
    order = place(app, session, customer, product, store_credit_cents=700)
    sign_in(client, customer)
    html = text(client.get("/orders"))
    assert 'id="credit"' in html
    assert "<strong>$18.00</strong>" in html
    assert "Welcome gift" in html
    assert "+$25.00" in html
    assert "-$7.00" in html
    assert f'href="/orders/{order.id}"' in html


def test_it_shows_the_credit_balance_in_the_nav_for_customers(client, session, customer):
    grant_credit(session, customer_id=customer.id, amount_cents=1234, reason="gift", actor_id=None)
    sign_in(client, customer)
    assert "Credit $12.34" in text(client.get("/products"))


def test_it_still_renders_the_nav_when_the_balance_cannot_be_read(client, customer, monkeypatch):
    def broken(*args, **kwargs):
        raise OperationalError("SELECT", {}, Exception("database is gone"))

    sign_in(client, customer)
    monkeypatch.setattr(views.orders.history, "credit_balance", broken)
    response = client.get("/products")
    assert response.status_code == 200
    assert "Credit $" not in text(response)


def test_it_says_when_there_is_no_store_credit(client, customer):
    sign_in(client, customer)
    assert "No store credit yet" in text(client.get("/orders"))


def test_it_shows_an_order_with_lines_totals_and_payment(app, client, session, customer):
    grant_credit(session, customer_id=customer.id, amount_cents=500, reason="gift", actor_id=None)
    product = make_product(session, name="Big Lamp", price_cents=2000, sku="LAMP-1")
    order = place(app, session, customer, product, quantity=2, store_credit_cents=500)
    sign_in(client, customer)
    html = text(client.get(f"/orders/{order.id}"))
    assert f"Order {order.number}" in html
    assert "Big Lamp" in html
    assert "SKU LAMP-1" in html
    assert "$40.00" in html
    assert "$5.00" in html
    assert "$35.00" in html
    assert "Succeeded" in html
    assert "•••• 4242" in html
    assert "ch_" in html


def test_it_answers_another_customers_order_with_404(app, client, session, customer):
    other = make_user(session, "customer")
    order = place(app, session, other, make_product(session))
    sign_in(client, customer)
    response = client.get(f"/orders/{order.id}")
    assert response.status_code == 404
    assert order.number not in text(response)


def test_it_answers_unknown_and_absurd_order_ids_with_404(client, customer):
    sign_in(client, customer)
    assert client.get("/orders/424242").status_code == 404
    assert client.get("/orders/99999999999999999999").status_code == 404


def test_it_shows_staff_every_order_with_the_customer(app, client, session, customer, support):
    order = place(app, session, customer, make_product(session))
    sign_in(client, support)
    html = text(client.get("/orders"))
    assert "All orders" in html
    assert order.number in html
    assert "casey" in html
    assert 'id="orders-status"' in html
    assert 'id="credit"' not in html
    detail = text(client.get(f"/orders/{order.id}"))
    assert "by <strong>casey</strong>" in detail


def test_it_filters_orders_by_status_for_staff(app, client, session, customer, support):
    product = make_product(session)
    paid = place(app, session, customer, product)
    with pytest.raises(PaymentDeclined):
        place(app, session, customer, product, card_number="4000000000000002")
    sign_in(client, support)
    html = text(client.get("/orders?status=payment_failed", headers=HX))
    assert html.lstrip().startswith('<section id="orders-table"')
    assert "Payment failed" in html
    assert paid.number not in html
    assert "No orders with that status" in text(client.get("/orders?status=pending_payment"))


def test_it_refuses_an_unknown_status_filter(client, support):
    sign_in(client, support)
    response = client.get("/orders?status=shipped")
    assert response.status_code == 422
    assert "must be one of" in text(response)


def test_it_pages_through_orders(app, client, session, customer):
    product = make_product(session, stock=50)
    for _ in range(3):
        place(app, session, customer, product)
    sign_in(client, customer)
    html = text(client.get("/orders?per_page=2"))
    assert "Page 1 of 2" in html
    assert "There is nothing on page 5." in text(client.get("/orders?per_page=2&page=5"))
