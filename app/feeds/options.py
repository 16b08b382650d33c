"""What a caller may tell a parser beyond the bytes: the upload's content type, the
partner's column mapping, the shop's currency and the stock an "in stock" row means."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FeedOptions:
    content_type: str | None = None
    mapping: Mapping[str, str] | None = None
    currency: str = "USD"
    # Google's `availability: in stock` without a `quantity` column: sell one unit until the
    # next feed says more. Overselling a partner's stock costs more than one missed sale.
    in_stock_quantity: int = 1
