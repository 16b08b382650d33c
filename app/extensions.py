"""Flask extensions, created once and bound in `create_app`."""

from __future__ import annotations

from flask import request
from flask_limiter import Limiter
from flask_login import LoginManager, current_user
from flask_wtf import CSRFProtect
from htmx_flask import Htmx


def rate_limit_key() -> str:
    """Per user when signed in (cookie or bearer), else per client address."""
    from flask import g

    user = getattr(g, "api_user", None)
    if user is not None:
        return f"user:{user.id}"
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return f"ip:{request.remote_addr or '-'}"


login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=rate_limit_key)
htmx = Htmx()
