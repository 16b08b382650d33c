"""The customer's flash-sale page: live and upcoming sales, reserve, pay, release, refusals."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.db import utcnow
from app.models.flash_sales import FlashHold
from app.payments.gateway import CARD_APPROVED
from app.services.flash_sales import SaleItemInput, create_sale, reserve
from tests.builders import make_product, make_user
from tests.conftest import csrf_token, sign_in
from tests.views.conftest import text

HX = {"HX-Request": "true"}
CARD_DECLINED = "4000000000000002"


@pytest.fixture
def product(session):
    return make_product(session, name="Espresso grinder", stock=20, price_cents=5000)


def a_sale(session, product, *, starts_in=-5, lasts=3600, quantity=5, limit=2, name="Grind day"):
    now = utcnow()
    return create_sale(
        session,
        name=name,
        starts_at=now + timedelta(seconds=starts_in),
        ends_at=now + timedelta(seconds=starts_in + lasts),
        items=[SaleItemInput(product.id, 3500, quantity, limit)],
        now=now,
    )


def post(client, path, token, htmx=False, **data):
    return client.post(path, data={"csrf_token": token, **data}, headers=HX if htmx else {})


def hold_count(session):
    session.expire_all()
    return session.scalar(select(func.count()).select_from(FlashHold))


def test_anyone_sees_live_and_upcoming_sales_with_countdowns(client, session, product):
    other = make_product(session, name="Milk frother", stock=5, price_cents=5000)
    a_sale(session, product, lasts=600)
    a_sale(session, other, starts_in=3600, name="Froth hour")
    html = text(client.get("/flash-sales"))
    live, upcoming = html.split("<h2>Coming up</h2>")
    assert "Grind day" in live
    assert "$35.00" in live
    assert '<s class="muted">$50.00</s>' in live
    assert "5 of 5 left" in live
    assert re.search(r'Ends in <strong data-countdown="(59\d|600)"', live)
    assert "Sign in to reserve" in live
    assert "Card payments are paused" not in html
    assert "Froth hour" in upcoming
    assert re.search(r'Starts in <strong data-countdown="(359\d|3600)"', upcoming)
    partial = text(client.get("/flash-sales", headers=HX))
    assert partial.lstrip().startswith('<section id="flash-live"')
    assert 'hx-trigger="every 5s"' in partial


def test_a_customer_reserves_pays_and_gets_the_order(client, session, customer, product):
    sale = a_sale(session, product)
    token = sign_in(client, customer)
    response = post(client, f"/flash-sales/{sale.id}/reserve", token, htmx=True,
                    product_id=product.id, quantity=2)  # fmt: skip
    html = text(response)
    assert "Reserved 2 of Espresso grinder" in html
    assert "Your reservations" in html
    assert "3 of 5 left" in html
    hold_id = re.search(r'action="/reservations/(\d+)/pay"', html).group(1)
    declined = post(client, f"/reservations/{hold_id}/pay", token, card_number=CARD_DECLINED)
    assert declined.status_code == 302
    page = text(client.get("/flash-sales"))
    assert "declined" in page
    assert "Your reservations" in page  # the hold is kept
    paid = post(client, f"/reservations/{hold_id}/pay", token, card_number=CARD_APPROVED)
    assert paid.status_code == 302
    assert re.match(r"^/orders/\d+$", paid.headers["Location"])
    order_page = text(client.get(paid.headers["Location"]))
    assert "$70.00" in order_page


def test_paying_by_htmx_goes_to_the_order(client, session, customer, product):
    sale = a_sale(session, product)
    token = sign_in(client, customer)
    html = text(post(client, f"/flash-sales/{sale.id}/reserve", token, htmx=True,
                     product_id=product.id, quantity=1))  # fmt: skip
    hold_id = re.search(r'action="/reservations/(\d+)/pay"', html).group(1)
    paid = post(client, f"/reservations/{hold_id}/pay", token, htmx=True, card_number=CARD_APPROVED)
    assert paid.status_code == 204
    assert re.match(r"^/orders/\d+$", paid.headers["HX-Redirect"])
    assert "Enjoy the deal" in text(client.get(paid.headers["HX-Redirect"]))


def test_releasing_gives_the_units_back(client, session, customer, product):
    sale = a_sale(session, product)
    token = sign_in(client, customer)
    html = text(post(client, f"/flash-sales/{sale.id}/reserve", token, htmx=True,
                     product_id=product.id, quantity=1))  # fmt: skip
    hold_id = re.search(r'action="/reservations/(\d+)/release"', html).group(1)
    html = text(post(client, f"/reservations/{hold_id}/release", token, htmx=True))
    assert "Released" in html
    assert "5 of 5 left" in html


def test_refusals_say_what_happened(client, session, customer, product):
    sale = a_sale(session, product, quantity=3, limit=2)
    token = sign_in(client, customer)
    over = post(client, f"/flash-sales/{sale.id}/reserve", token, htmx=True,
                product_id=product.id, quantity=3)  # fmt: skip
    assert over.headers["X-Error-Status"] == "422"  # htmx swaps the alert in #alerts
    assert over.headers["HX-Retarget"] == "#alerts"
    assert text(over).count("At most 2 per customer") == 1  # once: not again as a field
    second = make_product(session, stock=5, price_cents=5000)
    later = a_sale(session, second, starts_in=600, name="Later")
    path = f"/flash-sales/{later.id}/reserve"
    early = post(client, path, token, product_id=second.id, quantity=1)
    assert early.status_code == 302
    assert "has not started yet" in text(client.get("/flash-sales"))
    bad = post(client, f"/flash-sales/{sale.id}/reserve", token, htmx=True, product_id="x")
    assert bad.headers["X-Error-Status"] == "422"
    assert "Choose a product and a quantity" in text(bad)
    assert hold_count(session) == 0


def test_reserving_needs_a_signed_in_customer(client, session, support, product):
    sale = a_sale(session, product)
    path = f"/flash-sales/{sale.id}/reserve"
    token = csrf_token(client)  # a valid form: only the missing sign-in may refuse it
    anonymous = post(client, path, token, product_id=product.id, quantity=1)
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"] == "/login?next=/flash-sales"
    by_htmx = post(client, path, token, htmx=True, product_id=product.id, quantity=1)
    assert by_htmx.headers["HX-Redirect"] == "/login?next=/flash-sales"
    token = sign_in(client, support)
    staff = post(client, path, token, product_id=product.id, quantity=1)
    assert staff.status_code == 403
    assert "Reserving is for customer accounts" in text(staff)
    assert hold_count(session) == 0


def test_too_many_tries_say_when_to_try_again(make_app, session, customer, product):
    app = make_app(flash_rate_limit="1 per minute")
    client = app.test_client()
    sale = a_sale(session, product)
    token = sign_in(client, customer)
    assert post(client, f"/flash-sales/{sale.id}/reserve", token, htmx=True,
                product_id=product.id, quantity=1).status_code == 200  # fmt: skip
    limited = post(client, f"/flash-sales/{sale.id}/reserve", token, htmx=True,
                   product_id=product.id, quantity=1)  # fmt: skip
    assert limited.headers["X-Error-Status"] == "429"
    assert int(limited.headers["Retry-After"]) > 0
    assert re.search(r"try again in \d+ seconds", text(limited))
    # The limit wraps the view, yet its refusal too empties the region's "Done" notice.
    assert '<div id="flash-notice" class="flash-notice" hx-swap-oob="true"></div>' in text(limited)
    assert "Done:" not in text(limited)


def test_payments_unavailable_keeps_the_hold_and_says_so(make_app, session, customer, product):
    app = make_app(flash_rate_limit="100 per minute")
    client = app.test_client()
    sale = a_sale(session, product)
    token = sign_in(client, customer)
    html = text(post(client, f"/flash-sales/{sale.id}/reserve", token, htmx=True,
                     product_id=product.id, quantity=1))  # fmt: skip
    hold_id = re.search(r'action="/reservations/(\d+)/pay"', html).group(1)
    breaker = app.extensions["backroom.payments"].breaker
    for _ in range(5):  # the processor fails until the circuit opens
        post(client, f"/reservations/{hold_id}/pay", token, card_number="4000000000000119")
    refused = post(client, f"/reservations/{hold_id}/pay", token, htmx=True,
                   card_number=CARD_APPROVED)  # fmt: skip
    assert refused.headers["X-Error-Status"] == "503"
    assert int(refused.headers["Retry-After"]) > 0
    assert "Your reservation is kept until it expires" in text(refused)
    assert breaker.status().state == "open"
    page = text(client.get("/flash-sales"))
    assert "Your reservations" in page
    assert "Card payments are paused for a moment" in page


def reserve_and_pay(client, token, sale, product, quantity):
    html = text(post(client, f"/flash-sales/{sale.id}/reserve", token, htmx=True,
                     product_id=product.id, quantity=quantity))  # fmt: skip
    hold_id = re.search(r'action="/reservations/(\d+)/pay"', html).group(1)
    paid = post(client, f"/reservations/{hold_id}/pay", token, card_number=CARD_APPROVED)
    assert paid.status_code == 302


def item_of(html, product):
    """The sale item's row on the page (its <li>), for assertions about that item alone."""
    start = html.index(f'<a href="/products/{product.id}">')
    return html[start : html.index("</li>", start)]


