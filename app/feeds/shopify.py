"""The `shopify_csv` format: a Shopify product CSV export, one product per variant row.

Shopify writes a product's own fields (title, description, type, first image) on its first
row only; the variant rows below it share its handle and carry a SKU, a price, a stock and
option values. Each variant becomes one row named "Title — Blue / L". Rows that only add
an image (no SKU, no price, no option) are skipped. Both the classic column names
(`Variant SKU`, `Body (HTML)`, `Image Src`…) and the current ones (`SKU`, `Description`,
`Product image URL`…) are read. Category: `Type` (the merchant's own), else
`Product category` (Shopify's taxonomy path).
"""

from __future__ import annotations

import io
from collections.abc import Iterator

from app.feeds.options import FeedOptions
from app.feeds.reading import read_csv
from app.feeds.rows import FeedError, ParsedRow, make_row

COLUMNS = {
    "handle": ("handle", "url handle"),
    "title": ("title",),
    "description": ("body (html)", "body html", "description"),
    "category": ("type", "product category"),
    "sku": ("variant sku", "sku"),
    "price": ("variant price", "price"),
    "stock": ("variant inventory qty", "inventory quantity"),
    "variant_image": ("variant image", "variant image url"),
    "image": ("image src", "product image url"),
    "option1": ("option1 value",),
    "option2": ("option2 value",),
    "option3": ("option3 value",),
}
PRODUCT_FIELDS = ("title", "description", "category", "image")
NO_OPTION = "default title"


def parse_shopify(binary: io.BufferedReader, options: FeedOptions) -> Iterator[ParsedRow]:
    """Rows of a Shopify export; FeedError when it has no SKU column at all."""
    header, records = read_csv(binary, delimiter=",")
    lowered = [column.lower() for column in header]
    index = {
        key: [lowered.index(name) for name in names if name in lowered]
        for key, names in COLUMNS.items()
    }
    if not index["sku"]:
        raise FeedError("not a Shopify product export: no Variant SKU or SKU column")
    handle: str | None = None
    product: dict[str, str] = {}
    for number, cells in records:

        def cell(key: str, cells: list[str] = cells) -> str:
            """The first non-empty value among the key's columns."""
            found = (cells[at].strip() for at in index[key] if at < len(cells))
            return next((value for value in found if value), "")

        if not cell("handle") or cell("handle") != handle:
            handle, product = cell("handle") or None, {}
        for key in PRODUCT_FIELDS:
            if key not in product and cell(key):
                product[key] = cell(key)
        variant = [cell(key) for key in ("option1", "option2", "option3")]
        if not (cell("sku") or cell("price") or variant[0]):
            continue
        values = {
            "sku": cell("sku"),
            "name": _name(product.get("title"), variant),
            "price": cell("price"),
            "stock": cell("stock"),
            "description": product.get("description"),
            "category": product.get("category"),
            "image_url": cell("variant_image") or product.get("image"),
        }
        yield make_row(number, dict(zip(header, cells, strict=False)), values)


def _name(title: str | None, options: list[str]) -> str | None:
    if title is None:
        return None
    chosen = [value for value in options if value and value.lower() != NO_OPTION]
    return f"{title} — {' / '.join(chosen)}" if chosen else title
