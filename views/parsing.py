"""Turning request input into checked plain values; every problem becomes a 400/422."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn, TypeVar

from flask import request
from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

from app.db import MAX_INT, NUL, NUL_MESSAGE
from app.errors import BadRequest, ValidationError

ID = f"int(max={MAX_INT})"
"""The URL converter of every row id (`@bp.get(f"/orders/<{ID}:order_id>")`): a path id past
MAX_INT answers 404 from the router, before any view or query sees it."""
B = TypeVar("B", bound="Body")


def json_body() -> dict[str, Any]:
    """The request's JSON object, or 400 for anything else (including no body)."""
    try:
        data = request.get_json(silent=True, force=True)
    except RecursionError:  # absurdly nested JSON: refuse it like any other bad body
        data = None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


# -- Request bodies: pydantic models at the boundary --------------------------------------
#
# A model declares each field with one of the types below; `validate` turns pydantic's
# errors into the contract's 422 `validation_error`, `details.fields` mapping each field
# (`lines[0].quantity`, `payment.card_number`) to its message. The messages are the API's
# own, so every check raises them itself (`refuse`) instead of pydantic's English.


class Body(BaseModel):
    """A request body: unknown keys are ignored, every field checks itself."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _absent_is_null(cls, data: Any) -> Any:
        """An absent required field is checked as a null one, so its own check names the
        problem ("is required", "must be a non-empty list") rather than pydantic."""
        if not isinstance(data, dict):
            return data
        absent = [n for n, f in cls.model_fields.items() if f.is_required() and n not in data]
        return {**data, **dict.fromkeys(absent)} if absent else data


def refuse(message: str) -> NoReturn:
    raise PydanticCustomError("backroom", message)


def _null(required: bool, null: str | None, default: Any) -> Any:
    """What a JSON null is: "is required", `null` (a message) when given, else `default`."""
    if required:
        refuse("is required")
    if null is not None:
        refuse(null)
    return default


def text(
    max_len: int | None = 10_000,
    *,
    required: bool = True,
    nul: bool = False,
    null: str | None = None,
    if_null: str | None = "",
) -> BeforeValidator:
    """A string field (`Annotated[str, text(200)]`) of at most `max_len` characters.
    Null: "is required", the `null` message, or else `if_null`. Text with NUL is refused
    (PostgreSQL cannot store it) unless `nul` (credentials: a wrong one is just not found)."""

    def check(value: Any) -> str | None:
        if value is None:
            return _null(required, null, if_null)
        if not isinstance(value, str):
            refuse("must be a string")
        if max_len is not None and len(value) > max_len:
            refuse(f"must have at most {max_len} characters")
        if not nul and NUL in value:
            refuse(NUL_MESSAGE)
        return value

    return BeforeValidator(check)


def integer(
    minimum: int = 0, maximum: int = MAX_INT, *, required: bool = True, null: str | None = None
) -> BeforeValidator:
    """An integer field (`Annotated[int, integer(1)]`): a JSON integer (not a bool, float or
    string) from `minimum` to `maximum`; null as for `text` (else None)."""

    def check(value: Any) -> int | None:
        if value is None:
            return _null(required, null, None)
        if isinstance(value, bool) or not isinstance(value, int):
            refuse("must be an integer")
        if not minimum <= value <= maximum:
            refuse(f"must be from {minimum} to {maximum}")
        return value

    return BeforeValidator(check)


def boolean(*, null: str | None = None) -> BeforeValidator:
    """A `bool | None` field: true or false; null: the `null` message when given, else None."""

    def check(value: Any) -> bool | None:
        if value is None:
            return _null(False, null, None)
        if not isinstance(value, bool):
            refuse("must be true or false")
        return value

    return BeforeValidator(check)


def _moment(value: Any) -> datetime:
    if value is None or value == "":
        refuse("is required")
    parsed = parse_datetime(value)
    if parsed is None:
        refuse("must be an ISO 8601 date and time, such as 2026-12-01T09:00:00Z")
    return parsed


Moment = Annotated[datetime, BeforeValidator(_moment)]
"""A required ISO 8601 time field, as UTC (`parse_datetime`)."""


def nonempty(
    *, max_items: int | None = None, too_many: str = "", keep: int | None = None
) -> BeforeValidator:
    """A non-empty list field (`Annotated[list[Line], nonempty()]`): more than `max_items`
    is refused with `too_many`; with `keep`, only the first `keep` are read (the service
    names the rest)."""

    def check(value: Any) -> list[Any]:
        if not isinstance(value, list) or not value:
            refuse("must be a non-empty list")
        if max_items is not None and len(value) > max_items:
            refuse(too_many)
        return value[:keep] if keep is not None else value

    return BeforeValidator(check)


def _label(location: tuple[int | str, ...]) -> str:
    label = ""
    for part in location:
        label += f"[{part}]" if isinstance(part, int) else (f".{part}" if label else part)
    return label


GENERIC = {
    "missing": "is required",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
}


def validate(model: type[B], data: Any) -> B:
    """`data` as `model`, or 422 `validation_error` naming every bad field at once."""
    try:
        return model.model_validate(data)
    except PydanticValidationError as error:
        problems: dict[str, str] = {}
        for problem in error.errors(include_url=False, include_context=False):
            label = _label(tuple(problem["loc"]))
            message = problem["msg"] if problem["type"] == "backroom" else None
            problems.setdefault(label, message or GENERIC.get(problem["type"], "is invalid"))
        raise ValidationError(problems) from None


def form_int(
    name: str,
    problems: dict[str, str],
    *,
    required: bool = True,
    minimum: int = 0,
    maximum: int = MAX_INT,
) -> int | None:
    """An integer from a form field (text), with the same range rules as `integer`."""
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


def whole_number(raw: str | None, *, digits: int = 10) -> int | None:
    """`raw` as an integer when it is 1 to `digits` ASCII digits, else None. (`str.isdigit`
    also takes "²" and "①", which `int` refuses: a 500 waiting for a curious user.)"""
    if raw and len(raw) <= digits and raw.isascii() and raw.isdigit():
        return int(raw)
    return None


def form_cents(name: str, problems: dict[str, str], *, required: bool = True) -> int | None:
    """A money amount typed as '12.99' (or '12') into a form, as integer cents."""
    raw = (request.form.get(name) or "").strip().replace(",", "")
    if not raw:
        if required:
            problems[name] = "is required"
        return None
    whole, _, frac = raw.partition(".")
    if whole_number(whole, digits=12) is None or (frac and whole_number(frac, digits=2) is None):
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


def active_flag() -> bool:
    """The `active` field of a show/hide or activate/deactivate form: "1" or "0"."""
    raw = request.form.get("active", "")
    if raw not in ("0", "1"):
        raise ValidationError({"active": "must be 0 or 1"})
    return raw == "1"
