"""The JSON API of CONTRACT §3 under /api/v1: bearer tokens or the browser session."""

from __future__ import annotations

from flask import Blueprint, g, request
from flask_login import current_user

from app.current import current_config, db_session
from app.errors import Forbidden, Unauthorized
from app.models.users import User
from app.services.users import user_for_token

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.before_request
def _authenticate() -> None:
    """A bearer token, when sent, is the only identity considered (never the cookie)."""
    g.api_user = None
    header = request.headers.get("Authorization", "")
    if not header:
        return
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("use 'Authorization: Bearer <token>'")
    config = current_config()
    user = user_for_token(
        db_session(), token.strip(), config.secret_key, max_age=config.token_max_age_seconds
    )
    if user is None:
        raise Unauthorized("the token is invalid or expired")
    g.api_user = user


def optional_actor() -> User | None:
    if g.get("api_user") is not None:
        user: User = g.api_user
        return user
    if request.headers.get("Authorization"):
        return None
    if current_user.is_authenticated:
        return current_user
    return None


def actor(*roles: str) -> User:
    """The signed-in caller, who must have one of `roles` (admin always may)."""
    user = optional_actor()
    if user is None:
        raise Unauthorized("sign in or send a bearer token")
    if roles and not user.has_role(*roles):
        raise Forbidden("your role may not do this")
    return user


from views.api import (  # noqa: E402
    auth,
    catalog,
    feeds,
    flash_sales,
    orders,
    payments,
    returns,
    users,
    workflows,
)

__all__ = [
    "actor",
    "auth",
    "bp",
    "catalog",
    "feeds",
    "flash_sales",
    "optional_actor",
    "orders",
    "payments",
    "returns",
    "users",
    "workflows",
]
