"""Sign in, sign out, register, change a password: /login, /logout (POST), /register,
/account/password."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask import session as cookie_session
from flask_login import current_user, login_user, logout_user

from app.current import SESSION_EPOCH, current_config, db_session
from app.errors import DomainError, RateLimited, ValidationError
from app.extensions import rate_limit
from app.models.users import User
from app.services.users import end_sessions, password_problem, register_customer, set_password
from views.access import login_required, signed_in_user
from views.users import guard

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def home_for(user: Any) -> str:
    return url_for("staff.home") if user.is_staff else url_for("catalog.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(home_for(current_user))
        return render_template("users/login.html", next=request.args.get("next", ""))
    username = (request.form.get("username") or "").strip()[:200]
    password = (request.form.get("password") or "")[:1000]
    next_url = _safe_next(request.form.get("next"))
    try:
        user = guard.sign_in(username, password)
    except RateLimited as error:
        page = render_template(
            "users/login.html", error=error.message, username=username, next=next_url or ""
        )
        return page, 429, {"Retry-After": str(error.retry_after)}
    if user is None:
        return render_template(
            "users/login.html",
            error="Wrong username or password.",
            username=username,
            next=next_url or "",
        ), 401
    start_session(user)
    flash(f"Welcome back, {user.name or user.username}.", "success")
    return redirect(next_url or home_for(user))


def start_session(user: User) -> None:
    """Sign `user` in on a new session: nothing of the visitor's session before is kept
    but the cart (no fixation, a new CSRF token), and it begins in the user's epoch."""
    cart = cookie_session.get("cart")
    cookie_session.clear()
    if cart:
        cookie_session["cart"] = cart
    login_user(user)
    g.signed_in = user
    cookie_session[SESSION_EPOCH] = user.session_epoch


@bp.post("/logout")
def logout() -> Any:
    """Sign out here and everywhere: every session and API token of the user ends."""
    if current_user.is_authenticated:
        end_sessions(db_session(), current_user.id)
    logout_user()
    cookie_session.clear()
    flash("You have signed out, here and on your other devices.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def password() -> Any:
    """A signed-in user sets a new password, knowing the current one (a wrong one counts as
    a failed sign-in). Their other sessions and API tokens end; this one goes on."""
    if request.method == "GET":
        return render_template("users/password.html", errors={})
    current, new, repeated = (
        (request.form.get(name) or "")[:1000]
        for name in ("current_password", "password", "password_confirm")
    )
    me = signed_in_user()
    try:
        known = guard.sign_in(me.username, current)
    except RateLimited as error:
        page = render_template("users/password.html", errors={}, error=error.message)
        return page, 429, {"Retry-After": str(error.retry_after)}
    same = known is not None and new == current
    problems = {
        "current_password": "is wrong" if known is None else None,
        "password": "must differ from your current password" if same else password_problem(new),
        "password_confirm": "does not match" if new != repeated else None,
    }
    errors = {field: problem for field, problem in problems.items() if problem}
    if errors:
        return render_template("users/password.html", errors=errors), 422
    user = set_password(db_session(), me.id, new)
    start_session(user)
    flash("Your password is changed. You were signed out everywhere else.", "success")
    return redirect(home_for(user))


@bp.route("/register", methods=["GET", "POST"])
@rate_limit(lambda: current_config().register_rate_limit, scope="register", methods=["POST"])
def register() -> Any:
    if request.method == "GET":
        return render_template("users/register.html", form={}, errors={})
    form = {k: (request.form.get(k) or "")[:300] for k in ("username", "email")}
    password = (request.form.get("password") or "")[:1000]
    if password != (request.form.get("password_confirm") or "")[:1000]:
        errors = {"password_confirm": "does not match the password"}
        return render_template("users/register.html", form=form, errors=errors), 422
    try:
        user = register_customer(db_session(), password=password, **form)
    except ValidationError as error:
        return render_template("users/register.html", form=form, errors=error.fields), 422
    except DomainError as error:  # kept: the form shows it beside the username
        return render_template(
            "users/register.html", form=form, errors={"username": error.message}
        ), error.status
    start_session(user)
    flash("Your account is ready. Happy shopping!", "success")
    return redirect(url_for("catalog.index"))
