"""The payment circuit breaker shared by several web processes: one breaker for all of them,
whether its state lives in the serve process (`app.shared_state`, the embedded default) or
in Redis (the scaled deployment). Each test runs on both.

Each PaymentBreaker below is one web process's, with its own handle on the shared state."""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from app.payments import BreakerOpen, GatewayFailure, PaymentBreaker
from tests.payments.breakers import fail, redis_connection, trip
from tests.shared_state import connect, serve_here

Worker = Callable[[], PaymentBreaker]
# Open periods: Redis's is longer, so that the checks of a test, each a network round trip,
# still fall inside it on a busy machine.
RESET = {"shared": 0.2, "redis": 2.0}


@pytest.fixture(params=["shared", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def reset(store: str) -> float:
    return RESET[store]


@pytest.fixture
def worker(store: str, reset: float, monkeypatch: pytest.MonkeyPatch) -> Iterator[Worker]:
    """Build one web process's breaker, with a connection of its own to the shared state."""
    if store == "shared":
        served = serve_here(monkeypatch)
        yield lambda: breaker(reset, shared=connect(served))
        return
    client = redis_connection()
    namespace = f"backroom-test-{secrets.token_hex(4)}"
    try:
        yield lambda: breaker(reset, redis=client, namespace=namespace)
    finally:
        for key in client.scan_iter(match=f"{namespace}:*"):
            client.delete(key)
        client.close()


def breaker(reset: float, **state: object) -> PaymentBreaker:
    return PaymentBreaker(
        name="payment",
        fail_max=3,
        reset_seconds=reset,
        failure_types=(GatewayFailure,),
        **state,  # type: ignore[arg-type]
    )


def test_it_starts_closed_in_a_fresh_state(worker):
    status = worker().status()
    assert (status.state, status.failures, status.opened_at) == ("closed", 0, None)


def test_it_shares_failures_and_the_open_state_between_workers(worker, reset):
    first, second = worker(), worker()
    trip(first, n=2)
    assert second.status().failures == 2
    trip(second, n=1)
    for breaker in (first, second):
        status = breaker.status()
        assert (status.state, status.failures) == ("open", 3)
        assert status.opened_at is not None
        with pytest.raises(BreakerOpen) as caught:
            breaker.check()
        assert 0 < caught.value.retry_after <= math.ceil(reset)
    calls = []
    with pytest.raises(BreakerOpen):
        second.call(lambda: calls.append(1))
    assert calls == []


def test_it_admits_one_trial_across_workers_and_closes_for_all(worker, reset):
    first, second, third = worker(), worker(), worker()
    trip(first)
    time.sleep(reset + 0.05)
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
    for breaker in (second, third, first):
        with pytest.raises(BreakerOpen):
            breaker.call(lambda: "not admitted")
    release.set()
    trial.join(5)
    assert results == ["trial"]
    for breaker in (first, second, third):
        assert breaker.status().state == "closed"
    assert second.call(lambda: "paid") == "paid"


def test_the_trial_goes_to_one_of_many_racing_workers(worker, reset):
    workers = [worker() for _ in range(4)]
    trip(workers[0])
    time.sleep(reset + 0.05)
    start = threading.Barrier(len(workers))
    admitted: list[int] = []
    refused: list[int] = []

    def pay(number: int, breaker: PaymentBreaker) -> None:
        def gateway() -> str:
            admitted.append(number)
            time.sleep(0.3)  # the others arrive while the trial is out
            return "paid"

        start.wait()
        try:
            breaker.call(gateway)
        except BreakerOpen:
            refused.append(number)

    threads = [threading.Thread(target=pay, args=pair) for pair in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(admitted) == 1, admitted
    assert sorted(admitted + refused) == [0, 1, 2, 3]
    assert workers[3].status().state == "closed"


def test_it_reopens_for_all_workers_when_the_trial_fails(worker, reset):
    first, second = worker(), worker()
    trip(first)
    opened = first.status().opened_at
    time.sleep(reset + 0.05)
    with pytest.raises(GatewayFailure):
        second.call(fail)
    status = first.status()
    assert status.state == "open"
    assert status.opened_at > opened
    with pytest.raises(BreakerOpen):
        first.check()
    first.reset()
    assert second.status().state == "closed"


def test_a_success_in_one_worker_ends_the_run_of_failures_for_all(worker):
    first, second = worker(), worker()
    trip(first, n=2)
    assert second.call(lambda: "paid") == "paid"
    assert first.status().failures == 0
    trip(first, n=2)
    assert second.status().state == "closed"


def test_failures_counted_after_a_close_in_another_worker_are_kept(worker, reset):
    first, second = worker(), worker()
    trip(first)  # first saw it open: nothing of that may linger once second closes it
    time.sleep(reset + 0.05)
    assert second.call(lambda: "paid") == "paid"  # the trial closes it, in second
    trip(second, n=2)
    trip(first, n=1)  # three consecutive failures in all
    assert first.status().state == "open"


def test_a_failure_of_a_call_under_way_when_it_opened_is_counted_and_keeps_the_open_time(worker):
    first, second = worker(), worker()
    under_way = second.check()  # read before the circuit opened
    trip(first)
    opened = first.status().opened_at
    with pytest.raises(GatewayFailure):
        second.call(fail, checked=under_way)
    status = first.status()
    assert (status.state, status.failures, status.opened_at) == ("open", 4, opened)


def test_a_success_of_a_call_under_way_when_it_opened_ends_the_run_but_not_the_open_period(
    worker,
):
    first, second = worker(), worker()
    trip(first, n=2)
    under_way = second.check()  # closed, two failures
    trip(first, n=1)
    assert second.call(lambda: "paid", checked=under_way) == "paid"
    status = first.status()
    assert (status.state, status.failures) == ("open", 0)
    with pytest.raises(BreakerOpen):
        second.call(lambda: "not called")
