"""The rate limiter's in-process storage (`backroom-memory://`), a `limits` storage built on
its public extension point: a `Storage` subclass registered under its own scheme.

It keeps what the app's limits need, exactly: moving windows (every limit here is one) and
plain counters (flask-limiter's fallback and `limits`' fixed windows). Counting never waits
for a sweep, since every call compares timestamps; a sweep, at most once a second and inside
whichever call comes due, only forgets windows and counters that have run out, so memory
follows the customers of the last window (a flash-sale stampede has thousands).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from limits.storage import MovingWindowSupport, Storage


class InProcessLimits(Storage, MovingWindowSupport):
    """Moving windows and counters in this process's memory, one lock for all of them."""

    STORAGE_SCHEME = ["backroom-memory"]
    SWEEP_SECONDS = 1.0

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: Any):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._lock = threading.Lock()
        self._counters: dict[str, tuple[int, float]] = {}  # key -> (count, expires at)
        self._windows: dict[str, tuple[float, deque[float]]] = {}  # key -> (expiry, hit times)
        self._next_sweep = 0.0

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return ValueError  # nothing here talks to anything that can fail

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = time.time()
        with self._lock:
            self._sweep(now)
            count, expires = self._counters.get(key, (0, 0.0))
            if expires <= now:
                count, expires = 0, now + expiry
            count += amount
            self._counters[key] = (count, expires)
            return count

    def get(self, key: str) -> int:
        with self._lock:
            count, expires = self._counters.get(key, (0, 0.0))
            return count if expires > time.time() else 0

    def get_expiry(self, key: str) -> float:
        now = time.time()
        with self._lock:
            _count, expires = self._counters.get(key, (0, now))
            return expires if expires > now else now

    def check(self) -> bool:
        return True

    def reset(self) -> int | None:
        with self._lock:
            cleared = len(self._counters) + len(self._windows)
            self._counters.clear()
            self._windows.clear()
            return cleared

    def clear(self, key: str) -> None:
        with self._lock:
            self._counters.pop(key, None)
            self._windows.pop(key, None)

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        now = time.time()
        with self._lock:
            self._sweep(now)
            hits = self._window(key, expiry, now)
            if len(hits) + amount > limit:
                return False
            hits.extend([now] * amount)
            return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        """(when the oldest hit still in the window was made, hits in the window)."""
        now = time.time()
        with self._lock:
            hits = self._window(key, expiry, now)
            return (hits[0], len(hits)) if hits else (now, 0)

    def count_keys(self) -> int:
        """Windows and counters held (for tests of the sweep)."""
        with self._lock:
            return len(self._counters) + len(self._windows)

    def _window(self, key: str, expiry: float, now: float) -> deque[float]:
        """The key's hits within the last `expiry` seconds, oldest first (older ones dropped)."""
        entry = self._windows.get(key)
        if entry is None:
            entry = self._windows[key] = (expiry, deque())
        hits = entry[1]
        while hits and hits[0] <= now - expiry:
            hits.popleft()
        return hits

    def _sweep(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.SWEEP_SECONDS
        for key in [k for k, (_, expires) in self._counters.items() if expires <= now]:
            del self._counters[key]
        spent = [
            k for k, (expiry, hits) in self._windows.items() if not hits or hits[-1] <= now - expiry
        ]
        for key in spent:
            del self._windows[key]
