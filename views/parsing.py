"""Turning request input into checked plain values; every problem becomes a 400/422."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import request

from app.db import MAX_INT
from app.errors import BadRequest, ValidationError

ID = f"int(max={MAX_INT})"
"""The URL converter of every row id (`@bp.get(f"/orders/<{ID}:order_id>")`): a path id past
MAX_INT answers 404 from the router, before any view or query sees it."""


def json_body() -> dict[str, Any]:
    """The request's JSON object, or 400 for anything else (including no body)."""
    try:
        data = request.get_json(silent=True, force=True)
    except RecursionError:  # absurdly nested JSON: refuse it like any other bad body
        data = None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def get_str(
    data: dict[str, Any],
    name: str,
    problems: dict[str, str],
    *,
    required: bool = True,
    max_len: int = 10_000,
    default: str = "",
) -> str:
    value = data.get(name)
    if value is None:
        if required:
            problems[name] = "is required"
        return default
    if not isinstance(value, str):
        problems[name] = "must be a string"
        return default
    if len(value) > max_len:
        problems[name] = f"must have at most {max_len} characters"
        return default
    return value


def get_int(
    data: dict[str, Any],
    name: str,
    problems: dict[str, str],
    *,
    required: bool = True,
    minimum: int = 0,
    maximum: int = MAX_INT,
    label: str | None = None,
) -> int | None:
    label = label or name
    value = data.get(name)
    if value is None:
        if required:
            problems[label] = "is required"
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        problems[label] = "must be an integer"
        return None
    if not minimum <= value <= maximum:
        problems[label] = f"must be from {minimum} to {maximum}"
        return None
    return value


def get_bool(data: dict[str, Any], name: str, problems: dict[str, str]) -> bool | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        problems[name] = "must be true or false"
        return None
    return value


def form_int(
    name: str,
    problems: dict[str, str],
    *,
    required: bool = True,
    minimum: int = 0,
    maximum: int = MAX_INT,
) -> int | None:
    """An integer from a form field (text), with the same rules as `get_int`."""
    raw = (request.form.get(name) or "").strip()
    if not raw:
        if required:
            problems[name] = "is required"
        return None
    try:
        value = int(raw)
    except ValueError:
        problems[name] = "must be a whole number"
        return None
    if not minimum <= value <= maximum:
        problems[name] = f"must be from {minimum} to {maximum}"
        return None
    return value


def form_cents(name: str, problems: dict[str, str], *, required: bool = True) -> int | None:
    """A money amount typed as '12.99' (or '12') into a form, as integer cents."""
    raw = (request.form.get(name) or "").strip().replace(",", "")
    if not raw:
        if required:
            problems[name] = "is required"
        return None
    whole, _, frac = raw.partition(".")
    if not whole.isdigit() or (frac and (not frac.isdigit() or len(frac) > 2)):
        problems[name] = "must be an amount like 12.99"
        return None
    cents = int(whole) * 100 + int((frac or "0").ljust(2, "0"))
    if cents > 100_000_000:
        problems[name] = "is too large"
        return None
    return cents


def query_page() -> tuple[int, int]:
    """`?page=&per_page=` (per_page at most 100); 422 when they are not positive integers."""
    problems: dict[str, str] = {}
    values = []
    for name, default in (("page", 1), ("per_page", 20)):
        raw = request.args.get(name, "")
        if raw == "":
            values.append(default)
            continue
        try:
            value = int(raw)
        except ValueError:
            problems[name] = "must be a positive integer"
            continue
        if value < 1 or value > MAX_INT:
            problems[name] = "must be a positive integer"
            continue
        values.append(value)
    if problems:
        raise ValidationError(problems)
    return values[0], min(values[1], 100)


def raise_if(problems: dict[str, str]) -> None:
    if problems:
        raise ValidationError(problems)


def parse_datetime(value: Any) -> datetime | None:
    """An ISO 8601 time as UTC (a time without an offset is taken as UTC), or None."""
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):  # year 1 with a positive offset, and the like
        return None


def get_datetime(
    data: dict[str, Any], name: str, problems: dict[str, str], *, required: bool = True
) -> datetime | None:
    value = data.get(name)
    if value is None or value == "":
        if required:
            problems[name] = "is required"
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        problems[name] = "must be an ISO 8601 date and time, such as 2026-12-01T09:00:00Z"
    return parsed


def active_flag() -> bool:
    """The `active` field of a show/hide or activate/deactivate form: "1" or "0"."""
    raw = request.form.get("active", "")
    if raw not in ("0", "1"):
        raise ValidationError({"active": "must be 0 or 1"})
    return raw == "1"
