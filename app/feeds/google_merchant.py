"""The `google_merchant_tsv` format: a Google Merchant Center tab-separated product feed.

`id` → sku, `title` → name, `description`, `image_link` → image_url, `product_type` (the
merchant's own) else `google_product_category` → category. `price` is "12.99 USD": the
amount follows the decimal rule, the currency must be the shop's. Stock: a `quantity`
column when the row has one; otherwise `availability` decides — "out of stock",
"preorder" and "backorder" mean 0 units to sell now, "in stock" means
`FeedOptions.in_stock_quantity` (1 by default: never promise more than the feed says).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

from app.feeds.options import FeedOptions
from app.feeds.reading import read_csv
from app.feeds.rows import FeedError, ParsedRow, RowProblem, make_row

COLUMNS = (
    "id",
    "title",
    "description",
    "price",
    "availability",
    "quantity",
    "image_link",
    "product_type",
    "google_product_category",
)
AVAILABILITY = {"in stock": None, "out of stock": 0, "preorder": 0, "backorder": 0}
_PRICE = re.compile(r"(?P<amount>[^\sA-Za-z]+)\s*(?P<currency>[A-Za-z]+)")


def parse_google_merchant(binary: io.BufferedReader, options: FeedOptions) -> Iterator[ParsedRow]:
    """Rows of a Merchant Center TSV; FeedError when it has no `id` column."""
    header, records = read_csv(binary, delimiter="\t")
    lowered = [column.lower() for column in header]
    index = {name: lowered.index(name) for name in COLUMNS if name in lowered}
    if "id" not in index:
        raise FeedError("not a Google Merchant Center feed: no id column")
    for number, cells in records:
        got = {
            name: cells[position].strip()
            for name, position in index.items()
            if position < len(cells)
        }
        problems: list[RowProblem] = []
        values = {
            "sku": got.get("id"),
            "name": got.get("title"),
            "description": got.get("description"),
            "image_url": got.get("image_link"),
            "category": got.get("product_type") or got.get("google_product_category"),
            "price": _amount(got.get("price", ""), options.currency, problems),
            "stock": got.get("quantity") or _stock(got.get("availability", ""), options, problems),
        }
        yield make_row(number, dict(zip(header, cells, strict=False)), values, problems)


def _amount(price: str, shop_currency: str, problems: list[RowProblem]) -> str | None:
    if not price:
        return None
    match = _PRICE.fullmatch(price)
    if match is None or len(match["currency"]) != 3:
        problems.append(RowProblem("price", "must be an amount and a currency, such as 12.99 USD"))
        return None
    currency = match["currency"].upper()
    if currency != shop_currency:
        message = f"is in {currency}; this shop sells in {shop_currency} only"
        problems.append(RowProblem("price", message))
        return None
    return match["amount"]


def _stock(availability: str, options: FeedOptions, problems: list[RowProblem]) -> str | None:
    key = availability.lower().replace("_", " ")
    if not key:
        return None
    if key not in AVAILABILITY:
        message = "must be one of in stock, out of stock, preorder, backorder"
        problems.append(RowProblem("availability", message))
        return None
    stock = AVAILABILITY[key]
    return str(options.in_stock_quantity if stock is None else stock)
