"""Meta: every environment variable of CONTRACT §2 is read by the code that owns it."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

APP_VARIABLES = [
    "PORT",
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "BACKROOM_ADMIN_USERNAME",
    "BACKROOM_ADMIN_PASSWORD",
    "BACKROOM_DEMO_DATA",
    "FLASH_RESERVATION_TTL_SECONDS",
    "FLASH_RATE_LIMIT",
    "PAYMENT_BREAKER_FAILURES",
    "PAYMENT_BREAKER_RESET_SECONDS",
    "METRICS_TOKEN",
]
TEST_VARIABLES = ["TEST_DATABASE_URL", "TEST_REDIS_URL", "REQUIRE_SERVICES"]


@pytest.mark.parametrize("name", APP_VARIABLES)
def test_it_reads_every_contract_variable_in_the_config(name):
    assert f'"{name}"' in (ROOT / "app" / "config.py").read_text()


@pytest.mark.parametrize("name", TEST_VARIABLES)
def test_it_reads_every_test_variable_in_the_suite(name):
    here = Path(__file__).resolve()
    sources = [p.read_text() for p in (ROOT / "tests").rglob("*.py") if p.resolve() != here]
    assert any(f'"{name}"' in text for text in sources)
