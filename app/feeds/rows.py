"""Feed rows: the fields a partner may send and the rules each one is held to (CONTRACT §3.6).

Pure: no database. A row comes in as a mapping of our field names to raw values (text cells
from CSV, scalars from JSON) and goes out as a `FeedRow`, or as every `RowProblem` found in
it, so a partner fixes a row in one go. `sku` and `name` are required; price and stock may
be absent (None): whether a product can be created without them is the import's decision.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlsplit

# One NUL rule for all stored text: the database module's constants, not a copy.
from app.db import NUL, NUL_MESSAGE

FIELDS = ("sku", "name", "price_cents", "price", "stock", "description", "category", "image_url")
MAX_LENGTHS = {"sku": 64, "name": 200, "description": 10_000, "category": 100, "image_url": 2000}
# The shop's own limits for a product (app/services/catalog): $1,000,000.00 and ten
# million units; a feed's products are held to the same.
MAX_PRICE_CENTS = 100_000_000
MAX_STOCK = 10_000_000

_INTEGER = re.compile(r"[0-9]{1,12}")
_PRICE = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,2})?")
_TOO_PRECISE = re.compile(r"[0-9]*\.[0-9]{3,}")
_WEB_URL = re.compile(r"https?://[^/?#\s]", re.IGNORECASE)


class FeedError(ValueError):
    """The file as a whole cannot be read (not UTF-8, no header, broken JSON, unknown format).

    Rows already yielded stay valid; the import fails with this message as its reason."""


@dataclass(frozen=True, slots=True)
class RowProblem:
    field: str
    message: str


@dataclass(frozen=True, slots=True)
class FeedRow:
    sku: str
    name: str
    price_cents: int | None = None
    stock: int | None = None
    description: str | None = None
    category: str | None = None
    image_url: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedRow:
    """One data row: its 1-based number, its original cells (column → text, for a
    rejected-rows CSV), the raw sku if any (for the report), and a row or its problems."""

    row: int
    cells: dict[str, str]
    sku: str | None
    feed_row: FeedRow | None
    problems: tuple[RowProblem, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.feed_row is not None


def make_row(
    number: int,
    cells: dict[str, str],
    values: Mapping[str, object],
    problems: Iterable[RowProblem] = (),
) -> ParsedRow:
    """Validate `values` and wrap the outcome with the row's number and cells; `problems`
    already found by a format's own checks are reported with the rest."""
    found = list(problems)
    result = validate_row(values, already=found)
    if isinstance(result, FeedRow):
        return ParsedRow(number, cells, result.sku, result)
    return ParsedRow(number, cells, _raw_sku(values.get("sku")), None, tuple(result))


def _raw_sku(raw: object) -> str | None:
    """A refused row's sku as the partner wrote it (a JSON number too), for the report and
    for telling its product apart from one the feed no longer names."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | Decimal):
        return None
    return str(raw).strip() or None


def validate_row(
    values: Mapping[str, object], *, already: Iterable[RowProblem] = ()
) -> FeedRow | list[RowProblem]:
    """The row's `FeedRow`, or every problem in it (with `already`, found elsewhere)."""
    problems = list(already)
    text = {name: _text(name, values.get(name), problems) for name in FIELDS}
    flagged = {problem.field for problem in problems}
    for name in ("sku", "name"):
        if text[name] is None and name not in flagged:
            problems.append(RowProblem(name, "is required"))
    for name, limit in MAX_LENGTHS.items():
        value = text[name]
        if value is not None and len(value) > limit:
            message = f"must be at most {limit} characters (got {len(value)})"
            problems.append(RowProblem(name, message))
    price_cents = _price_cents(text["price_cents"], text["price"], problems)
    stock = _integer("stock", text["stock"], problems, MAX_STOCK)
    if text["image_url"] is not None and not _is_web_url(text["image_url"]):
        problems.append(RowProblem("image_url", "must be an http:// or https:// URL"))
    if problems:
        return problems
    assert text["sku"] is not None
    assert text["name"] is not None
    return FeedRow(
        sku=text["sku"],
        name=text["name"],
        price_cents=price_cents,
        stock=stock,
        description=text["description"],
        category=text["category"],
        image_url=text["image_url"],
    )


def price_to_cents(text: str) -> int:
    """A decimal amount such as "19.99" in cents (1999), exactly, through `Decimal`.

    Raises ValueError with the reason for negatives, more than two decimals, exponents,
    NaN, infinities and anything else that is not plain digits with an optional point."""
    if text.startswith("-"):
        raise ValueError("must not be negative")
    if _TOO_PRECISE.fullmatch(text):
        raise ValueError("must have at most 2 decimal places")
    if not _PRICE.fullmatch(text):
        raise ValueError("must be a decimal amount such as 12.99")
    cents = int(Decimal(text) * 100)
    if cents > MAX_PRICE_CENTS:
        raise ValueError("is too large")
    return cents


def _text(name: str, raw: object, problems: list[RowProblem]) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
        problems.append(RowProblem(name, "must be a single text or number value"))
        return None
    value = str(raw).strip()
    if NUL in value:
        problems.append(RowProblem(name, NUL_MESSAGE))
        return None
    return value or None


def _price_cents(cents: str | None, price: str | None, problems: list[RowProblem]) -> int | None:
    value = None if cents is None else _integer("price_cents", cents, problems, MAX_PRICE_CENTS)
    if price is None:
        return value
    try:
        from_price = price_to_cents(price)
    except ValueError as error:
        problems.append(RowProblem("price", str(error)))
        return value
    if cents is None:
        return from_price
    if value is not None and value != from_price:
        problems.append(RowProblem("price", "disagrees with price_cents"))
    return value


def _integer(name: str, text: str | None, problems: list[RowProblem], limit: int) -> int | None:
    if text is None:
        return None
    if text.startswith("-"):
        problems.append(RowProblem(name, "must not be negative"))
        return None
    if not _INTEGER.fullmatch(text):
        problems.append(RowProblem(name, "must be a whole number"))
        return None
    value = int(text)
    if value > limit:
        problems.append(RowProblem(name, "is too large"))
        return None
    return value


def _is_web_url(url: str) -> bool:
    """http(s), a host, no spaces. The pattern answers the usual URL (every row of a feed
    may have one); urlsplit checks the rare one with a bracketed (IPv6) host."""
    if not _WEB_URL.match(url) or " " in url:
        return False
    if "[" not in url:
        return True
    try:
        return bool(urlsplit(url).netloc)
    except ValueError:
        return False
