"""A 100,000-row feed is parsed as a stream: peak memory stays small (memory, not time)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

from app.feeds import parse

ROWS = 100_000
PEAK_LIMIT = 30 * 1024 * 1024


def generated_csv() -> Iterator[bytes]:
    """About 13 MB of semicolon CSV with a quoted multi-line description, made as it is read."""
    yield "\ufeffsku;name;price;stock;description;category;image_url\r\n".encode()
    for number in range(ROWS):
        price = "bad" if number % 1000 == 999 else f"{number % 500}.{number % 100:02d}"
        yield (
            f'SKU-{number:06d};"Product {number}; deluxe";{price};{number % 50};'
            f'"Line one\nline two of {number}";Category {number % 20};'
            f"https://cdn.example.com/{number}.jpg\r\n"
        ).encode()


def test_it_parses_100000_rows_with_bounded_memory() -> None:
    good = rejected = last = 0
    tracemalloc.start()
    try:
        for row in parse(generated_csv(), format="standard", content_type="text/csv"):
            last = row.row
            if row.ok:
                good += 1
            else:
                rejected += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (good, rejected, last) == (ROWS - 100, 100, ROWS)
    assert peak < PEAK_LIMIT, f"peak {peak / 1e6:.1f} MB"
    print(f"peak traced memory for {ROWS} rows: {peak / 1e6:.2f} MB")
