"""A micro-cache for the pages anonymous shoppers hit hardest (the catalog).

Rendering the catalog costs milliseconds; one process serves it well over a thousand times
a second only if it does not render it every time. An anonymous visitor with an empty
session sees the same page as every other one, except for two per-request values: the CSRF
token and the CSP nonce. Those are rendered as placeholders, the page is kept for `ttl`
seconds (or until the catalog changes in this process), and each response gets its own
token and nonce swapped in. Signed-in users and sessions carrying anything (a cart, a
flash message) always get a fresh render.

Staleness is bounded: changes made in this process invalidate at once (the catalog version);
changes made by another process show within `ttl`.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from flask import Response, g, request, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

CSRF_MARK = "__backroom_csrf_token__"
NONCE_MARK = "__backroom_csp_nonce__"


class PageCache:
    """A small LRU of rendered bodies, each valid for one catalog version and `ttl` seconds."""

    def __init__(self, *, ttl: float = 1.0, size: int = 256) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[str, tuple[int, float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, version: int) -> str | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != version or entry[1] < time.monotonic():
                return None
            self._entries.move_to_end(key)
            return entry[2]

    def put(self, key: str, version: int, body: str, ttl: float | None = None) -> None:
        """Keep `body` for `ttl` seconds (at most the cache's own)."""
        keep = self.ttl if ttl is None else max(0.0, min(self.ttl, ttl))
        with self._lock:
            self._entries[key] = (version, time.monotonic() + keep, body)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class FragmentCache:
    """A bounded LRU of rendered fragments keyed by everything they show (a frozen value):
    memoizing a pure render, so an entry is never stale, only evicted."""

    def __init__(self, *, size: int = 2048) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, str] = OrderedDict()
        self._lock = threading.Lock()

    def render(self, key: Hashable, render: Callable[[], str]) -> Markup:
        """The fragment for `key` with this response's CSRF token in it."""
        with self._lock:
            html = self._entries.get(key)
            if html is not None:
                self._entries.move_to_end(key)
        if html is None:
            html = render_shared(render)
            with self._lock:
                self._entries[key] = html
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        return with_csrf(html)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def render_shared(render: Callable[[], str]) -> str:
    """Render HTML that several visitors will share: form tokens become a placeholder."""
    outer = g.get("render_placeholders", False)
    g.render_placeholders = True
    try:
        return render()
    finally:
        g.render_placeholders = outer


def with_csrf(html: str) -> Markup:
    """Shared HTML with this visitor's form token in place of the placeholder (kept while
    it is itself part of a shared render)."""
    if CSRF_MARK in html and not csrf_placeholder_active():
        html = html.replace(CSRF_MARK, generate_csrf())
    # The HTML came from an autoescaped template; the token is URL-safe base64.
    return Markup(html)  # noqa: S704


def cacheable() -> bool:
    """Only GETs from anonymous visitors whose session holds nothing but a CSRF token."""
    return (
        request.method == "GET"
        and not current_user.is_authenticated
        and set(session.keys()) <= {"csrf_token"}
    )


def valid_for(seconds: float) -> None:
    """Say, while rendering, that the page changes in `seconds` (e.g. a sale price ends)."""
    g.page_valid_for = min(seconds, g.get("page_valid_for", seconds))


def csrf_placeholder_active() -> bool:
    return bool(g.get("render_placeholders"))


def serve_cached(
    cache: PageCache, version: int, render: Callable[[], str], *, vary: str = ""
) -> Response:
    """The page from `render`, through the cache when the visitor is anonymous."""
    if not cacheable():
        return Response(render(), mimetype="text/html")
    key = f"{request.full_path}|{vary}"
    body = cache.get(key, version)
    if body is None:
        g.render_placeholders = True
        try:
            body = render()
        finally:
            g.render_placeholders = False
        cache.put(key, version, body, g.pop("page_valid_for", None))
    if CSRF_MARK in body:
        body = body.replace(CSRF_MARK, generate_csrf())
    body = body.replace(NONCE_MARK, g.get("csp_nonce", ""))
    return Response(body, mimetype="text/html")
