"""`sale_price_cents` in the catalog API is the active flash-sale price (CONTRACT §3.2), exactly
from `starts_at` to `ends_at`, whatever state the scheduler has moved the sale to yet."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.db import utcnow
from app.services.flash_sales import SaleItemInput, cancel_sale, create_sale
from tests.builders import make_product

START = utcnow().replace(microsecond=0) + timedelta(hours=1)
END = START + timedelta(hours=1)


@pytest.fixture
def mug(session):
    return make_product(session, stock=40, price_cents=2000, name="Sale mug", sku="SALE-MUG")


@pytest.fixture
def plate(session):
    return make_product(session, stock=40, price_cents=3000, name="Sale plate", sku="SALE-PLT")


@pytest.fixture
def sale(session, mug):
    return create_sale(
        session,
        name="Mug madness",
        starts_at=START,
        ends_at=END,
        items=[SaleItemInput(mug.id, 1500, 10, 2)],
        now=START - timedelta(hours=1),
    )


def at(monkeypatch, moment):
    """Read the catalog as if it were `moment`."""
    monkeypatch.setattr("views.api.catalog.utcnow", lambda: moment)


def prices(client, q="Sale"):
    items = client.get(f"/api/v1/products?q={q}").get_json()["items"]
    return {item["sku"]: item["sale_price_cents"] for item in items}


@pytest.mark.usefixtures("sale")
def test_it_shows_the_sale_price_while_the_sale_is_on(client, monkeypatch, mug, plate):
    at(monkeypatch, START + timedelta(minutes=5))
    body = client.get(f"/api/v1/products/{mug.id}").get_json()
    assert (body["price_cents"], body["sale_price_cents"]) == (2000, 1500)
    assert prices(client) == {"SALE-MUG": 1500, "SALE-PLT": None}


@pytest.mark.usefixtures("sale")
@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (START - timedelta(hours=1), None),
        (START - timedelta(microseconds=1), None),
        (START, 1500),
        (END - timedelta(microseconds=1), 1500),
        (END, None),
        (END + timedelta(days=1), None),
    ],
)
def test_it_applies_the_price_exactly_within_the_window(client, monkeypatch, mug, moment,
                                                        expected):  # fmt: skip
    at(monkeypatch, moment)
    assert client.get(f"/api/v1/products/{mug.id}").get_json()["sale_price_cents"] == expected
    assert prices(client)["SALE-MUG"] == expected


def test_it_drops_the_price_of_a_cancelled_sale(client, session, monkeypatch, admin, mug, sale):
    cancel_sale(session, sale.id, actor=admin, now=START - timedelta(minutes=1))
    at(monkeypatch, START + timedelta(minutes=5))
    assert client.get(f"/api/v1/products/{mug.id}").get_json()["sale_price_cents"] is None


def test_it_shows_the_live_price_now_without_any_clock_changed(client, session, mug):
    create_sale(
        session,
        name="Right now",
        starts_at=utcnow() - timedelta(minutes=1),
        ends_at=utcnow() + timedelta(hours=1),
        items=[SaleItemInput(mug.id, 999, 5, 1)],
        now=utcnow(),
    )
    assert client.get(f"/api/v1/products/{mug.id}").get_json()["sale_price_cents"] == 999
    assert prices(client)["SALE-MUG"] == 999
