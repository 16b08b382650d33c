"""Per-request plumbing: request ids, access logs, CSRF for cookie sessions, security headers."""

from __future__ import annotations

import logging
import re
import secrets
import time
import uuid

from flask import Flask, Response, g, request
from flask_login import current_user

from app.extensions import csrf
from app.logs import request_id_var

log = logging.getLogger("backroom.access")
SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def install(app: Flask) -> None:
    app.before_request(_start)
    app.before_request(_csrf)
    app.after_request(_finish)


def _start() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if SAFE_ID.match(incoming) else uuid.uuid4().hex
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


def _finish(response: Response) -> Response:
    response.headers["X-Request-ID"] = g.get("request_id", "-")
    nonce = g.get("csp_nonce", "")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; "
        f"script-src 'self' 'nonce-{nonce}'; "
        "style-src 'self'; "
        "img-src 'self' data: https: http:; "
        "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'none'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if response.mimetype == "text/html":
        response.vary.add("HX-Request")
        response.headers.setdefault("Cache-Control", "no-store")
    started = g.get("started")
    if started is not None and request.endpoint != "static":
        log.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
    return response
