"""Admin pages of the accounts: /admin/users (list, create with a role, deactivate and
reactivate, set a new password)."""

from __future__ import annotations

from flask import Response, flash, make_response, render_template, request, url_for

from app.current import db_session
from app.errors import Conflict, ValidationError
from app.models.users import Role
from app.services.users import (
    create_user,
    get_user,
    list_users,
    password_problem,
    set_password,
    set_user_active,
)
from views.access import admin_pages as bp
from views.access import signed_in_user
from views.parsing import ID, active_flag, query_page
from views.rendering import is_partial, page_or_partial, redirect_to
from views.users import guard

USER_FIELDS = ("username", "name", "email", "role")
ROLES = [r.value for r in Role]


def _render_users(form: dict[str, str], errors: dict[str, str], status: int = 200) -> Response:
    page, per_page = query_page()
    if "per_page" not in request.args:
        per_page = 50
    result = list_users(db_session(), page=page, per_page=per_page)
    return page_or_partial(
        "users/admin/users.html",
        "users/admin/_users_table.html",
        status,
        result=result,
        form=form,
        errors=errors,
        roles=ROLES,
        me=signed_in_user(),
    )


@bp.get("/users")
def users() -> Response:
    return _render_users({"role": Role.CUSTOMER.value}, {})


@bp.post("/users")
def user_create() -> Response:
    form = {k: (request.form.get(k) or "")[:300] for k in USER_FIELDS}
    password = (request.form.get("password") or "")[:1000]
    try:
        user = create_user(db_session(), password=password, **form)
    except ValidationError as error:
        return _render_users(form, error.fields, 422)
    except Conflict as error:
        return _render_users(form, {"username": error.message}, 409)
    flash(f"Created {user.role} account {user.username}.", "success")
    return redirect_to(url_for("admin.users"))


@bp.post(f"/users/<{ID}:user_id>/active")
def user_active(user_id: int) -> Response:
    me = signed_in_user()
    user = set_user_active(db_session(), user_id, active=active_flag(), actor=me)
    if is_partial():
        return make_response(render_template("users/admin/_user_row.html", account=user, me=me))
    flash(f"{user.username} is now {'active' if user.active else 'deactivated'}.", "success")
    return redirect_to(url_for("admin.users"))


@bp.route(f"/users/<{ID}:user_id>/password", methods=["GET", "POST"])
def user_password(user_id: int) -> Response:
    """Set a new password for an account (one who forgot theirs); every session and API
    token of that account ends."""
    session = db_session()
    account = get_user(session, user_id)
    if account.id == signed_in_user().id:
        return redirect_to(url_for("auth.password"))  # your own needs your current one
    if request.method == "GET":
        return make_response(
            render_template("users/admin/user_password.html", account=account, errors={})
        )
    password = (request.form.get("password") or "")[:1000]
    repeated = (request.form.get("password_confirm") or "")[:1000]
    problems = {
        "password": password_problem(password),
        "password_confirm": "does not match" if password != repeated else None,
    }
    errors = {field: problem for field, problem in problems.items() if problem}
    if errors:
        page = render_template("users/admin/user_password.html", account=account, errors=errors)
        return make_response(page, 422)
    set_password(session, user_id, password)
    guard.forgive(account.username)  # the reset is how a locked-out user gets back in
    flash(f"{account.username} has a new password and was signed out everywhere.", "success")
    return redirect_to(url_for("admin.users"))
