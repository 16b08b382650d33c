"""The row rules of CONTRACT §3.6, one bad cell at a time, through the standard CSV."""

from __future__ import annotations

import random

import pytest

from app.db import NUL_MESSAGE
from app.feeds import FeedRow, RowProblem, price_to_cents
from app.feeds.rows import validate_row
from tests.feeds.helpers import csv_row, problems

HEADER = "sku,name,price,price_cents,stock,description,category,image_url"


def test_it_reads_a_complete_row() -> None:
    row = csv_row(HEADER, "A-1,Mug,12.99,,3,Big mug,Kitchen,https://x.example/m.jpg")
    assert row.ok
    assert row.feed_row == FeedRow(
        "A-1", "Mug", 1299, 3, "Big mug", "Kitchen", "https://x.example/m.jpg"
    )
    assert row.row == 1
    assert row.sku == "A-1"


def test_it_treats_empty_cells_as_absent_fields() -> None:
    row = csv_row(HEADER, "A-1,Mug,  ,,,,,")
    assert row.feed_row == FeedRow("A-1", "Mug")


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        (",Mug,1.00,,,,,", "sku", "is required"),
        ("A-1,,1.00,,,,,", "name", "is required"),
        ("A-1,   ,1.00,,,,,", "name", "is required"),
        (f"{'S' * 65},Mug,,,,,,", "sku", "must be at most 64 characters (got 65)"),
        (f"A-1,{'n' * 201},,,,,,", "name", "must be at most 200 characters (got 201)"),
        (
            f"A-1,Mug,,,,{'d' * 10_001},,",
            "description",
            "must be at most 10000 characters (got 10001)",
        ),
        (f"A-1,Mug,,,,,{'c' * 101},", "category", "must be at most 100 characters (got 101)"),
        ("A-1,Mug,-1.00,,,,,", "price", "must not be negative"),
        ("A-1,Mug,1.999,,,,,", "price", "must have at most 2 decimal places"),
        ("A-1,Mug,1e3,,,,,", "price", "must be a decimal amount such as 12.99"),
        ("A-1,Mug,NaN,,,,,", "price", "must be a decimal amount such as 12.99"),
        ("A-1,Mug,Infinity,,,,,", "price", "must be a decimal amount such as 12.99"),
        ('A-1,Mug,"1,50",,,,,', "price", "must be a decimal amount such as 12.99"),
        ("A-1,Mug,$5,,,,,", "price", "must be a decimal amount such as 12.99"),
        ("A-1,Mug,٣.00,,,,,", "price", "must be a decimal amount such as 12.99"),
        ("A-1,Mug,99999999.99,,,,,", "price", "is too large"),
        ("A-1,Mug,1000000.01,,,,,", "price", "is too large"),
        ("A-1,Mug,,100000001,,,,", "price_cents", "is too large"),
        ("A-1,Mug,,,10000001,,,", "stock", "is too large"),
        ("A-1,Mug,,-5,,,,", "price_cents", "must not be negative"),
        ("A-1,Mug,,5.5,,,,", "price_cents", "must be a whole number"),
        ("A-1,Mug,,2147483648,,,,", "price_cents", "is too large"),
        ("A-1,Mug,1.00,101,,,,", "price", "disagrees with price_cents"),
        ("A-1,Mug,abc,100,,,,", "price", "must be a decimal amount such as 12.99"),
        ("A-1,Mug,,,-1,,,", "stock", "must not be negative"),
        ("A-1,Mug,,,lots,,,", "stock", "must be a whole number"),
        ("A-1,Mug,,,1e2,,,", "stock", "must be a whole number"),
        ("A-1,Mug,,,,,,ftp://x.example/a.jpg", "image_url", "must be an http:// or https:// URL"),
        ("A-1,Mug,,,,,,javascript:alert(1)", "image_url", "must be an http:// or https:// URL"),
        ("A-1,Mug,,,,,,https://", "image_url", "must be an http:// or https:// URL"),
        ("A-1,Mug,,,,,,http://[::1", "image_url", "must be an http:// or https:// URL"),
        (
            "A-1,Mug,,,,,,https://x.example/a b.jpg",
            "image_url",
            "must be an http:// or https:// URL",
        ),
        (
            f"A-1,Mug,,,,,,https://x.example/{'p' * 2000}",
            "image_url",
            "must be at most 2000 characters (got 2018)",
        ),
    ],
)
def test_it_rejects_a_bad_cell_with_its_reason(line: str, field: str, message: str) -> None:
    row = csv_row(HEADER, line)
    assert row.feed_row is None
    assert problems(row) == {field: message}


@pytest.mark.parametrize("field", ["sku", "name", "description", "category"])
def test_it_refuses_nul_in_any_text_field(field: str) -> None:
    values = {"sku": "A-1", "name": "Mug", field: "bad\x00text"}
    assert validate_row(values) == [RowProblem(field, NUL_MESSAGE)]


def test_it_reports_every_problem_of_a_row_at_once() -> None:
    row = csv_row(HEADER, ",,abc,,-2,,,mailto:a@b.c")
    assert set(problems(row)) == {"sku", "name", "price", "stock", "image_url"}
    assert row.sku is None


def test_it_accepts_price_cents_and_a_price_that_agree() -> None:
    assert csv_row(HEADER, "A-1,Mug,1.01,101,,,,").feed_row == FeedRow("A-1", "Mug", 101)


def test_it_accepts_the_limits_exactly() -> None:
    line = f"{'S' * 64},{'n' * 200},1000000.00,,10000000,{'d' * 10_000},{'c' * 100},"
    row = csv_row(HEADER, line)
    assert row.feed_row is not None
    assert row.feed_row.price_cents == 100_000_000
    assert row.feed_row.stock == 10_000_000


@pytest.mark.parametrize(
    ("text", "cents"),
    [("19.99", 1999), ("0.1", 10), ("0", 0), ("7", 700), ("0.07", 7), ("999999.99", 99999999)],
)
def test_it_converts_prices_exactly(text: str, cents: int) -> None:
    assert price_to_cents(text) == cents


def test_it_round_trips_every_two_decimal_price_exactly() -> None:
    generator = random.Random(12)
    cases = [(units, hundredths) for units in range(200) for hundredths in range(100)]
    cases += [(generator.randrange(1_000_000), generator.randrange(100)) for _ in range(20_000)]
    for units, hundredths in cases:
        assert price_to_cents(f"{units}.{hundredths:02d}") == units * 100 + hundredths


@pytest.mark.parametrize("raw", [True, ["a"], {"a": 1}])
def test_it_refuses_values_that_are_not_one_scalar(raw: object) -> None:
    message = "must be a single text or number value"
    assert validate_row({"sku": "A-1", "name": "Mug", "stock": raw}) == [
        RowProblem("stock", message)
    ]
