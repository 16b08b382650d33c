"""Flask extensions, created once and bound in `create_app`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import request
from flask_limiter import Limiter
from flask_login import LoginManager, current_user
from flask_wtf import CSRFProtect
from htmx_flask import Htmx

from app.rate_limits import InProcessLimits

F = TypeVar("F", bound=Callable[..., Any])


def rate_limit_key() -> str:
    """Per user when signed in (cookie or bearer), else per client address."""
    from flask import g

    user = getattr(g, "api_user", None)
    if user is not None:
        return f"user:{user.id}"
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return f"ip:{request.remote_addr or '-'}"


IN_PROCESS_LIMITS = InProcessLimits.STORAGE_SCHEME[0] + "://"
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=rate_limit_key)
htmx = Htmx()


def rate_limit(
    value: str | Callable[[], str], *, scope: str | None = None, **options: Any
) -> Callable[[F], F]:
    """`limiter.limit` (or, with `scope`, one budget shared by every view naming that scope).
    Every limit of the app is declared this way, on its view: there are no application-wide
    or default limits."""

    def decorate(view: F) -> F:
        if scope is not None:
            return limiter.shared_limit(value, scope=scope, **options)(view)  # type: ignore[return-value]
        return limiter.limit(value, **options)(view)  # type: ignore[return-value]

    return decorate
