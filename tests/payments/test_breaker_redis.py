"""The payment circuit breaker with its state in Redis: what is particular to Redis (the
trial's key, the commands a payment costs, Redis going away). What every shared state must
do is in test_breaker_across_workers."""

from __future__ import annotations

import secrets
import threading
import time

import pytest

from app.payments import GatewayFailure, PaymentBreaker
from tests.payments.breakers import redis_connection, trip

pytestmark = pytest.mark.redis
RESET = 2  # seconds; long enough for the round trips of a test on a busy machine


@pytest.fixture
def redis_client():
    client = redis_connection()
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


def test_the_trial_is_a_key_that_expires_and_goes_when_it_ends(redis_client, namespace):
    """A worker that dies during its trial cannot keep the others out for good."""
    first, second = worker(redis_client, namespace), worker(redis_client, namespace)
    trip(first)
    time.sleep(RESET + 0.1)
    entered, release = threading.Event(), threading.Event()
    trial = threading.Thread(target=lambda: first.call(lambda: entered.set() or release.wait(5)))
    trial.start()
    assert entered.wait(5)
    assert redis_client.ttl(f"{namespace}:breaker:payment:trial") > 0
    release.set()
    trial.join(5)
    assert redis_client.get(f"{namespace}:breaker:payment:trial") is None
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


def test_it_keeps_its_state_under_the_namespace(redis_client, namespace):
    breaker = worker(redis_client, namespace)
    trip(breaker, n=2)
    keys = f"{namespace}:breaker:payment"
    assert redis_client.get(f"{keys}:failures") == b"2"
    assert redis_client.get(f"{keys}:opened_at") is None
    trip(breaker, n=1)
    opened = float(redis_client.get(f"{keys}:opened_at"))
    assert opened == pytest.approx(breaker.status().opened_at.timestamp(), abs=1e-5)
    breaker.reset()
    assert redis_client.mget([f"{keys}:failures", f"{keys}:opened_at"]) == [b"0", None]


def test_a_failure_costs_a_read_and_an_increment_and_opening_one_write_more(
    redis_client, namespace
):
    counting = CountingRedis(redis_client)
    breaker = worker(counting, namespace)
    trip(breaker, n=2)
    counting.commands.clear()
    trip(breaker, n=1)
    assert counting.commands == ["mget", "incr", "set"]


def test_payments_go_on_when_redis_goes_away_after_start(redis_client, namespace):
    counting = CountingRedis(redis_client)
    breaker = worker(counting, namespace)
    trip(breaker, n=2)
    counting.down = True
    assert breaker.status().state == "closed"  # this process's own state
    assert breaker.call(lambda: "paid") == "paid"
    counting.down = False
    assert breaker.status().failures == 2  # nothing was lost meanwhile