def test_after_buying_the_limit_reserve_is_not_offered(client, session, customer, product):
    sale = a_sale(session, product, quantity=5, limit=2)
    token = sign_in(client, customer)
    reserve_and_pay(client, token, sale, product, 2)
    for html in (text(client.get("/flash-sales")), text(client.get("/flash-sales", headers=HX))):
        row = item_of(html, product)
        assert "3 of 5 left" in row
        assert row.count("You have bought your limit (2).") == 1
        assert "Reserve" not in row
        assert "<select" not in row


def test_the_quantity_picker_offers_only_what_the_limit_leaves(client, session, customer, product):
    sale = a_sale(session, product, quantity=5, limit=3)
    token = sign_in(client, customer)
    reserve_and_pay(client, token, sale, product, 1)
    row = item_of(text(client.get("/flash-sales")), product)
    assert "at most 3 per customer (you have 1)" in row
    assert re.findall(r'<option value="(\d+)">', row) == ["1", "2"]
    assert '<div class="field field-qty">' in row  # styled like the site's other fields
    assert re.search(r'<label for="qty-\d+-\d+">Quantity</label>', row)


def test_the_limit_counts_every_hold_however_many_came_before(client, session, customer, product):
    """Hundreds of released and expired holds, then the limit bought: Reserve is not offered
    (the page counts as `reserve` does, over all of the customer's holds)."""
    sale = a_sale(session, product, quantity=5, limit=2)
    token = sign_in(client, customer)
    reserve_and_pay(client, token, sale, product, 2)
    item_id = sale.items[0].id
    now = utcnow()
    session.add_all(
        FlashHold(sale_id=sale.id, item_id=item_id, product_id=product.id,
                  customer_id=customer.id, quantity=1, unit_price_cents=3500,
                  status=status, expires_at=now - timedelta(minutes=1))
        for status in ["released", "held"] * 150
    )  # fmt: skip
    session.commit()
    row = item_of(text(client.get("/flash-sales")), product)
    assert "You have bought your limit (2)." in row
    assert "Reserve" not in row


