"""Sale prices in the shop: exactly between a sale's start and end, on the catalog, the
product page and the cart, even through the catalog's page cache."""

from __future__ import annotations

import time
from datetime import timedelta

from app.db import utcnow
from app.services.flash_sales import SaleItemInput, create_sale
from tests.builders import make_product
from tests.views.conftest import text


def a_sale(session, product, *, starts_in: float, lasts: float):
    now = utcnow()
    return create_sale(
        session,
        name="Quick one",
        starts_at=now + timedelta(seconds=starts_in),
        ends_at=now + timedelta(seconds=starts_in + lasts),
        items=[SaleItemInput(product.id, 1234, 2, 1)],
        now=now,
    )


def test_the_sale_price_shows_from_the_start_to_the_end_through_the_cache(client, session):
    product = make_product(session, name="Kettle", stock=10, price_cents=4000)
    sale = a_sale(session, product, starts_in=1.0, lasts=1.0)
    assert "$12.34" not in text(client.get("/products"))  # kept until the start, no longer
    assert "$12.34" not in text(client.get(f"/products/{product.id}"))
    time.sleep(max(0.0, (sale.starts_at - utcnow()).total_seconds()) + 0.05)
    catalog = text(client.get("/products"))
    assert "$12.34" in catalog
    assert '<s class="price-was muted">$40.00</s>' in catalog
    assert "Flash sale" in text(client.get(f"/products/{product.id}"))
    time.sleep(max(0.0, (sale.ends_at - utcnow()).total_seconds()) + 0.05)
    assert "$12.34" not in text(client.get("/products"))
    assert "$12.34" not in text(client.get(f"/products/{product.id}"))


def test_the_cart_points_to_the_deal(client, session, customer):
    from tests.conftest import sign_in

    product = make_product(session, name="Kettle", stock=10, price_cents=4000)
    a_sale(session, product, starts_in=-1, lasts=600)
    token = sign_in(client, customer)
    client.post("/cart/add", data={"csrf_token": token, "product_id": product.id, "quantity": 1})
    html = text(client.get("/cart"))
    assert "$12.34 when reserved on the flash-sale page" in html
    assert "$40.00" in html  # the cart itself sells at the regular price
