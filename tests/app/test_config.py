"""Configuration: CONTRACT §2's environment, defaults, and a fail-fast check."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.config import Config, ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_it_uses_the_contract_defaults(tmp_path):
    config = load_config({"BACKROOM_DATA_DIR": str(tmp_path)})
    assert config.port == 5000
    assert config.database_url == f"sqlite:///{tmp_path / 'backroom.db'}"
    assert config.redis_url is None
    assert config.demo_data is True
    assert config.flash_reservation_ttl_seconds == 600
    assert config.flash_rate_limit == "5 per minute"
    assert config.payment_breaker_failures == 3
    assert config.payment_breaker_reset_seconds == 30
    assert config.metrics_token is None


def test_it_generates_the_secret_key_once_and_keeps_it(tmp_path):
    first = load_config({"BACKROOM_DATA_DIR": str(tmp_path)}).secret_key
    second = load_config({"BACKROOM_DATA_DIR": str(tmp_path)}).secret_key
    assert first == second
    assert len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_it_reads_every_setting_from_the_environment(tmp_path):
    config = load_config(
        {
            "BACKROOM_DATA_DIR": str(tmp_path),
            "PORT": "8123",
            "DATABASE_URL": "postgresql+psycopg://u@h/db",
            "REDIS_URL": "redis://localhost:6379/3",
            "SECRET_KEY": "s3cret",
            "BACKROOM_ADMIN_USERNAME": "boss",
            "BACKROOM_ADMIN_PASSWORD": "long-enough",
            "BACKROOM_DEMO_DATA": "0",
            "FLASH_RESERVATION_TTL_SECONDS": "90",
            "FLASH_RATE_LIMIT": "10 per minute",
            "PAYMENT_BREAKER_FAILURES": "5",
            "PAYMENT_BREAKER_RESET_SECONDS": "7",
            "METRICS_TOKEN": "tok",
            "SESSION_COOKIE_SECURE": "1",
        }
    )
    assert (config.port, config.redis_url, config.secret_key) == (
        8123,
        "redis://localhost:6379/3",
        "s3cret",
    )
    assert config.database_url == "postgresql+psycopg://u@h/db"
    assert (config.admin_username, config.admin_password) == ("boss", "long-enough")
    assert config.demo_data is False
    assert config.flash_reservation_ttl_seconds == 90
    assert config.flash_rate_limit == "10 per minute"
    assert (config.payment_breaker_failures, config.payment_breaker_reset_seconds) == (5, 7)
    assert config.metrics_token == "tok"
    assert config.session_cookie_secure is True


def test_it_resolves_a_relative_sqlite_url_against_the_project(tmp_path):
    config = load_config(
        {"BACKROOM_DATA_DIR": str(tmp_path), "DATABASE_URL": "sqlite:///data/x.db"}
    )
    assert config.database_url == f"sqlite:///{ROOT / 'data' / 'x.db'}"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "eighty"}, "PORT must be an integer"),
        ({"PORT": "0"}, "PORT must be at least 1"),
        ({"BACKROOM_DEMO_DATA": "maybe"}, "BACKROOM_DEMO_DATA must be 0 or 1"),
        ({"FLASH_RATE_LIMIT": "lots"}, "FLASH_RATE_LIMIT is not a rate limit"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL must be"),
        ({"BACKROOM_ADMIN_USERNAME": "boss"}, "set both"),
        (
            {"BACKROOM_ADMIN_USERNAME": "boss", "BACKROOM_ADMIN_PASSWORD": "short"},
            "at least 8",
        ),
    ],
)
def test_it_fails_fast_on_unusable_settings(tmp_path, env, message):
    with pytest.raises(ConfigError, match=message):
        load_config({"BACKROOM_DATA_DIR": str(tmp_path), "SECRET_KEY": "x", **env})


def test_it_refuses_unknown_overrides():
    with pytest.raises(ConfigError, match="unknown settings: nope"):
        Config().with_overrides({"nope": 1})


def test_every_environment_variable_is_in_the_readme_table():
    source = (ROOT / "app" / "config.py").read_text()
    read = set(re.findall(r'"([A-Z][A-Z0-9_]{2,})"', source))
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]{2,})`", readme))
    assert read, "config.py should read environment variables"
    assert read <= documented, f"undocumented: {sorted(read - documented)}"
    contract = {
        "PORT", "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "BACKROOM_ADMIN_USERNAME",
        "BACKROOM_ADMIN_PASSWORD", "BACKROOM_DEMO_DATA", "FLASH_RESERVATION_TTL_SECONDS",
        "FLASH_RATE_LIMIT", "PAYMENT_BREAKER_FAILURES", "PAYMENT_BREAKER_RESET_SECONDS",
        "METRICS_TOKEN",
    }  # fmt: skip
    assert contract <= read


def test_it_reads_the_sign_in_proxy_and_upload_settings(tmp_path):
    config = load_config(
        {
            "BACKROOM_DATA_DIR": str(tmp_path),
            "LOGIN_FAILURE_LIMIT": "5 per 10 minutes",
            "LOGIN_ADDRESS_FAILURE_LIMIT": "50 per hour",
            "REGISTER_RATE_LIMIT": "3 per minute",
            "PHOTO_RATE_LIMIT": "9 per minute",
            "TRUSTED_PROXIES": "2",
            "REDIS_KEY_PREFIX": "shop-eu",
        }
    )
    assert (config.login_failure_limit, config.login_address_failure_limit) == (
        "5 per 10 minutes",
        "50 per hour",
    )
    assert (config.register_rate_limit, config.photo_rate_limit) == ("3 per minute", "9 per minute")
    assert (config.trusted_proxies, config.redis_key_prefix) == (2, "shop-eu")


def test_its_sign_in_defaults_are_the_contracts(tmp_path):
    config = load_config({"BACKROOM_DATA_DIR": str(tmp_path)})
    assert config.login_failure_limit == "10 per 15 minutes"
    assert config.login_address_failure_limit == "100 per 15 minutes"
    assert (config.trusted_proxies, config.redis_key_prefix) == (0, "backroom")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LOGIN_ADDRESS_FAILURE_LIMIT": "lots"}, "LOGIN_ADDRESS_FAILURE_LIMIT is not a rate"),
        ({"PHOTO_RATE_LIMIT": "often"}, "PHOTO_RATE_LIMIT is not a rate limit"),
        ({"TRUSTED_PROXIES": "-1"}, "TRUSTED_PROXIES must be at least 0"),
        ({"REDIS_KEY_PREFIX": "has spaces"}, "REDIS_KEY_PREFIX must be"),
    ],
)
def test_it_refuses_unusable_sign_in_and_proxy_settings(tmp_path, env, message):
    with pytest.raises(ConfigError, match=message):
        load_config({"BACKROOM_DATA_DIR": str(tmp_path), **env})
