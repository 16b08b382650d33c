"""The payment circuit breaker with its state in Redis: shared by every web worker."""

from __future__ import annotations

import os
import secrets
import threading
import time

import pytest

from app.payments import BreakerOpen, GatewayFailure, PaymentBreaker
from tests.conftest import need

pytestmark = pytest.mark.redis
RESET = 2  # whole seconds: Redis keeps opened_at to the second


@pytest.fixture
def redis_client():
    url = os.environ.get("TEST_REDIS_URL", "")
    need("Redis", bool(url), "set TEST_REDIS_URL=redis://...")
    import redis

    client = redis.Redis.from_url(url)
    client.ping()
    yield client
    client.close()


@pytest.fixture
def namespace(redis_client):
    name = f"backroom-test-{secrets.token_hex(4)}"
    yield name
    for key in redis_client.scan_iter(match=f"{name}:*"):
        redis_client.delete(key)


def worker(redis_client, namespace):
    """One web worker's breaker; several share the state through Redis."""
    return PaymentBreaker(
        name="payment",
        fail_max=3,
        reset_seconds=RESET,
        redis=redis_client,
        namespace=namespace,
        failure_types=(GatewayFailure,),
    )


def fail():
    raise GatewayFailure("down")


def trip(breaker, n=3):
    for _ in range(n):
        with pytest.raises(GatewayFailure):
            breaker.call(fail)


def test_it_shares_failures_and_the_open_state_between_workers(redis_client, namespace):
    first, second = worker(redis_client, namespace), worker(redis_client, namespace)
    trip(first, n=2)
    assert second.status().failures == 2
    trip(second, n=1)
    for breaker in (first, second):
        status = breaker.status()
        assert (status.state, status.failures) == ("open", 3)
        assert status.opened_at is not None
        with pytest.raises(BreakerOpen):
            breaker.check()
    calls = []
    with pytest.raises(BreakerOpen):
        first.call(lambda: calls.append(1))
    assert calls == []


def test_it_starts_closed_in_a_fresh_namespace(redis_client, namespace):
    status = worker(redis_client, namespace).status()
    assert (status.state, status.failures, status.opened_at) == ("closed", 0, None)


def test_it_admits_one_trial_across_workers_and_closes_for_all(redis_client, namespace):
    first, second = worker(redis_client, namespace), worker(redis_client, namespace)
    trip(first)
    time.sleep(RESET + 0.1)
    assert second.status().state == "half_open"
    entered, release = threading.Event(), threading.Event()
    results: list[str] = []

    def slow_trial() -> str:
        entered.set()
        release.wait(5)
        return "trial"

    trial = threading.Thread(target=lambda: results.append(first.call(slow_trial)))
    trial.start()
    assert entered.wait(5)
    assert redis_client.ttl(f"{namespace}:breaker:payment:trial") > 0
    with pytest.raises(BreakerOpen):
        second.call(lambda: "not admitted")
    release.set()
    trial.join(5)
    assert results == ["trial"]
    for breaker in (first, second):
        assert breaker.status().state == "closed"
    assert redis_client.get(f"{namespace}:breaker:payment:trial") is None


def test_it_reopens_for_all_workers_when_the_trial_fails(redis_client, namespace):
    first, second = worker(redis_client, namespace), worker(redis_client, namespace)
    trip(first)
    time.sleep(RESET + 0.1)
    with pytest.raises(GatewayFailure):
        second.call(fail)
    assert first.status().state == "open"
    with pytest.raises(BreakerOpen):
        first.check()
    first.reset()
    assert second.status().state == "closed"


def test_a_success_in_one_worker_ends_the_run_of_failures_for_all(redis_client, namespace):
    first, second = worker(redis_client, namespace), worker(redis_client, namespace)
    trip(first, n=2)
    assert second.call(lambda: "paid") == "paid"
    assert first.status().failures == 0
    trip(first, n=2)
    assert second.status().state == "closed"


class CountingRedis:
    """The real client, counting the commands sent and able to go down on demand."""

    def __init__(self, client) -> None:
        self._client = client
        self.commands: list[str] = []
        self.down = False

    def __getattr__(self, name):
        target = getattr(self._client, name)
        if not callable(target):
            return target

        def command(*args, **kwargs):
            if self.down:
                from redis.exceptions import ConnectionError as RedisConnectionError

                raise RedisConnectionError("Redis went away")
            self.commands.append(name)
            return target(*args, **kwargs)

        return command


def test_a_payment_while_all_is_well_costs_one_read_of_the_shared_state(redis_client, namespace):
    counting = CountingRedis(redis_client)
    breaker = worker(counting, namespace)
    counting.commands.clear()
    assert breaker.call(lambda: "paid") == "paid"
    assert counting.commands == ["mget"]


def test_payments_go_on_when_redis_goes_away_after_start(redis_client, namespace):
    counting = CountingRedis(redis_client)
    breaker = worker(counting, namespace)
    trip(breaker, n=2)
    counting.down = True
    assert breaker.status().state == "closed"  # pybreaker's fallback state
    assert breaker.call(lambda: "paid") == "paid"
    counting.down = False
    assert breaker.status().failures == 2  # nothing was lost meanwhile
