"""The registry of feed formats and `parse`, the one way in."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType

from app.feeds.google_merchant import parse_google_merchant
from app.feeds.options import FeedOptions
from app.feeds.reading import FeedData, open_binary
from app.feeds.rows import FeedError, ParsedRow
from app.feeds.shopify import parse_shopify
from app.feeds.standard import normalize_mapping, parse_standard

Parser = Callable[[io.BufferedReader, FeedOptions], Iterator[ParsedRow]]

FORMATS: Mapping[str, Parser] = MappingProxyType(
    {
        "standard": parse_standard,
        "shopify_csv": parse_shopify,
        "google_merchant_tsv": parse_google_merchant,
    }
)


def parse(
    data: FeedData,
    *,
    format: str,
    content_type: str | None = None,
    mapping: Mapping[str, str] | None = None,
    currency: str = "USD",
    in_stock_quantity: int = 1,
) -> Iterator[ParsedRow]:
    """The feed's data rows, one `ParsedRow` at a time, read as a stream.

    `data` is bytes, an iterable of byte chunks or a binary file (read, never closed).
    Raises FeedError at once for an unknown format or a bad mapping, and while iterating
    when the file as a whole cannot be read; a bad row is a ParsedRow with its problems."""
    parser = FORMATS.get(format)
    if parser is None:
        raise FeedError(f"unknown feed format {format!r} (one of: {', '.join(FORMATS)})")
    normalize_mapping(mapping)
    options = FeedOptions(content_type, mapping, currency.upper(), in_stock_quantity)
    return parser(open_binary(data), options)
