"""The `standard` format: our own row fields as CSV (delimiter sniffed) or a JSON list.

Column names are matched case-insensitively after trimming; unknown columns are ignored;
a partner's column mapping `{their_column: our_field}` renames theirs first.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Mapping
from decimal import Decimal

from app.feeds.options import FeedOptions
from app.feeds.reading import read_csv, read_json_list, starts_with_json_list
from app.feeds.rows import FIELDS, FeedError, ParsedRow, RowProblem, make_row


def parse_standard(binary: io.BufferedReader, options: FeedOptions) -> Iterator[ParsedRow]:
    """Rows of a standard feed: JSON when the content type says so (or, with none given,
    when the body starts with `[`), CSV otherwise."""
    mapping = normalize_mapping(options.mapping)
    content_type = (options.content_type or "").lower()
    if "json" in content_type or (not content_type and starts_with_json_list(binary)):
        return _parse_json(binary, mapping)
    return _parse_csv(binary, mapping)


def normalize_mapping(mapping: Mapping[str, str] | None) -> dict[str, str]:
    """The partner's mapping with trimmed lower-case keys; FeedError for an unknown field."""
    normalized: dict[str, str] = {}
    for theirs, ours in (mapping or {}).items():
        field = ours.strip().lower()
        if field not in FIELDS:
            raise FeedError(f"the column mapping names an unknown field {ours!r}")
        normalized[theirs.strip().lower()] = field
    return normalized


def _field_for(column: str, mapping: dict[str, str]) -> str | None:
    key = column.strip().lower()
    if key in mapping:
        return mapping[key]
    return key if key in FIELDS else None


def _parse_csv(binary: io.BufferedReader, mapping: dict[str, str]) -> Iterator[ParsedRow]:
    header, records = read_csv(binary)
    columns: dict[str, int] = {}
    for index, column in enumerate(header):
        field = _field_for(column, mapping)
        if field is not None:
            columns.setdefault(field, index)
    for required in ("sku", "name"):
        if required not in columns:
            raise FeedError(f"the header has no {required} column (found: {', '.join(header)})")
    for number, cells in records:
        values = {field: cells[index] for field, index in columns.items() if index < len(cells)}
        yield make_row(number, dict(zip(header, cells, strict=False)), values)


def _parse_json(binary: io.BufferedReader, mapping: dict[str, str]) -> Iterator[ParsedRow]:
    for number, element in read_json_list(binary):
        if not isinstance(element, dict):
            problem = RowProblem("row", "must be a JSON object")
            yield ParsedRow(number, {"": _cell(element)}, None, None, (problem,))
            continue
        values: dict[str, object] = {}
        for key, value in element.items():
            field = _field_for(key, mapping)
            if field is not None:
                values.setdefault(field, value)
        cells = {key: _cell(value) for key, value in element.items()}
        yield make_row(number, cells, values)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, default=str)
