"""The application factory: configuration, extensions, database, payments, blueprints."""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Flask, flash, g
from flask import session as cookie_session
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer
from werkzeug.middleware.proxy_fix import ProxyFix

from app.config import ROOT, UPLOAD_LIMIT, Config, load_config
from app.current import SESSION_EPOCH, close_db_session, db_session
from app.db import Database
from app.extensions import (
    IN_PROCESS_LIMITS,
    build_limiter,
    csrf,
    htmx,
    login_manager,
)
from app.logs import configure_logging
from app.models.users import User
from app.payments import PaymentBreaker, Payments, SimulatedGateway
from app.payments.gateway import GatewayFailure
from app.services.monitoring import install_log_store
from app.shared_state import SHARED_ERRORS, SHARED_LIMITS, StateProxy, connect_shared_state

log = logging.getLogger(__name__)


def create_app(
    overrides: dict[str, Any] | None = None,
    *,
    config: Config | None = None,
    database: Database | None = None,
) -> Flask:
    """Build the web application. `overrides` replace settings; tests may hand in a database."""
    config = (config or load_config()).with_overrides(overrides)
    configure_logging()
    shared = None if config.redis_url else _serve_state()
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder="static",
        static_url_path="/static",
    )
    app.config.update(BACKROOM=config, **_flask_settings(config, shared_limits=shared is not None))
    app.session_interface = CookieSessions()
    if config.trusted_proxies:
        # The client's address and scheme as the trusted proxies in front saw them: rate
        # limits, logs and secure cookies then concern the real client, not the proxy.
        n = config.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    database = database or Database(config.database_url)
    redis_client = connect_redis(config.redis_url) if config.redis_url else None
    app.extensions["backroom.db"] = database
    # Test apps write their lines when a test asks (flush_log_store), in its transaction.
    install_log_store(database, enabled=config.log_store, background=not config.testing)
    app.extensions["backroom.redis"] = redis_client
    app.extensions["backroom.payments"] = build_payments(config, database, redis_client, shared)

    htmx.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.session_protection = "basic"

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        close_db_session()

    from views import register_views

    register_views(app)
    build_limiter(app)  # after the views: it applies the limits they declare
    return app


def _flask_settings(config: Config, *, shared_limits: bool) -> dict[str, Any]:
    """Flask's and its extensions' settings for this configuration."""
    return {
        "SECRET_KEY": config.secret_key,
        "TESTING": config.testing,
        # Five photos of up to 5 MB each may come in one form (a new return), with room to
        # spare; any other body is held to BODY_LIMIT (views.hooks).
        "MAX_CONTENT_LENGTH": UPLOAD_LIMIT,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": config.session_cookie_secure,
        "SESSION_COOKIE_NAME": "backroom_session",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SECURE": config.session_cookie_secure,
        "WTF_CSRF_CHECK_DEFAULT": False,
        "WTF_CSRF_TIME_LIMIT": None,
        "WTF_CSRF_HEADERS": ["X-CSRFToken"],
        "RATELIMIT_STORAGE_URI": config.redis_url
        or (SHARED_LIMITS if shared_limits else IN_PROCESS_LIMITS),
        "RATELIMIT_STRATEGY": "moving-window",
        "RATELIMIT_KEY_PREFIX": config.redis_key_prefix,
        "RATELIMIT_STORAGE_OPTIONS": (
            {"socket_connect_timeout": 2, "socket_timeout": 2} if config.redis_url else {}
        ),
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_HEADERS_ENABLED": False,
        "SEND_FILE_MAX_AGE_DEFAULT": 3600,
    }


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signer built once instead of twice a request."""

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        serializer: URLSafeTimedSerializer | None = app.extensions.get("backroom.session_signer")
        if serializer is None:
            serializer = super().get_signing_serializer(app)
            app.extensions["backroom.session_signer"] = serializer
        return serializer


def _serve_state() -> StateProxy | None:
    """The state `backroom serve` shares among its web processes, when this is one."""
    try:
        return connect_shared_state()
    except SHARED_ERRORS:
        log.exception("the serve process's shared state is unreachable; counting in process")
        return None


def connect_redis(url: str) -> redis.Redis:
    """A Redis client whose calls give up after a few seconds: a Redis that hangs must
    make a request degrade (in-memory limits, a local breaker), not hang with it."""
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)


def build_payments(
    config: Config,
    database: Database,
    redis_client: Any | None,
    shared: StateProxy | None = None,
) -> Payments:
    breaker = PaymentBreaker(
        name="payment",
        fail_max=config.payment_breaker_failures,
        reset_seconds=config.payment_breaker_reset_seconds,
        redis=redis_client,
        shared=shared,
        namespace=config.redis_key_prefix,
        failure_types=(GatewayFailure,),
    )
    return Payments(gateway=SimulatedGateway(database.sessions), breaker=breaker)


ENDED = (
    "You were signed out. That happens when you sign out on another device, your password "
    "changes, or your account is deactivated."
)


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    """The cookie session's user, while the session began in the user's current epoch
    (sign-out elsewhere, a new password or deactivation end it). An ended session is
    cleared, its CSRF token with it."""
    from app.services.users import active_user

    if not (user_id.isascii() and user_id.isdigit()) or len(user_id) > 10:
        return None
    user = active_user(db_session(), int(user_id))
    if user is None or cookie_session.get(SESSION_EPOCH) != user.session_epoch:
        cookie_session.clear()
        flash(ENDED, "info")  # on the sign-in page they are sent to next
        return None
    g.signed_in = user
    return user
