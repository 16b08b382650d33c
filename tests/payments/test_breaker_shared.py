"""The payment circuit breaker with its state in the serve process (app.shared_state): one
breaker for every web process of `backroom serve`, and a working one when that state is gone.

Each PaymentBreaker below is one web process's view: its own pybreaker, the shared state."""

from __future__ import annotations

import threading
import time

import pytest

from app.payments import BreakerOpen, GatewayFailure, PaymentBreaker
from app.shared_state import StateProxy
from tests.shared_state import connect, served_elsewhere, stop

RESET = 0.2  # seconds; the shared state keeps opened_at as a float timestamp


@pytest.fixture
def worker(served_state):
    """Build one web process's breaker, with a connection of its own to the state."""

    def build(proxy: StateProxy | None = None) -> PaymentBreaker:
        return PaymentBreaker(
            name="payment",
            fail_max=3,
            reset_seconds=RESET,
            shared=proxy or connect(served_state),
            failure_types=(GatewayFailure,),
        )

    return build


def fail():
    raise GatewayFailure("down")


def trip(breaker, n=3):
    for _ in range(n):
        with pytest.raises(GatewayFailure):
            breaker.call(fail)


def test_it_starts_closed_in_a_fresh_state(worker):
    status = worker().status()
    assert (status.state, status.failures, status.opened_at) == ("closed", 0, None)


def test_it_shares_failures_and_the_open_state_between_workers(worker):
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
        assert caught.value.retry_after == 1
    calls = []
    with pytest.raises(BreakerOpen) as caught:
        second.call(lambda: calls.append(1))
    assert caught.value.retry_after == 1
    assert calls == []


def test_it_admits_one_trial_across_workers_and_closes_for_all(worker):
    first, second, third = worker(), worker(), worker()
    trip(first)
    time.sleep(RESET + 0.05)
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
    refused = []
    for breaker in (second, third, first):
        with pytest.raises(BreakerOpen) as caught:
            breaker.call(lambda: "not admitted")
        refused.append(caught.value.retry_after)
    release.set()
    trial.join(5)
    assert results == ["trial"]
    assert refused == [1, 1, 1]
    for breaker in (first, second, third):
        assert breaker.status().state == "closed"
    assert second.call(lambda: "paid") == "paid"


def test_the_trial_goes_to_one_of_many_racing_workers(worker):
    workers = [worker() for _ in range(4)]
    trip(workers[0])
    time.sleep(RESET + 0.05)
    inside = threading.Event()
    start = threading.Barrier(len(workers))
    admitted: list[int] = []
    refused: list[int] = []

    def pay(number: int, breaker: PaymentBreaker) -> None:
        def gateway() -> str:
            admitted.append(number)
            inside.set()
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


def test_it_reopens_for_all_workers_when_the_trial_fails(worker):
    first, second = worker(), worker()
    trip(first)
    opened = first.status().opened_at
    time.sleep(RESET + 0.05)
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


def test_failures_counted_after_a_close_in_another_worker_are_kept(worker):
    first, second = worker(), worker()
    trip(first)  # first's pybreaker now believes the circuit open
    time.sleep(RESET + 0.05)
    assert second.call(lambda: "paid") == "paid"  # the trial closes it, in second
    trip(second, n=2)
    trip(first, n=1)  # three consecutive failures in all
    assert first.status().state == "open"


class CountingState:
    """A worker's real handle on the state, counting the calls it makes."""

    def __init__(self, proxy: StateProxy) -> None:
        self._proxy = proxy
        self.calls: list[str] = []

    def __getattr__(self, name):
        target = getattr(self._proxy, name)

        def call(*args, **kwargs):
            self.calls.append(name)
            return target(*args, **kwargs)

        return call


def test_a_payment_while_all_is_well_costs_one_round_trip(worker, served_state):
    counting = CountingState(connect(served_state))
    breaker = worker(counting)
    counting.calls.clear()
    assert breaker.call(lambda: "paid") == "paid"
    assert counting.calls == ["breaker"]


def test_a_checked_payment_reuses_the_closed_status_it_was_checked_with(worker, served_state):
    counting = CountingState(connect(served_state))
    breaker = worker(counting)
    checked = breaker.check()
    counting.calls.clear()
    assert breaker.call(lambda: "paid", checked=checked) == "paid"
    assert counting.calls == []  # check() + call() cost one round trip in all


def test_a_checked_payment_reads_again_unless_the_check_saw_it_closed(worker, served_state):
    first, second = worker(), worker()
    trip(first)
    time.sleep(RESET + 0.05)
    checked = second.check()  # past the open period: half open, one trial to take
    assert checked.state == "half_open"
    counting = CountingState(connect(served_state))
    third = worker(counting)
    counting.calls.clear()
    assert third.call(lambda: "paid", checked=checked) == "paid"  # the trial, taken afresh
    assert counting.calls[:2] == ["breaker", "take_trial"]
    assert second.status().state == "closed"


def test_payments_go_on_in_process_when_the_state_goes_away():
    with served_elsewhere() as (env, serve):
        breaker = PaymentBreaker(
            name="payment",
            fail_max=2,
            reset_seconds=RESET,
            shared=connect(env),
            failure_types=(GatewayFailure,),
        )
        trip(breaker, n=1)
        assert breaker.status().failures == 1
        stop(serve)
        assert breaker.status().state == "closed"  # the in-process fallback's view
        assert breaker.call(lambda: "paid") == "paid"
        trip(breaker, n=2)
        with pytest.raises(BreakerOpen):  # the fallback opens the circuit by itself
            breaker.call(lambda: "not called")
        assert breaker.status().state == "open"
        time.sleep(RESET + 0.05)
        assert breaker.call(lambda: "trial") == "trial"  # the trial is admitted in process
        assert breaker.status().state == "closed"
