"""Domain errors: each carries its HTTP status and a stable code; one handler renders them."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        details: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details or {}
        self.retry_after = retry_after

    def to_json(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class BadRequest(DomainError):
    status, code = 400, "bad_request"


class Unauthorized(DomainError):
    status, code = 401, "unauthorized"


class PaymentDeclined(DomainError):
    status, code = 402, "payment_declined"


class Forbidden(DomainError):
    status, code = 403, "forbidden"


class NotFound(DomainError):
    status, code = 404, "not_found"


class Conflict(DomainError):
    status, code = 409, "conflict"


class Gone(DomainError):
    status, code = 410, "gone"


class TooLarge(DomainError):
    status, code = 413, "too_large"


class UnsupportedMediaType(DomainError):
    status, code = 415, "unsupported_media_type"


class ValidationError(DomainError):
    """422 with `details.fields` mapping each bad field to what is wrong with it."""

    status, code = 422, "validation_error"

    def __init__(self, fields: dict[str, str], message: str | None = None, **kw: Any) -> None:
        details = {"fields": fields, **kw.pop("details", {})}
        text = message or "; ".join(f"{k}: {v}" for k, v in fields.items()) or "invalid input"
        super().__init__(text, details=details, **kw)
        self.fields = fields


class RateLimited(DomainError):
    status, code = 429, "rate_limited"


class PaymentError(DomainError):
    status, code = 502, "payment_error"


class PaymentUnavailable(DomainError):
    status, code = 503, "payment_unavailable"
