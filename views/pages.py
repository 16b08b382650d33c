"""What every page template can use: the CSP nonce, CSRF token, money, the signed-in user."""

from __future__ import annotations

from typing import Any

from flask import Flask, g, request
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from app.models.users import Role


def money(cents: int | None) -> str:
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    cents = abs(int(cents))
    return f"{sign}${cents // 100:,}.{cents % 100:02d}"


def install(app: Flask) -> None:
    app.jinja_env.filters["money"] = money

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {
            "csp_nonce": g.get("csp_nonce", ""),
            "csrf_token": generate_csrf,
            "user": current_user,
            "Role": Role,
            "is_htmx": request.headers.get("HX-Request") == "true",
        }