def test_every_live_hold_is_listed_to_pay_or_release(client, session, customer):
    products = [make_product(session, stock=20, price_cents=5000) for _ in range(12)]
    now = utcnow()
    sale = create_sale(session, name="Many", starts_at=now - timedelta(seconds=5),
                       ends_at=now + timedelta(hours=1), now=now,
                       items=[SaleItemInput(p.id, 3500, 5, 2) for p in products])  # fmt: skip
    for product in products:
        reserve(session, sale_id=sale.id, product_id=product.id, customer_id=customer.id,
                quantity=1, now=now, ttl_seconds=600)  # fmt: skip
    sign_in(client, customer)
    page = text(client.get("/flash-sales"))
    assert len(set(re.findall(r'action="/reservations/(\d+)/pay"', page))) == 12


def test_holding_the_limit_says_to_pay_or_release(client, session, customer, product):
    sale = a_sale(session, product, quantity=5, limit=2)
    token = sign_in(client, customer)
    post(client, f"/flash-sales/{sale.id}/reserve", token, product_id=product.id, quantity=2)
    row = item_of(text(client.get("/flash-sales")), product)
    assert "Your reservations reach your limit (2)" in row
    assert "Reserve" not in row


def test_a_reserve_past_the_limit_says_so_once(client, session, customer, product):
    sale = a_sale(session, product, quantity=5, limit=2)
    token = sign_in(client, customer)
    reserve_and_pay(client, token, sale, product, 2)
    over = post(client, f"/flash-sales/{sale.id}/reserve", token, htmx=True,
                product_id=product.id, quantity=1)  # fmt: skip
    html = text(over)
    assert over.headers["X-Error-Status"] == "422"
    assert html.count("At most 2 per customer: you already have 2") == 1
    assert html.count('class="alert alert-error"') == 1
    assert "<li>" not in html  # no repeat of the message as a field's problem
    post(client, f"/flash-sales/{sale.id}/reserve", token, product_id=product.id, quantity=1)
    page = text(client.get("/flash-sales"))
    assert page.count("At most 2 per customer") == 1


