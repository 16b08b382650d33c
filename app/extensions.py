"""Flask extensions, created once and bound in `create_app`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, current_app, request
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
htmx = Htmx()
LIMITS = "rate_limits"  # the attribute of a view listing the limits it declared


def rate_limit(
    value: str | Callable[[], str], *, scope: str | None = None, **options: Any
) -> Callable[[F], F]:
    """Declare a limit on a view: `limiter.limit` (or, with `scope`, one budget shared by
    every view naming that scope), applied by each app's own limiter (`build_limiter`).
    Every limit of the app is declared this way: there are no application-wide or default
    limits."""

    def declare(view: F) -> F:
        setattr(view, LIMITS, [*getattr(view, LIMITS, []), (value, scope, options)])
        return view

    return declare


def build_limiter(app: Flask) -> Limiter:
    """The app's own flask-limiter, with the limits its views declared applied. One per app:
    its storage (and whether that storage is down) belongs to this app alone."""
    limiter = Limiter(key_func=rate_limit_key)
    limiter.init_app(app)

    @limiter.request_filter
    def _declares_no_limit() -> bool:
        # No default or application-wide limits exist: a request to a view that declares
        # none is exempt, which spares flask-limiter's per-request hook most of its work.
        view = current_app.view_functions.get(request.endpoint or "")
        return not getattr(view, LIMITS, None)

    for endpoint, view in list(app.view_functions.items()):
        view = cast(Callable[..., Any], view)
        declared = getattr(view, LIMITS, [])
        for value, scope, options in declared:
            if scope is not None:
                view = limiter.shared_limit(value, scope=scope, **options)(view)
            else:
                view = limiter.limit(value, **options)(view)
        if declared:
            app.view_functions[endpoint] = view
    app.extensions["backroom.limiter"] = limiter
    return limiter


def current_limiter() -> Limiter:
    """The limiter of the app handling this request."""
    limiter: Limiter = current_app.extensions["backroom.limiter"]
    return limiter
