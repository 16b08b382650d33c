"""The google_merchant_tsv format: prices with a currency, availability as stock."""

from __future__ import annotations

import pytest

from app.feeds import FeedError, FeedRow, ParsedRow
from tests.feeds.helpers import one, problems, rows

HEADER = "id\ttitle\tprice\tavailability\tgoogle_product_category\n"


def google(line: str, header: str = HEADER, **options: object) -> ParsedRow:
    return one((header + line + "\n").encode(), "google_merchant_tsv", **options)


@pytest.mark.parametrize(
    ("price", "cents"), [("12.99 USD", 1299), ("12.99usd", 1299), ("7 USD", 700)]
)
def test_it_keeps_the_amount_of_a_usd_price(price: str, cents: int) -> None:
    row = google(f"G-1\tMug\t{price}\t\t")
    assert row.feed_row == FeedRow("G-1", "Mug", cents)


@pytest.mark.parametrize(
    ("price", "message"),
    [
        ("12.99", "must be an amount and a currency, such as 12.99 USD"),
        ("12.99 US Dollar", "must be an amount and a currency, such as 12.99 USD"),
        ("USD", "must be an amount and a currency, such as 12.99 USD"),
        ("12.99 EUR", "is in EUR; this shop sells in USD only"),
        ("12.999 USD", "must have at most 2 decimal places"),
        ("-1.00 USD", "must not be negative"),
    ],
)
def test_it_rejects_a_bad_price(price: str, message: str) -> None:
    assert problems(google(f"G-1\tMug\t{price}\t\t")) == {"price": message}


def test_it_takes_the_shops_currency_as_an_option() -> None:
    row = google("G-1\tMug\t3.00 eur\t\t", currency="eur")
    assert row.feed_row == FeedRow("G-1", "Mug", 300)


@pytest.mark.parametrize(
    ("availability", "stock"),
    [
        ("in stock", 1),
        ("in_stock", 1),
        ("Out of stock", 0),
        ("preorder", 0),
        ("backorder", 0),
        ("", None),
    ],
)
def test_it_maps_availability_to_stock(availability: str, stock: int | None) -> None:
    row = google(f"G-1\tMug\t\t{availability}\t")
    assert row.feed_row == FeedRow("G-1", "Mug", stock=stock)


def test_it_prefers_a_quantity_column_and_a_configured_in_stock_quantity() -> None:
    header = "id\ttitle\tavailability\tquantity\n"
    first, second = rows(
        (header + "A\tMug\tin stock\t7\nB\tCap\tin stock\t\n").encode(),
        "google_merchant_tsv",
        in_stock_quantity=5,
    )
    assert first.feed_row == FeedRow("A", "Mug", stock=7)
    assert second.feed_row == FeedRow("B", "Cap", stock=5)


def test_it_rejects_an_unknown_availability() -> None:
    message = "must be one of in stock, out of stock, preorder, backorder"
    assert problems(google("G-1\tMug\t\tlimited\t")) == {"availability": message}


def test_it_refuses_a_feed_without_an_id_column() -> None:
    with pytest.raises(FeedError, match="not a Google Merchant Center feed"):
        rows(b"title\tprice\nMug\t1.00 USD\n", "google_merchant_tsv")
