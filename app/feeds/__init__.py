"""Partner feed parsers (CONTRACT §3.6): pure, streaming, no database.

Public:
- `parse(data, *, format, content_type=None, mapping=None, currency="USD",
  in_stock_quantity=1) -> Iterator[ParsedRow]` — the one way in.
- `FORMATS` — the registry: `standard` (CSV or JSON), `shopify_csv`, `google_merchant_tsv`.
- `ParsedRow` (row number, original cells, sku, a `FeedRow` or its `RowProblem`s),
  `FeedRow`, `RowProblem`, `FeedError` (the whole file is unreadable).
- `normalize_mapping(mapping)` — a column mapping checked (FeedError) and normalized.
- `price_to_cents(text)` — "19.99" → 1999 exactly, through `Decimal`.
"""

from app.feeds.registry import FORMATS, parse
from app.feeds.rows import FeedError, FeedRow, ParsedRow, RowProblem, price_to_cents
from app.feeds.standard import normalize_mapping

__all__ = [
    "FORMATS",
    "FeedError",
    "FeedRow",
    "ParsedRow",
    "RowProblem",
    "normalize_mapping",
    "parse",
    "price_to_cents",
]
