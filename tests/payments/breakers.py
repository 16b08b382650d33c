"""Helpers of the breaker tests: a gateway that fails, tripping a breaker, a Redis client."""

from __future__ import annotations

import os
from typing import Any

import pytest

from app.payments import GatewayFailure, PaymentBreaker
from tests.conftest import need


def fail() -> None:
    raise GatewayFailure("down")


def trip(breaker: PaymentBreaker, n: int = 3) -> None:
    """`n` gateway failures in a row through `breaker`."""
    for _ in range(n):
        with pytest.raises(GatewayFailure):
            breaker.call(fail)


def redis_connection() -> Any:
    """A client of TEST_REDIS_URL (the test is skipped, or failed under REQUIRE_SERVICES=1,
    without one)."""
    url = os.environ.get("TEST_REDIS_URL", "")
    need("Redis", bool(url), "set TEST_REDIS_URL=redis://...")
    import redis

    client = redis.Redis.from_url(url)
    client.ping()
    return client
