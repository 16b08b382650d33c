"""The flash-sale budget (FLASH_RATE_LIMIT) shared by app instances through Redis, and kept
working (in process) when Redis is down."""

from __future__ import annotations

import os
import secrets

import pytest

from app.payments.gateway import CARD_APPROVED
from tests.api.helpers import assert_error
from tests.api.test_flash_sales_api import open_sale, reserve
from tests.builders import make_product, make_user
from tests.conftest import bearer, need

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_url():
    url = os.environ.get("TEST_REDIS_URL", "")
    need("Redis", bool(url), "set TEST_REDIS_URL=redis://...")
    return url


def forget_counts(redis_url: str, user_id: int) -> None:
    """Counts are keyed by user id, which a fresh test database hands out again."""
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"*user:{user_id}*"):
        client.delete(key)
    client.close()


def test_two_web_hosts_share_one_budget_per_customer(redis_url, make_app, session, admin):
    prefix = f"backroom-test-{secrets.token_hex(4)}"

    def host():
        return make_app(
            redis_url=redis_url, redis_key_prefix=prefix, flash_rate_limit="2 per minute"
        ).test_client()

    first, second = host(), host()
    product = make_product(session, stock=50, price_cents=2000)
    buyer = make_user(session, "customer", username=f"buyer-{secrets.token_hex(3)}")
    forget_counts(redis_url, buyer.id)
    try:
        sale = open_sale(first, bearer(first, admin), product)
        auth = bearer(first, buyer)
        hold = reserve(first, auth, sale, product).get_json()
        paid = second.post(
            f"/api/v1/reservations/{hold['id']}/checkout",
            json={"payment": {"card_number": CARD_APPROVED}},
            headers=auth,
        )
        assert paid.status_code == 201
        limited = reserve(first, auth, sale, product)  # the third call, on either host
        assert_error(limited, 429, "rate_limited")
        assert int(limited.headers["Retry-After"]) > 0
        assert_error(reserve(second, auth, sale, product), 429, "rate_limited")
    finally:
        forget_counts(redis_url, buyer.id)


def test_reserving_still_works_in_process_when_redis_is_down(make_app, session, admin):
    app = make_app(redis_url="redis://127.0.0.1:1/0", flash_rate_limit="2 per minute")
    client = app.test_client()
    product = make_product(session, stock=50, price_cents=2000)
    sale = open_sale(client, bearer(client, admin), product, limit=5)
    auth = bearer(client, make_user(session, "customer"))
    assert reserve(client, auth, sale, product).status_code == 201
    assert reserve(client, auth, sale, product).status_code == 201
    assert_error(reserve(client, auth, sale, product), 429, "rate_limited")  # still counted
