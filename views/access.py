"""Who may open a page: decorators checked in the view, never only in the template.

Anonymous visitors are sent to /login with a `next` back to where they were; a signed-in
user whose role does not fit gets a 403 page (or an inline alert for htmx requests).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Blueprint, Response, g, redirect, request, url_for
from flask_login import current_user

from app.errors import Forbidden, Unauthorized
from app.models.users import Role, User
from views.rendering import htmx_current_path, htmx_redirect, is_htmx

F = TypeVar("F", bound=Callable[..., Any])
STAFF = (Role.SUPPORT, Role.WAREHOUSE, Role.FINANCE)


def signed_in_user() -> User:
    """The signed-in user itself (not flask-login's proxy); only call behind one of the
    decorators below."""
    if not current_user.is_authenticated:  # loads the session's user, once per request
        raise Unauthorized("sign in to continue")
    user: User = g.signed_in  # put there by the user loader (app) or by signing in
    return user


def _next_for_login(next_path: str | None) -> str:
    if next_path:
        return next_path
    current = htmx_current_path()
    if current is not None:
        return current
    if request.method == "GET":
        return request.full_path.rstrip("?")
    return request.path


def to_login(next_path: str | None = None) -> Response:
    """Redirect to the sign-in page; htmx requests get HX-Redirect (a full-page move)."""
    target = url_for("auth.login", next=_next_for_login(next_path))
    if is_htmx():
        return htmx_redirect(target)
    return redirect(target)  # type: ignore[return-value]


def role_required(*roles: str, next_path: str | None = None) -> Callable[[F], F]:
    """Require a signed-in user holding one of `roles` (admin always may); none: any user."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return to_login(next_path)
            if roles and not current_user.has_role(*roles):
                raise Forbidden("your account may not use this page")
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate


def customer_accounts_only(
    reason: str, *, next_path: str | None = None, visitors: bool = False
) -> Callable[[F], F]:
    """Shopping is for customer accounts: staff and, unlike `role_required`, admins get a
    403 with `reason`. Visitors are sent to sign in (back to `next_path`), or with
    `visitors` let through (a cart fills before sign-in)."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return view(*args, **kwargs) if visitors else to_login(next_path)
            if current_user.role != Role.CUSTOMER:
                raise Forbidden(reason)
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate


login_required = role_required()
staff_required = role_required(*STAFF)
admin_required = role_required(Role.ADMIN)


# The admin pages of the catalog and of the accounts hang on this one blueprint, so that no
# page added to either goes without the admin check below (/admin/flash-sales has its own).
admin_pages = Blueprint("admin", __name__, url_prefix="/admin")


@admin_pages.before_request
@admin_required
def _only_admins() -> None:
    """Every /admin page needs the admin role (login redirect or 403 otherwise)."""
