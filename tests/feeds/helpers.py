"""Small helpers for the feed parser tests: parse bytes and look at one row."""

from __future__ import annotations

from typing import Any

from app.feeds import ParsedRow, parse


def rows(data: bytes, format: str = "standard", **options: Any) -> list[ParsedRow]:
    return list(parse(data, format=format, **options))


def one(data: bytes, format: str = "standard", **options: Any) -> ParsedRow:
    (row,) = rows(data, format, **options)
    return row


def problems(row: ParsedRow) -> dict[str, str]:
    return {problem.field: problem.message for problem in row.problems}


def csv_row(header: str, line: str) -> ParsedRow:
    return one(f"{header}\n{line}\n".encode())
