"""One view, page or partial: helpers shared by the HTML blueprints.

Every `HX-*` header is read and written here through htmx-flask (`request.htmx`, its
`make_response`), so no view spells a header name by hand."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from flask import Response, redirect, render_template
from htmx_flask import make_response, request


def is_htmx() -> bool:
    """The request comes from htmx (`HX-Request: true`)."""
    return bool(request.htmx)


def is_partial() -> bool:
    """An htmx request wants only the partial, except when htmx restores history after a
    cache miss: then it needs the whole page to put back."""
    return is_htmx() and not request.htmx.history_restore_request


def htmx_current_path() -> str | None:
    """The path and query of the page htmx sent this request from (`HX-Current-URL`), or
    None when the request is not htmx's or the header names no same-site path."""
    if not is_htmx():
        return None
    current = urlparse(request.htmx.current_url or "")
    if not current.path.startswith("/"):
        return None
    return current.path + (f"?{current.query}" if current.query else "")


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


def htmx_redirect(target: str, status: int = 200) -> Response:
    """An empty answer telling htmx to move the whole page to `target` (`HX-Redirect`)."""
    return make_response("", status, redirect=target)


def with_trigger(response: Response, event: str) -> Response:
    """`response` plus `HX-Trigger: event`, for the parts of the page listening for it."""
    return make_response(response, trigger=event)


def as_alert(response: Response) -> Response:
    """`response` swapped into the page's alert region (`HX-Retarget`, `HX-Reswap`)."""
    return make_response(response, retarget="#alerts", reswap="innerHTML")


def varies_with_htmx(response: Response) -> Response:
    """`response` marked as differing between a page and its htmx partial (`Vary`), so no
    cache hands one for the other."""
    response.vary.add("HX-Request")
    return response
