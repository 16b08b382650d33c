"""The in-process rate-limit storage: exact moving windows and counters, spent ones swept."""

from __future__ import annotations

import time

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from app.extensions import IN_PROCESS_LIMITS
from app.rate_limits import InProcessLimits


def test_the_app_counts_in_process_with_its_own_storage(app):
    assert app.config["RATELIMIT_STORAGE_URI"] == IN_PROCESS_LIMITS
    assert isinstance(app.extensions["backroom.limiter"].storage, InProcessLimits)
    assert isinstance(storage_from_string(IN_PROCESS_LIMITS), InProcessLimits)


def test_it_counts_a_moving_window_exactly(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    window = MovingWindowRateLimiter(InProcessLimits())
    limit = parse("3 per 10 seconds")
    for step in (0, 2, 4):
        clock[0] = 1000.0 + step
        assert window.hit(limit, "flash", "casey")
    clock[0] = 1009.9
    assert not window.hit(limit, "flash", "casey")  # the first hit is still in the window
    assert window.get_window_stats(limit, "flash", "casey") == (1010.0, 0)
    clock[0] = 1010.0
    assert window.test(limit, "flash", "casey")  # now it has left
    assert window.hit(limit, "flash", "casey")
    assert not window.hit(limit, "flash", "casey")
    assert window.hit(limit, "flash", "someone-else")


def test_it_refuses_a_cost_above_the_limit_and_counts_costs():
    window = MovingWindowRateLimiter(InProcessLimits())
    limit = parse("5 per minute")
    assert not window.hit(limit, "k", cost=6)
    assert window.hit(limit, "k", cost=4)
    assert not window.hit(limit, "k", cost=2)
    assert window.hit(limit, "k", cost=1)


def test_it_counts_fixed_windows_for_the_fallback(monkeypatch):
    clock = [500.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    storage = InProcessLimits()
    fixed = FixedWindowRateLimiter(storage)
    limit = parse("2 per 5 seconds")
    assert fixed.hit(limit, "k")
    assert fixed.hit(limit, "k")
    assert not fixed.hit(limit, "k")
    clock[0] = 505.0
    assert fixed.hit(limit, "k")
    storage.clear(limit.key_for("k"))
    assert storage.get(limit.key_for("k")) == 0


def test_it_forgets_spent_windows_and_counters_once_a_second(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    storage = InProcessLimits()
    window = MovingWindowRateLimiter(storage)
    limit = parse("2 per 1 second")
    for customer in range(500):
        assert window.hit(limit, "flash", str(customer))
    storage.incr("counter", 1)
    assert storage.count_keys() == 501
    clock[0] = 0.5
    window.hit(limit, "flash", "0")
    assert storage.count_keys() == 501  # nothing swept within the second
    clock[0] = 1.2
    window.hit(limit, "flash", "late")
    assert storage.count_keys() == 2  # customer 0 (hit at 0.5) and the late one


def test_it_resets_everything():
    storage = InProcessLimits()
    MovingWindowRateLimiter(storage).hit(parse("1 per minute"), "k")
    storage.incr("c", 60)
    assert storage.reset() == 2
    assert storage.count_keys() == 0
    assert storage.check() is True
