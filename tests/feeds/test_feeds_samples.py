"""Every sample in data/samples/feeds parsed with exact expectations."""

from __future__ import annotations

from pathlib import Path

from app.feeds import FeedRow, ParsedRow, parse
from tests.feeds.helpers import problems

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples" / "feeds"


def sample(name: str, format: str, content_type: str | None = None) -> list[ParsedRow]:
    with (SAMPLES / name).open("rb") as file:
        return list(parse(file, format=format, content_type=content_type))


def test_it_parses_the_standard_csv_sample() -> None:
    parsed = sample("standard.csv", "standard", "text/csv")
    assert (SAMPLES / "standard.csv").read_bytes().startswith(b"\xef\xbb\xbfSKU;")
    assert [row.row for row in parsed] == [1, 2, 3, 4, 5]
    mug, tee, tote, bad, knife = parsed
    assert mug.feed_row == FeedRow(
        "ACM-MUG-001",
        "Enamel camp mug",
        1299,
        40,
        "Steel mug, 350 ml",
        "Kitchen",
        "https://cdn.example.com/mug.jpg",
    )
    assert tee.feed_row == FeedRow(
        "ACM-TEE-002",
        "Organic tee; heavyweight",
        2450,
        15,
        "Soft cotton.\r\nPre-shrunk; boxy fit.",
        "Apparel",
    )
    assert tote.feed_row == FeedRow(
        "ACM-BAG-003", "Canvas tote", 1999, 0, None, "Bags", "http://cdn.example.com/tote.png"
    )
    assert bad.sku == "ACM-BAD-004"
    assert problems(bad) == {
        "price": "must have at most 2 decimal places",
        "stock": "must not be negative",
        "image_url": "must be an http:// or https:// URL",
    }
    assert bad.cells["Supplier note"] == ""
    assert bad.cells["Price"] == "12.999"
    assert knife.feed_row == FeedRow("ACM-KNF-005", "Folding knife", None, 7, None, "Tools")


def test_it_parses_the_standard_json_sample() -> None:
    mug, tee, tote, bad = sample("standard.json", "standard")
    assert mug.feed_row == FeedRow(
        "ACM-MUG-001",
        "Enamel camp mug",
        1299,
        40,
        "Steel mug, 350 ml",
        "Kitchen",
        "https://cdn.example.com/mug.jpg",
    )
    assert tee.feed_row == FeedRow("ACM-TEE-002", "Organic tee", 2450, 15)
    assert tote.feed_row == FeedRow("ACM-BAG-003", "Canvas tote", 1999, 0)
    assert tote.cells["color"] == "natural"
    assert problems(bad) == {
        "name": "is required",
        "price": "must not be negative",
        "stock": "must be a whole number",
    }


def test_it_parses_the_classic_shopify_sample() -> None:
    parsed = sample("shopify_classic.csv", "shopify_csv")
    assert [row.row for row in parsed] == [1, 2, 3, 5, 6, 7]
    tee = "<p>Ring-spun cotton, <strong>relaxed</strong> fit.</p>"
    front = "https://cdn.shopify.com/s/files/1/tee-front.jpg"
    assert [row.feed_row for row in parsed[:5]] == [
        FeedRow("NW-TEE-BLU-S", "Classic Tee — Blue / S", 1800, 12, tee, "Shirts", front),
        FeedRow("NW-TEE-BLU-M", "Classic Tee — Blue / M", 1800, 7, tee, "Shirts", front),
        FeedRow(
            "NW-TEE-RED-L",
            "Classic Tee — Red / L",
            1850,
            0,
            tee,
            "Shirts",
            "https://cdn.shopify.com/s/files/1/tee-red.jpg",
        ),
        FeedRow(
            "NW-MUG-001",
            "Enamel Mug",
            1299,
            25,
            "<p>Holds 350 ml.</p>",
            "Kitchen",
            "https://cdn.shopify.com/s/files/1/mug.jpg",
        ),
        FeedRow(
            "NW-BEA-GRY",
            "Wool Beanie — Grey",
            2200,
            4,
            "<p>Merino.</p>",
            "Hats",
            "https://cdn.shopify.com/s/files/1/beanie.jpg",
        ),
    ]
    assert parsed[5].sku == "NW-BEA-BLK"
    assert problems(parsed[5]) == {"price": "must have at most 2 decimal places"}


def test_it_parses_the_current_shopify_sample() -> None:
    parsed = sample("shopify_current.csv", "shopify_csv")
    assert [row.row for row in parsed] == [1, 2, 3, 5, 6]
    body = "<p>Grippy sole,\nbreathable mesh.</p>"
    shoes = "Apparel & Accessories > Shoes > Athletic Shoes"
    runner = "https://cdn.shopify.com/s/files/2/runner.jpg"
    assert [row.feed_row for row in parsed[:4]] == [
        FeedRow("SUM-TR-42-GRN", "Trail Runner — 42 / Green", 8990, 5, body, shoes, runner),
        FeedRow(
            "SUM-TR-43-GRN",
            "Trail Runner — 43 / Green",
            8990,
            2,
            body,
            shoes,
            "https://cdn.shopify.com/s/files/2/runner-43.jpg",
        ),
        FeedRow("SUM-TR-44-BLK", "Trail Runner — 44 / Black", 9200, 0, body, shoes, runner),
        FeedRow(
            "SUM-WB-750",
            "Water Bottle — 750 ml",
            2400,
            30,
            "<p>Keeps cold 24 h.</p>",
            "Bottles",
            "https://cdn.shopify.com/s/files/2/bottle.jpg",
        ),
    ]
    assert parsed[4].sku is None
    assert problems(parsed[4]) == {"sku": "is required"}


def test_it_parses_the_google_merchant_sample() -> None:
    parsed = sample("google_merchant.tsv", "google_merchant_tsv", "text/tab-separated-values")
    assert [row.sku for row in parsed] == [f"GM-100{n}" for n in range(1, 7)]
    napkins, skillet, pour_over, kettle, towel, knife = parsed
    assert napkins.feed_row == FeedRow(
        "GM-1001",
        "Linen napkins (set of 4)",
        2900,
        1,
        "Stonewashed linen, 45 x 45 cm",
        "Home > Table linen",
        "https://shop.example.com/img/1001.jpg",
    )
    assert skillet.feed_row is not None
    assert (skillet.feed_row.stock, skillet.feed_row.category) == (
        0,
        "654",
    )
    assert pour_over.feed_row is not None
    assert pour_over.feed_row.price_cents == 1999
    assert problems(kettle) == {"price": "is in EUR; this shop sells in USD only"}
    assert towel.feed_row is not None
    assert (towel.feed_row.price_cents, towel.feed_row.stock) == (
        850,
        0,
    )
    assert problems(knife) == {
        "price": "must be an amount and a currency, such as 12.99 USD",
        "availability": "must be one of in stock, out of stock, preorder, backorder",
    }
