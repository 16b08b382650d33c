"""The payment circuit breaker with its state in the serve process (app.shared_state): what
is particular to it (round trips per payment, a working breaker when that state is gone).
What every shared state must do is in test_breaker_across_workers.

Each PaymentBreaker below is one web process's, with its own handle on the shared state."""

from __future__ import annotations

import time

import pytest

from app.payments import BreakerOpen, GatewayFailure, PaymentBreaker
from app.shared_state import StateProxy
from tests.payments.breakers import fail, trip
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


def test_a_trial_admitted_after_another_has_closed_the_circuit_is_an_ordinary_call(
    worker, served_state
):
    first = worker()
    trip(first)
    time.sleep(RESET + 0.05)

    class Late(CountingState):
        """Reaches for the trial just after `first`'s trial has closed the circuit."""

        def take_trial(self, *args):
            assert first.call(lambda: "trial") == "trial"
            return self._proxy.take_trial(*args)

    late = worker(Late(connect(served_state)))
    with pytest.raises(GatewayFailure):
        late.call(fail)  # read half open, then admitted to a trial already decided
    status = first.status()
    assert (status.state, status.failures) == ("closed", 1)  # counted, not a second verdict


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
