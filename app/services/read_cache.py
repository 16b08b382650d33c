"""Small reads many pages repeat (queue counts, the signed-in account), kept for a
moment and shared by every request of the process.

Each value is kept per database bind (the engine; in tests, each test's connection), for at
most `ttl` seconds, and dropped at once when this process changes what it was read from
(`changed()`, called after the writing transaction commits). So a change made here shows at
once, and a change made by another process (another web worker, the scheduler) within `ttl`.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy.orm import Session

T = TypeVar("T")


class ReadCache:
    def __init__(self, *, ttl: float, size: int = 1024) -> None:
        self.ttl = ttl
        self.size = size
        self._by_bind: weakref.WeakKeyDictionary[Any, dict[Hashable, tuple[int, float, Any]]]
        self._by_bind = weakref.WeakKeyDictionary()
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, session: Session, key: Hashable, load: Callable[[], T]) -> T:
        bind = session.get_bind()
        now = time.monotonic()
        with self._lock:
            generation = self._generation
            entries = self._by_bind.setdefault(bind, {})
            hit = entries.get(key)
        if hit is not None and hit[0] == generation and hit[1] > now:
            value: T = hit[2]
            return value
        value = load()
        with self._lock:
            entries[key] = (generation, now + self.ttl, value)
            if len(entries) > self.size:  # many keys (searches): drop what has expired
                for old in [k for k, e in entries.items() if e[1] <= now or e[0] != generation]:
                    del entries[old]
                if len(entries) > self.size:
                    entries.clear()
        return value

    def changed(self) -> None:
        """What the cached values were read from changed in this process: read again."""
        with self._lock:
            self._generation += 1


# Returns: the team counts and queue regions. Users: the accounts requests are authenticated
# as. (Which workflow version is published is read every time: a publish must reach every
# process at once.)
returns_reads = ReadCache(ttl=1.0)
user_reads = ReadCache(ttl=1.0, size=10_000)
