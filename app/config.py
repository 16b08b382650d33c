"""Configuration: defaults, the environment of CONTRACT §2, and a fail-fast check."""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from limits import parse as parse_limit

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
UPLOAD_LIMIT = 27 * 1024 * 1024  # a request body with a multipart form (photos)
BODY_LIMIT = 16 * 1024 * 1024  # any other body (JSON, plain forms)
LOG_STORE_MIN_KEEP = 1000  # /monitoring/logs promises at least this many recent lines


class ConfigError(ValueError):
    """A setting is present but unusable; raised at start-up, never at request time."""


def _int(env: dict[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    """A whole number from the process environment (for the CLI's process settings)."""
    return _int(dict(os.environ), name, default, minimum=minimum)


def _flag(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be 0 or 1, got {raw!r}")


def _secret_key(data_dir: Path) -> str:
    """Generate the signing key once and keep it in data/ so sessions survive restarts."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


@dataclass(frozen=True)
class Config:
    """Every setting the system reads. Built by `load_config`, overridable in tests."""

    port: int = 5000
    database_url: str = f"sqlite:///{DATA_DIR / 'backroom.db'}"
    redis_url: str | None = None
    secret_key: str = ""
    admin_username: str | None = None
    admin_password: str | None = None
    demo_data: bool = True
    flash_reservation_ttl_seconds: int = 600
    flash_rate_limit: str = "5 per minute"
    payment_breaker_failures: int = 3
    payment_breaker_reset_seconds: int = 30
    metrics_token: str | None = None
    session_cookie_secure: bool = False
    access_log: str = "errors"
    log_store: bool = True
    log_store_keep: int = 20_000
    # Request metrics (/metrics' series and the dashboard's per-minute traffic); off only
    # to measure what they cost (make bench).
    instrumentation: bool = True
    traffic_flush_seconds: float = 5.0  # how often a web process writes its request counts
    # The dashboard's figures are read at most once a second per process, however many
    # screens show it.
    dashboard_cache_seconds: float = 1.0
    data_dir: Path = DATA_DIR
    upload_dir: Path = DATA_DIR / "uploads"
    login_failure_limit: str = "10 per 15 minutes"
    login_address_failure_limit: str = "100 per 15 minutes"
    register_rate_limit: str = "20 per minute"
    photo_rate_limit: str = "30 per minute"
    feed_rate_limit: str = "60 per minute"
    feed_max_mb: int = 50
    # "process": each import runs in a child process at a lower CPU priority, away from
    # the web process the scheduler shares; "thread": in the scheduler's own thread.
    feed_worker: str = "process"
    feed_worker_priority: str = "idle"
    trusted_proxies: int = 0
    token_max_age_seconds: int = 24 * 3600
    order_pending_grace_seconds: int = 60
    heartbeat_seconds: int = 10
    scheduler_enabled: bool = True
    testing: bool = False
    redis_key_prefix: str = "backroom"
    extra: dict[str, Any] = field(default_factory=dict)

    def with_overrides(self, overrides: dict[str, Any] | None) -> Config:
        """Return a copy with the given attributes replaced; unknown names are an error."""
        if not overrides:
            return self
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
        return replace(self, **overrides)


def load_config(env: dict[str, str] | None = None) -> Config:
    """Read CONTRACT §2's environment over the defaults and check it."""
    env = dict(os.environ if env is None else env)
    data_dir = Path(env.get("BACKROOM_DATA_DIR") or DATA_DIR)
    database_url = env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'backroom.db'}"
    if database_url.startswith("sqlite:///") and not database_url.startswith("sqlite:////"):
        relative = database_url.removeprefix("sqlite:///")
        if relative and relative != ":memory:":
            database_url = f"sqlite:///{(ROOT / relative).resolve()}"
    config = Config(
        port=_int(env, "PORT", 5000, minimum=1),
        database_url=database_url,
        redis_url=env.get("REDIS_URL") or None,
        secret_key=env.get("SECRET_KEY") or _secret_key(data_dir),
        admin_username=env.get("BACKROOM_ADMIN_USERNAME") or None,
        admin_password=env.get("BACKROOM_ADMIN_PASSWORD") or None,
        demo_data=_flag(env, "BACKROOM_DEMO_DATA", True),
        flash_reservation_ttl_seconds=_int(env, "FLASH_RESERVATION_TTL_SECONDS", 600, minimum=1),
        flash_rate_limit=env.get("FLASH_RATE_LIMIT") or "5 per minute",
        payment_breaker_failures=_int(env, "PAYMENT_BREAKER_FAILURES", 3, minimum=1),
        payment_breaker_reset_seconds=_int(env, "PAYMENT_BREAKER_RESET_SECONDS", 30, minimum=1),
        metrics_token=env.get("METRICS_TOKEN") or None,
        session_cookie_secure=_flag(env, "SESSION_COOKIE_SECURE", False),
        access_log=env.get("ACCESS_LOG") or "errors",
        log_store=_flag(env, "LOG_STORE", True),
        log_store_keep=_int(env, "LOG_STORE_KEEP", 20_000, minimum=LOG_STORE_MIN_KEEP),
        instrumentation=_flag(env, "INSTRUMENTATION", True),
        data_dir=data_dir,
        upload_dir=data_dir / "uploads",
        login_failure_limit=env.get("LOGIN_FAILURE_LIMIT") or "10 per 15 minutes",
        login_address_failure_limit=env.get("LOGIN_ADDRESS_FAILURE_LIMIT") or "100 per 15 minutes",
        register_rate_limit=env.get("REGISTER_RATE_LIMIT") or "20 per minute",
        photo_rate_limit=env.get("PHOTO_RATE_LIMIT") or "30 per minute",
        feed_rate_limit=env.get("FEED_RATE_LIMIT") or "60 per minute",
        feed_max_mb=_int(env, "FEED_MAX_MB", 50, minimum=1),
        feed_worker=env.get("FEED_WORKER") or "process",
        feed_worker_priority=env.get("FEED_WORKER_PRIORITY") or "idle",
        trusted_proxies=_int(env, "TRUSTED_PROXIES", 0),
        redis_key_prefix=env.get("REDIS_KEY_PREFIX") or "backroom",
    )
    check_config(config)
    return config


RATE_LIMITS = (
    "flash_rate_limit",
    "login_failure_limit",
    "login_address_failure_limit",
    "register_rate_limit",
    "photo_rate_limit",
    "feed_rate_limit",
)
KEY_PREFIX = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def check_config(config: Config) -> None:
    """Fail fast on settings that would only break later, under load."""
    for name in RATE_LIMITS:
        value = getattr(config, name)
        try:
            parse_limit(value)
        except ValueError as exc:
            raise ConfigError(f"{name.upper()} is not a rate limit: {value!r}") from exc
    if not KEY_PREFIX.match(config.redis_key_prefix):
        raise ConfigError("REDIS_KEY_PREFIX must be 1-64 letters, digits or . _ : -")
    if config.feed_worker not in ("process", "thread"):
        raise ConfigError("FEED_WORKER must be 'process' or 'thread'")
    if config.feed_worker_priority not in ("idle", "low", "normal"):
        raise ConfigError("FEED_WORKER_PRIORITY must be 'idle', 'low' or 'normal'")
    if config.log_store_keep < LOG_STORE_MIN_KEEP:
        raise ConfigError(f"LOG_STORE_KEEP must be at least {LOG_STORE_MIN_KEEP}")
    if config.access_log not in ("errors", "all"):
        raise ConfigError("ACCESS_LOG must be 'errors' or 'all'")
    if not config.database_url.startswith(("sqlite", "postgresql")):
        raise ConfigError("DATABASE_URL must be a sqlite:// or postgresql+psycopg:// URL")
    if bool(config.admin_username) != bool(config.admin_password):
        raise ConfigError(
            "set both BACKROOM_ADMIN_USERNAME and BACKROOM_ADMIN_PASSWORD, or neither"
        )
    if config.admin_password is not None and len(config.admin_password) < 8:
        raise ConfigError("BACKROOM_ADMIN_PASSWORD must have at least 8 characters")
