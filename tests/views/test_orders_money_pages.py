"""The order page shows money where it moved, to the customer and to staff, and the staff
list of all orders searches and filters by customer (views.orders.history)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import update

from app.db import utcnow
from app.models.returns import OutboxMessage
from app.models.users import User
from app.services.credit import grant_credit
from app.services.returns import execute_refunds, fire_return_trigger
from tests.builders import make_product, make_user, walk_return
from tests.conftest import sign_in
from tests.views.conftest import HX, place, text
from tests.views.returns_helpers import make_team, open_return

MINUS = "\N{MINUS SIGN}"


def squash(html: str) -> str:
    """The page's text with tags dropped and whitespace collapsed, as a reader sees it."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture
def returned(app, session, customer):
    """An order of 3 x $20.00, $10.00 of it in store credit: one unit refunded to the card
    (sent), one credited, one replaced."""
    grant_credit(session, customer_id=customer.id, amount_cents=1000, reason="gift", actor_id=None)
    product = make_product(session, name="Kettle", price_cents=2000, stock=20)
    order = place(app, session, customer, product, quantity=3, store_credit_cents=1000)
    team = make_team(session)
    records = {}
    for disposition in ("REFUND", "STORE_CREDIT", "REPLACEMENT"):
        record = open_return(app, session, customer, order=order)
        walk_return(session, record.id, team, customer, until="process", disposition=disposition)
        records[disposition] = record
    fire_return_trigger(session, records["REPLACEMENT"].id, "complete", actor=team["warehouse"],
                        fields={"tracking_number": "OUT-9"}, expected_version=None,
                        now=utcnow())  # fmt: skip
    execute_refunds(session, app.extensions["backroom.payments"], now=utcnow())
    for record in records.values():
        session.refresh(record)
    return order, records, team


def test_it_shows_the_customer_their_orders_money_and_returns(client, customer, returned):
    order, records, _ = returned
    sign_in(client, customer)
    html = text(client.get(f"/orders/{order.id}"))
    words = squash(html)
    assert 'id="order-money"' in html
    assert "Card payment · •••• 4242" in words
    assert "Store credit used" in words
    refund = records["REFUND"]
    assert f"Refund to the card for {refund.number}" in words
    assert f'href="/returns/{refund.id}"' in html
    assert f"Store credit for {records['STORE_CREDIT'].number}" in words
    replacement = records["REPLACEMENT"]
    assert f'href="/orders/{replacement.replacement_order_id}"' in html
    assert f"Paid $60.00 {MINUS} refunded $40.00 = kept $20.00" in words
    assert "(card $50.00 + store credit $10.00)" in words
    assert "(card $20.00 + store credit $20.00)" in words
    assert 'id="order-return-list"' in html
    assert f"{replacement.number} Completed" in words
    assert "/staff/returns/" not in html
    assert not re.search(r"Reference re_", words)  # refund references are for staff


def test_it_shows_staff_the_same_money_with_references_and_staff_links(
    app, session, customer, returned
):
    order, records, team = returned
    client = app.test_client()
    sign_in(client, team["finance"])
    html = text(client.get(f"/orders/{order.id}"))
    words = squash(html)
    assert f"Paid $60.00 {MINUS} refunded $40.00 = kept $20.00" in words
    assert f'href="/staff/returns/{records["REFUND"].id}"' in html
    assert 'href="/returns/' not in html
    assert re.search(r"Reference re_\w+", words)
    assert f'href="/orders?customer={customer.id}"' in html


def test_it_says_what_a_replacement_order_replaces(client, customer, returned):
    order, records, _ = returned
    sign_in(client, customer)
    record = records["REPLACEMENT"]
    words = squash(text(client.get(f"/orders/{record.replacement_order_id}")))
    assert f"Sent free of charge for return {record.number} of order {order.number}" in words
    assert f"Paid $0.00 {MINUS} refunded $0.00 = kept $0.00" in words


def test_it_shows_a_pending_refund_apart_from_the_net(app, client, session, customer):
    record = open_return(app, session, customer)
    walk_return(session, record.id, make_team(session), customer, until="process")
    sign_in(client, customer)
    words = squash(text(client.get(f"/orders/{record.order_id}")))
    assert f"Paid $50.00 {MINUS} refunded $0.00 = kept $50.00" in words
    assert "$25.00 more is on its way back to the card" in words
    assert "not in the total" in words


