"""Sign in, sign out, register: /login, /logout (POST), /register."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user

from app import current_config, db_session
from app.errors import DomainError, ValidationError
from app.extensions import rate_limit
from app.services.users import authenticate, register_customer
from views import login_guard

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
@rate_limit(lambda: current_config().login_rate_limit, methods=["POST"])
def login() -> Any:
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(home_for(current_user))
        return render_template("auth/login.html", next=request.args.get("next", ""))
    username = (request.form.get("username") or "").strip()[:200]
    password = (request.form.get("password") or "")[:1000]
    next_url = _safe_next(request.form.get("next"))
    try:
        login_guard.refuse_if_locked(username)
    except DomainError as error:
        return render_template(
            "auth/login.html", error=error.message, username=username, next=next_url or ""
        ), 429
    user = authenticate(db_session(), username, password) if username and password else None
    if user is None:
        if username:
            login_guard.record_failure(username)
        return render_template(
            "auth/login.html",
            error="Wrong username or password.",
            username=username,
            next=next_url or "",
        ), 401
    login_user(user)
    flash(f"Welcome back, {user.name or user.username}.", "success")
    return redirect(next_url or home_for(user))


@bp.post("/logout")
def logout() -> Any:
    logout_user()
    flash("You have signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/register", methods=["GET", "POST"])
@rate_limit("20 per minute", methods=["POST"])
def register() -> Any:
    if request.method == "GET":
        return render_template("auth/register.html", form={}, errors={})
    form = {k: (request.form.get(k) or "")[:300] for k in ("username", "email")}
    password = (request.form.get("password") or "")[:1000]
    if password != (request.form.get("password_confirm") or "")[:1000]:
        errors = {"password_confirm": "does not match the password"}
        return render_template("auth/register.html", form=form, errors=errors), 422
    try:
        user = register_customer(db_session(), password=password, **form)
    except ValidationError as error:
        return render_template("auth/register.html", form=form, errors=error.fields), 422
    except DomainError as error:
        return render_template(
            "auth/register.html", form=form, errors={"username": error.message}
        ), error.status
    login_user(user)
    flash("Your account is ready. Happy shopping!", "success")
    return redirect(url_for("catalog.index"))
