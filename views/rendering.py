"""One view, page or partial: helpers shared by the HTML blueprints."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from flask import Response, make_response, redirect, render_template, request


def is_partial() -> bool:
    """An htmx request wants only the partial, except when htmx restores history after a
    cache miss: then it needs the whole page to put back."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def page_or_partial(page: str, partial: str, status: int = 200, /, **context: Any) -> Response:
    """Render the full page, or only its partial for an htmx request."""
    template = partial if is_partial() else page
    return make_response(render_template(template, **context), status)


def safe_local(target: str | None, default: str) -> str:
    """A same-site path to go back to, or `default` (no open redirects)."""
    if not target:
        return default
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target:
        return default
    return target


def redirect_to(target: str) -> Response:
    return redirect(target)  # type: ignore[return-value]


def with_trigger(response: Response, event: str) -> Response:
    response.headers["HX-Trigger"] = event
    return response
