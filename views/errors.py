"""One place that turns every error into CONTRACT's JSON (API), an inline alert (htmx) or a page."""

from __future__ import annotations

import logging
import math
import time

from flask import Flask, Response, jsonify, render_template, request
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from app.errors import DomainError
from views.rendering import as_alert, is_htmx

log = logging.getLogger("backroom.errors")

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def wants_json() -> bool:
    path = request.path
    return path.startswith(("/api/", "/health")) or path == "/metrics"


def install(app: Flask) -> None:
    app.register_error_handler(DomainError, render_domain_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(RateLimitExceeded, _rate_limited)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(OperationalError, _database_unavailable)
    app.register_error_handler(PoolTimeout, _database_unavailable)
    app.register_error_handler(Exception, _unexpected)


def render_domain_error(error: DomainError) -> Response:
    if wants_json():
        response = jsonify(error.to_json())
    elif is_htmx():
        response = as_alert(Response(render_template("_alert.html", error=error)))
        # htmx swaps no error status by default: app.js swaps a retargeted alert whatever
        # its status. The status is the real one, for logs and metrics; the header repeats it.
        response.headers["X-Error-Status"] = str(error.status)
    else:
        response = Response(render_template("error.html", error=error), mimetype="text/html")
    response.status_code = error.status
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _csrf_error(error: CSRFError) -> Response:
    return render_domain_error(
        DomainError(
            "your form expired or came from another site; reload the page and try again",
            code="bad_request",
            status=400,
            details={"reason": "csrf"},
        )
    )


def _rate_limited(error: RateLimitExceeded) -> Response:
    retry = 60
    limit = getattr(error, "limit", None)
    if limit is not None:
        try:
            reset_at = limit.reset_at
            retry = max(1, math.ceil(reset_at - time.time()))
        except Exception:  # storage unavailable: keep the default hint
            retry = 60
    return render_domain_error(
        DomainError(
            f"too many requests; try again in {retry} seconds",
            code="rate_limited",
            status=429,
            retry_after=retry,
            details={"retry_after": retry},
        )
    )


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    code = HTTP_CODES.get(status, "http_error")
    message = error.description or error.name
    if status == 404:
        message = "not found"
    domain = DomainError(message, code=code, status=status)
    response = render_domain_error(domain)
    if status == 405 and error.get_response().headers.get("Allow"):
        response.headers["Allow"] = error.get_response().headers["Allow"]
    return response


DATABASE_RETRY_SECONDS = 5


def _database_unavailable(error: Exception) -> Response:
    """The database is down, restarting, unreachable or too busy to answer in time: a
    passing state, answered 503 with when to retry (CONTRACT §3.1 allows no other 5xx).
    The next request gets a fresh connection (the pool checks each one it hands out)."""
    log.warning(
        "database unavailable on %s %s: %s",
        request.method,
        request.path,
        type(getattr(error, "orig", None) or error).__name__,
    )
    retry = DATABASE_RETRY_SECONDS
    if wants_json() or is_htmx():
        response = render_domain_error(
            DomainError(
                "the service is briefly unavailable; try again shortly",
                code="service_unavailable",
                status=503,
                retry_after=retry,
                details={"retry_after": retry},
            )
        )
    else:
        page = render_template("unavailable.html", retry_after=retry)
        response = Response(page, status=503, mimetype="text/html")
        response.headers["Retry-After"] = str(retry)
    return response


def _unexpected(error: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return render_domain_error(
        DomainError(
            "something went wrong on our side; it has been logged",
            code="internal_error",
            status=500,
        )
    )
