"""Flask extensions, created once and bound in `create_app`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from flask import request
from flask_limiter import Limiter
from flask_login import LoginManager, current_user
from flask_wtf import CSRFProtect
from htmx_flask import Htmx
from limits.storage import MemoryStorage

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


class SweptMemoryStorage(MemoryStorage):
    """limits' in-process storage, sweeping expired counts once a second instead of 10 ms
    after every hit. Its sweep walks every key: with a count per customer (a flash-sale
    stampede has thousands), sweeping a hundred times a second took a quarter of the
    process. Counting never relies on the sweep (every check compares timestamps); the
    sweep only frees memory."""

    STORAGE_SCHEME = ["backroom-memory"]  # registered with limits under this scheme
    SWEEP_SECONDS = 1.0

    def _MemoryStorage__schedule_expiry(self) -> None:  # overrides the parent's private one
        if not self.timer.is_alive():
            self.timer = threading.Timer(self.SWEEP_SECONDS, self._MemoryStorage__expire_events)  # type: ignore[attr-defined]
            self.timer.daemon = True
            self.timer.start()


IN_PROCESS_LIMITS = "backroom-memory://"
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=rate_limit_key)
htmx = Htmx()


def rate_limit(
    value: str | Callable[[], str], *, scope: str | None = None, **options: Any
) -> Callable[[F], F]:
    """`limiter.limit` (or, with `scope`, one budget shared by every view naming that scope).
    Every limit of the app is declared this way, on its view: there are no application-wide
    or default limits (see `unhook_request_check`)."""

    def decorate(view: F) -> F:
        if scope is not None:
            return limiter.shared_limit(value, scope=scope, **options)(view)  # type: ignore[return-value]
        return limiter.limit(value, **options)(view)  # type: ignore[return-value]

    return decorate


def unhook_request_check(app: Any) -> None:
    """Take flask-limiter's before_request check off `app`. A limit declared on a view is
    counted when the view runs; that hook would walk the same limits again for every request
    and find nothing to apply (no default or application-wide limits exist), at about a
    tenth of a flash-sale request's time."""
    app.before_request_funcs[None].remove(limiter._check_request_limit)