def test_it_refuses_a_customer_another_customers_order_page(app, client, session, customer):
    record = open_return(app, session, make_user(session, "customer"))
    sign_in(client, customer)
    response = client.get(f"/orders/{record.order_id}")
    assert response.status_code == 404
    assert record.number not in text(response)


def named(session, username: str, name: str) -> User:
    user = make_user(session, "customer", username=username)
    user.name = name
    session.commit()
    return user


@pytest.fixture
def shop(app, session, customer):
    product = make_product(session, stock=50)
    dana = named(session, "dana", "Dana Scully")
    orders = {
        "casey": place(app, session, customer, product),
        "dana": place(app, session, dana, product),
        "dana2": place(app, session, dana, product),
    }
    return orders, dana


def test_it_searches_all_orders_by_customer_name_or_username(client, support, shop):
    orders, _ = shop
    sign_in(client, support)
    html = text(client.get("/orders?q=scully", headers=HX))
    assert html.lstrip().startswith('<section id="orders-table"')
    assert orders["dana"].number in html
    assert orders["dana2"].number in html
    assert orders["casey"].number not in html
    assert "Dana Scully" in html
    assert "(dana)" in html
    assert "2 orders match" in squash(html)
    by_username = text(client.get("/orders?q=CASE"))
    assert orders["casey"].number in by_username
    assert orders["dana"].number not in by_username
    assert 'value="CASE"' in by_username


def test_it_searches_all_orders_by_order_number(client, support, shop):
    orders, _ = shop
    sign_in(client, support)
    html = text(client.get(f"/orders?q={orders['dana'].number.lower()}", headers=HX))
    assert orders["dana"].number in html
    assert orders["dana2"].number not in html
    assert "1 order matches" in squash(html)
    assert "No orders match" in text(client.get("/orders?q=100%25_off"))


def test_it_filters_all_orders_by_customer_and_keeps_it_while_paging(client, support, shop):
    orders, dana = shop
    sign_in(client, support)
    page = text(client.get("/orders"))
    assert f'href="/orders?customer={dana.id}"' in page
    html = text(client.get(f"/orders?customer={dana.id}&per_page=1"))
    assert f'name="customer" value="{dana.id}"' in html
    chip = 'id="orders-customer">Dana Scully <span class="muted username">(dana)</span>'
    assert chip in html
    assert "Any customer" in html
    assert orders["casey"].number not in html
    assert "Page 1 of 2" in html
    next_page = re.search(r'rel="next" href="([^"]+)"', html)
    assert next_page
    assert f"customer={dana.id}" in next_page.group(1)
    second = text(client.get(f"/orders?customer={dana.id}&per_page=1&page=2", headers=HX))
    assert orders["dana"].number in second or orders["dana2"].number in second


def test_it_refuses_a_customer_filter_that_is_not_an_id(client, support):
    sign_in(client, support)
    response = client.get("/orders?customer=dana")
    assert response.status_code == 422
    assert "must be a customer" in text(response)


def test_it_ignores_search_and_customer_filters_from_customers(client, customer, shop):
    orders, dana = shop
    sign_in(client, customer)
    html = text(client.get(f"/orders?customer={dana.id}&q=scully"))
    assert orders["casey"].number in html
    assert orders["dana"].number not in html
    assert 'id="orders-q"' not in html


def test_it_names_an_unknown_customer_filter_by_its_id(client, support, shop):
    sign_in(client, support)
    html = text(client.get("/orders?customer=987654"))
    assert 'id="orders-customer">#987654' in html
    assert "No orders match" in html
    assert "from this customer" in html


def test_it_shows_a_failed_refund_with_the_gateways_words_to_staff_only(
    app, client, session, customer
):
    record = open_return(app, session, customer)
    team = make_team(session)
    walk_return(session, record.id, team, customer, until="process")
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.kind == "refund")
        .values(status="failed", done_at=utcnow(), last_error="card expired")
    )
    session.commit()
    sign_in(client, customer)
    words = squash(text(client.get(f"/orders/{record.order_id}")))
    assert "Failed" in words
    assert "Gave up" in words
    assert f"Paid $50.00 {MINUS} refunded $0.00 = kept $50.00" in words
    assert "card expired" not in words
    staff = app.test_client()
    sign_in(staff, team["finance"])
    assert "Gateway: card expired" in squash(text(staff.get(f"/orders/{record.order_id}")))