def test_a_declined_card_shows_only_the_problem(client, session, customer, product):
    sale = a_sale(session, product)
    token = sign_in(client, customer)
    reserved = text(post(client, f"/flash-sales/{sale.id}/reserve", token, htmx=True,
                         product_id=product.id, quantity=1))  # fmt: skip
    assert '<span class="alert-label">Done:</span> Reserved 1 of Espresso grinder' in reserved
    hold_id = re.search(r'action="/reservations/(\d+)/pay"', reserved).group(1)

    declined = post(client, f"/reservations/{hold_id}/pay", token, htmx=True,
                    card_number=CARD_DECLINED)  # fmt: skip
    html = text(declined)
    assert declined.headers["X-Error-Status"] == "402"
    assert declined.headers["HX-Retarget"] == "#alerts"
    assert "declined" in html
    assert "Your reservation is kept until it expires" in html
    # The region's "Done: Reserved" is emptied in the same answer (out of band).
    assert '<div id="flash-notice" class="flash-notice" hx-swap-oob="true"></div>' in html
    assert "Done:" not in html

    post(client, f"/reservations/{hold_id}/pay", token, card_number=CARD_DECLINED)
    page = text(client.get("/flash-sales"))  # without JavaScript: the flash alone
    assert "declined" in page
    assert "Done:" not in page
    assert "Reserved 1 of" not in page
    assert page.count('<span class="alert-label">Problem:</span>') == 1


def test_the_card_field_is_styled_like_the_site_forms(client, session, customer, product):
    sale = a_sale(session, product)
    token = sign_in(client, customer)
    post(client, f"/flash-sales/{sale.id}/reserve", token, product_id=product.id, quantity=1)
    html = text(client.get("/flash-sales"))
    assert re.search(r'<div class="field">\s*<label for="card-\d+">Card number</label>', html)


@pytest.mark.parametrize("role", ["support", "admin"])
def test_staff_and_admins_browse_sales_without_reserve(client, session, product, role):
    sale = a_sale(session, product)
    token = sign_in(client, make_user(session, role, username=f"{role}-browser"))
    html = text(client.get("/flash-sales"))
    assert "Grind day" in html
    assert "5 of 5 left" in html
    assert "Reserve</button>" not in html
    assert "Sign in to reserve" not in html
    assert f"signed in with a {role} account" in html
    refused = post(client, f"/flash-sales/{sale.id}/reserve", token,
                   product_id=product.id, quantity=1)  # fmt: skip
    assert refused.status_code == 403
    assert "Reserving is for customer accounts" in text(refused)
    assert hold_count(session) == 0
