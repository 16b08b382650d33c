"""The payment circuit breaker, in process: closed → open → half-open → closed or open again."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from app.payments import BreakerOpen, GatewayFailure, PaymentBreaker
from app.payments.breaker import BreakerStatus

RESET = 0.2  # seconds; fractional works in process and keeps the suite fast


class Calls:
    """Stand-ins for gateway calls that count how often they really ran."""

    def __init__(self) -> None:
        self.count = 0

    def ok(self) -> str:
        self.count += 1
        return "ok"

    def fail(self) -> str:
        self.count += 1
        raise GatewayFailure("down")

    def decline(self) -> str:
        self.count += 1
        raise ValueError("a business answer, not a fault")


@pytest.fixture
def breaker() -> PaymentBreaker:
    return PaymentBreaker(
        name="payment", fail_max=3, reset_seconds=RESET, failure_types=(GatewayFailure,)
    )


@pytest.fixture
def calls() -> Calls:
    return Calls()


def trip(breaker, calls, n=3):
    for _ in range(n):
        with pytest.raises(GatewayFailure):
            breaker.call(calls.fail)


def test_it_starts_closed(breaker):
    assert breaker.status() == BreakerStatus("payment", "closed", 0, None, 0)
    breaker.check()


def test_it_passes_results_through_while_closed(breaker, calls):
    assert breaker.call(calls.ok) == "ok"
    assert breaker.status().failures == 0


def test_it_counts_failures_and_stays_closed_below_the_limit(breaker, calls):
    trip(breaker, calls, n=2)
    status = breaker.status()
    assert (status.state, status.failures) == ("closed", 2)


def test_it_opens_after_the_limit_of_consecutive_failures(breaker, calls):
    before = datetime.now(UTC)
    trip(breaker, calls)
    status = breaker.status()
    assert (status.state, status.failures) == ("open", 3)
    assert before - timedelta(seconds=1) <= status.opened_at <= datetime.now(UTC)
    assert status.retry_after == 1


def test_it_fails_fast_while_open_without_calling(breaker, calls):
    trip(breaker, calls)
    with pytest.raises(BreakerOpen) as caught:
        breaker.call(calls.ok)
    assert caught.value.retry_after >= 1
    with pytest.raises(BreakerOpen):
        breaker.check()
    assert calls.count == 3


def test_it_does_not_count_other_exceptions_and_they_reset_the_run(breaker, calls):
    trip(breaker, calls, n=2)
    with pytest.raises(ValueError, match="business answer"):
        breaker.call(calls.decline)
    assert breaker.status().failures == 0
    trip(breaker, calls, n=2)
    assert breaker.status().state == "closed"


def test_it_resets_the_run_of_failures_on_success(breaker, calls):
    trip(breaker, calls, n=2)
    breaker.call(calls.ok)
    trip(breaker, calls, n=2)
    assert breaker.status().state == "closed"


def test_it_turns_half_open_after_the_reset_time(breaker, calls):
    trip(breaker, calls)
    time.sleep(RESET + 0.05)
    status = breaker.status()
    assert (status.state, status.retry_after) == ("half_open", 0)
    breaker.check()


def test_it_closes_when_the_trial_call_succeeds(breaker, calls):
    trip(breaker, calls)
    time.sleep(RESET + 0.05)
    assert breaker.call(calls.ok) == "ok"
    assert breaker.status() == BreakerStatus("payment", "closed", 0, None, 0)


def test_it_reopens_when_the_trial_call_fails(breaker, calls):
    trip(breaker, calls)
    first_opened = breaker.status().opened_at
    time.sleep(RESET + 0.05)
    with pytest.raises(GatewayFailure):
        breaker.call(calls.fail)
    status = breaker.status()
    assert status.state == "open"
    assert status.opened_at > first_opened
    with pytest.raises(BreakerOpen):
        breaker.call(calls.ok)
    assert calls.count == 4


def test_it_admits_exactly_one_trial_call(breaker, calls):
    trip(breaker, calls)
    time.sleep(RESET + 0.05)
    entered, release = threading.Event(), threading.Event()
    results: list[str] = []

    def slow_trial() -> str:
        entered.set()
        release.wait(5)
        return "trial"

    trial = threading.Thread(target=lambda: results.append(breaker.call(slow_trial)))
    trial.start()
    assert entered.wait(5)
    others = []
    for _ in range(5):
        try:
            breaker.call(calls.ok)
        except BreakerOpen as exc:
            others.append(exc.retry_after)
    release.set()
    trial.join(5)
    assert results == ["trial"]
    assert others == [1, 1, 1, 1, 1]
    assert calls.count == 3
    assert breaker.status().state == "closed"


def test_it_lets_gateway_calls_run_at_the_same_time(breaker):
    """Payments must not queue behind one another: two calls are inside the gateway at once."""
    both_inside = threading.Barrier(2, timeout=5)
    results: list[str] = []

    def slow_gateway() -> str:
        both_inside.wait()  # raises BrokenBarrierError if the calls were serialised
        return "ok"

    threads = [threading.Thread(target=lambda: results.append(breaker.call(slow_gateway)))
               for _ in range(2)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["ok", "ok"]
    assert breaker.status().state == "closed"


def test_a_call_under_way_when_it_opened_counts_but_keeps_the_open_time(breaker, calls):
    under_way = breaker.check()
    trip(breaker, calls)
    opened = breaker.status().opened_at
    with pytest.raises(GatewayFailure):
        breaker.call(calls.fail, checked=under_way)
    status = breaker.status()
    assert (status.state, status.failures, status.opened_at) == ("open", 4, opened)


def test_it_closes_on_an_admin_reset(breaker, calls):
    trip(breaker, calls)
    breaker.reset()
    assert breaker.status().state == "closed"
    assert breaker.call(calls.ok) == "ok"


def test_it_keeps_working_in_process_when_redis_is_down_at_start():
    import redis

    unreachable = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    breaker = PaymentBreaker(name="payment", fail_max=1, reset_seconds=30, redis=unreachable)
    assert breaker.status().state == "closed"
    assert breaker.call(lambda: 42) == 42
