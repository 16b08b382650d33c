"""What every page template can use: the CSP nonce, CSRF token, money, the signed-in user."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Flask, current_app, g
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape

from app.models.users import Role
from app.services.users import Named, display_name
from views.page_cache import CSRF_MARK, NONCE_MARK, csrf_placeholder_active
from views.rendering import is_htmx


def money(cents: int | None) -> str:
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    cents = abs(int(cents))
    return f"{sign}${cents // 100:,}.{cents % 100:02d}"


def when(value: datetime) -> str:
    """A stored UTC time as people read it: '25 Nov 2026, 14:00 UTC'."""
    return value.astimezone(UTC).strftime("%d %b %Y, %H:%M UTC")


def duration_clock(seconds: int | float) -> str:
    """A countdown as clocks show it: '4:05', '1:02:03', '2 d 3:04:05'."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours}:{minutes:02d}:{secs:02d}" if hours or days else f"{minutes}:{secs:02d}"
    return f"{days} d {clock}" if days else clock


def person(who: Named | None, username: bool = False) -> Markup:
    """`display_name` in a page: `{{ customer|person }}` 'Casey Customer'; on staff pages
    `{{ customer|person(username=true) }}` adds the account in muted text when the name is
    not it. None (no user: the system) reads 'System'."""
    if who is None:
        return Markup("System")
    shown = display_name(who)
    if not username or shown == who.username:
        return escape(shown)
    return Markup('%s <span class="muted username">(%s)</span>') % (shown, who.username)


def page_csrf_token() -> str:
    """The form token, or a placeholder while a shared page is rendered for the cache."""
    return CSRF_MARK if csrf_placeholder_active() else generate_csrf()


def has_page(endpoint: str) -> bool:
    """Link only to pages that exist: features arrive one by one."""
    return endpoint in current_app.view_functions


def install(app: Flask) -> None:
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["duration_clock"] = duration_clock
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["person"] = person
    # Macros imported without context see only globals; give them the same token source.
    app.jinja_env.globals["csrf_token"] = page_csrf_token
    app.jinja_env.globals["has_page"] = has_page

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {
            "csp_nonce": NONCE_MARK if csrf_placeholder_active() else g.get("csp_nonce", ""),
            "csrf_token": page_csrf_token,
            "user": current_user,
            "Role": Role,
            "is_htmx": is_htmx(),
        }
