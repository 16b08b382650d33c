"""The shopify_csv format: variants carry the product's fields; image rows are skipped."""

from __future__ import annotations

import pytest

from app.feeds import FeedError, FeedRow, ParsedRow
from tests.feeds.helpers import problems, rows

CLASSIC = (
    "Handle,Title,Body (HTML),Type,Option1 Value,Option2 Value,Variant SKU,Variant Price,"
    "Variant Inventory Qty,Image Src,Variant Image\n"
)


def shopify(text: str) -> list[ParsedRow]:
    return rows(text.encode(), "shopify_csv")


def test_it_carries_the_title_to_variants_and_appends_their_options() -> None:
    first, second = shopify(
        CLASSIC
        + "tee,Tee,<p>Soft</p>,Shirts,Blue,L,T-1,10.00,3,https://i.example/t.jpg,\n"
        + "tee,,,,Red,,T-2,11.00,0,,https://i.example/red.jpg\n"
    )
    assert first.feed_row == FeedRow(
        "T-1", "Tee — Blue / L", 1000, 3, "<p>Soft</p>", "Shirts", "https://i.example/t.jpg"
    )
    assert second.feed_row == FeedRow(
        "T-2", "Tee — Red", 1100, 0, "<p>Soft</p>", "Shirts", "https://i.example/red.jpg"
    )


def test_it_starts_afresh_at_each_handle_and_skips_image_rows() -> None:
    parsed = shopify(
        CLASSIC
        + "mug,Mug,,,Default Title,,M-1,5.00,1,,\n"
        + "mug,,,,,,,,,https://i.example/m2.jpg,\n"
        + "cap,,,,Black,,C-1,7.00,1,,\n"
    )
    assert [row.row for row in parsed] == [1, 3]
    assert parsed[0].feed_row == FeedRow("M-1", "Mug", 500, 1)
    assert problems(parsed[1]) == {"name": "is required"}


def test_it_rejects_a_variant_without_a_sku() -> None:
    (row,) = shopify(CLASSIC + "mug,Mug,,,Large,,,5.00,1,,\n")
    assert problems(row) == {"sku": "is required"}
    assert row.cells["Option1 Value"] == "Large"


def test_it_reads_rows_without_a_handle_column_each_on_its_own() -> None:
    first, second = shopify("Title,SKU,Price\nMug,M-1,1.00\n,M-2,2.00\n")
    assert first.feed_row == FeedRow("M-1", "Mug", 100)
    assert problems(second) == {"name": "is required"}


def test_it_prefers_the_type_and_falls_back_to_the_product_category() -> None:
    first, second = shopify(
        "Title,URL handle,Product category,Type,SKU,Price\n"
        "Mug,mug,Home > Kitchen,,M-1,1.00\n"
        "Cap,cap,Apparel,Hats,C-1,2.00\n"
    )
    assert first.feed_row is not None
    assert first.feed_row.category == "Home > Kitchen"
    assert second.feed_row is not None
    assert second.feed_row.category == "Hats"


def test_it_refuses_an_export_without_a_sku_column() -> None:
    with pytest.raises(FeedError, match="not a Shopify product export"):
        shopify("Handle,Title\nmug,Mug\n")
