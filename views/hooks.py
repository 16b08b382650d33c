"""Per-request plumbing: request ids, access logs, CSRF for cookie sessions, security headers."""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request
from flask_login import current_user

from app.config import BODY_LIMIT
from app.current import current_config
from app.errors import UnsupportedMediaType
from app.extensions import csrf
from app.logs import request_id_var
from views.rendering import varies_with_htmx

log = logging.getLogger("backroom.access")
# A caller's own request id is kept when it is plain; `job:` ids are the scheduler's (the
# logs page files a line under the job its id names), so a client cannot send one.
SAFE_ID = re.compile(r"^(?!job:)[A-Za-z0-9._:-]{1,128}$")
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def install(app: Flask) -> None:
    app.before_request(_start)
    app.before_request(_media_type)
    app.before_request(_csrf)
    app.after_request(_finish)


JSON = "application/json"
F = TypeVar("F", bound=Callable[..., Any])


def accepts(*media_types: str) -> Callable[[F], F]:
    """The body types an API view takes instead of JSON (uploads)."""

    def mark(view: F) -> F:
        view.accepts = frozenset(media_types)  # type: ignore[attr-defined]
        return view

    return mark


def body_limit(limit: Callable[[], int]) -> Callable[[F], F]:
    """The largest body a view takes, in bytes, when it is not the default (feed uploads)."""

    def mark(view: F) -> F:
        view.body_limit = limit  # type: ignore[attr-defined]
        return view

    return mark


def _media_type() -> None:
    """An API call with a body takes JSON only, or what its view `accepts` (CONTRACT §3.1).
    A cross-site form can send text/plain, urlencoded or multipart bodies without a
    preflight; refusing them here keeps such a page from signing in or counting failures
    toward someone's lockout, whatever the view does with its body."""
    if not request.path.startswith("/api/") or request.endpoint is None:
        return
    if (
        not request.content_length
        and "chunked" not in request.headers.get("Transfer-Encoding", "").lower()
    ):
        return
    view = current_app.view_functions.get(request.endpoint)
    accepted = getattr(view, "accepts", None) or frozenset({JSON})
    if request.mimetype not in accepted:
        raise UnsupportedMediaType(
            f"send the body as {' or '.join(sorted(accepted))}",
            details={"content_type": request.mimetype[:100], "accepted": sorted(accepted)},
        )


# Unique per process start (random prefix) and per request (a counter): as unique as a
# uuid4 for tracing, at a fraction of the cost on every request.
_PREFIX = secrets.token_hex(8)
_COUNTER = itertools.count(1)


def _new_request_id() -> str:
    return f"{_PREFIX}{next(_COUNTER):016x}"


def _start() -> None:
    view = current_app.view_functions.get(request.endpoint or "")
    limit = getattr(view, "body_limit", None)
    if limit is not None:
        request.max_content_length = limit()
    elif request.mimetype != "multipart/form-data":
        request.max_content_length = BODY_LIMIT  # only photo forms need UPLOAD_LIMIT
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if SAFE_ID.match(incoming) else _new_request_id()
    g.started = time.perf_counter()
    g.csp_nonce = secrets.token_urlsafe(16)
    request_id_var.set(g.request_id)


def uses_header_auth() -> bool:
    """Bearer tokens and partner keys cannot be sent by another site: no CSRF needed."""
    auth = request.headers.get("Authorization", "")
    return auth.lower().startswith("bearer ") or bool(request.headers.get("X-API-Key"))


def _csrf() -> None:
    """Pages always need the token on unsafe requests. The API needs it only when the
    caller is identified by the session cookie: an anonymous API call has no ambient
    authority for another site to borrow, and header credentials cannot be forged by one."""
    if request.method not in UNSAFE_METHODS or uses_header_auth():
        return
    if request.path.startswith("/api/") and not current_user.is_authenticated:
        return
    csrf.protect()


CSP_BEFORE_NONCE = "default-src 'self'; script-src 'self' 'nonce-"
# Product images may come from partners' hosts; nothing else loads from anywhere but here.
CSP_AFTER_NONCE = (
    "'; style-src 'self'; img-src 'self' data: https: http:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SLOW_MS = 1000.0


def _finish(response: Response) -> Response:
    headers = response.headers
    headers["X-Request-ID"] = g.get("request_id", "-")
    if "Content-Security-Policy" not in headers:
        headers["Content-Security-Policy"] = (
            CSP_BEFORE_NONCE + g.get("csp_nonce", "") + CSP_AFTER_NONCE
        )
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
    headers["X-Frame-Options"] = "DENY"
    if response.mimetype == "text/html":
        varies_with_htmx(response)
        headers.setdefault("Cache-Control", "no-store")
    started = g.get("started")
    if started is None or request.endpoint == "static":
        return response
    elapsed = (time.perf_counter() - started) * 1000
    # Every request in "all" mode; otherwise only what someone should look at.
    if current_config().access_log == "all" or response.status_code >= 400 or elapsed >= SLOW_MS:
        log.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round(elapsed, 2),
            },
        )
    return response
