"""The in-process rate-limit storage: exact counts, expired ones swept (at most once a second)."""

from __future__ import annotations

import time

from limits import parse
from limits.strategies import MovingWindowRateLimiter

from app.extensions import SweptMemoryStorage, limiter


def test_the_app_counts_in_process_with_the_swept_storage(app):
    assert isinstance(limiter.storage, SweptMemoryStorage)


def test_it_counts_exactly_and_forgets_expired_counts(monkeypatch):
    monkeypatch.setattr(SweptMemoryStorage, "SWEEP_SECONDS", 0.05)
    storage = SweptMemoryStorage("backroom-memory://")
    window = MovingWindowRateLimiter(storage)
    limit = parse("2 per 1 second")
    for customer in range(500):
        assert window.hit(limit, "flash", str(customer))
        assert window.hit(limit, "flash", str(customer))
        assert not window.hit(limit, "flash", str(customer))  # the third in the window
    assert sum(len(hits) for hits in storage.events.values()) == 1000
    time.sleep(1.2)
    assert window.hit(limit, "flash", "0")  # the window moved on
    time.sleep(0.2)
    assert sum(len(hits) for hits in storage.events.values()) == 1  # the rest were swept
