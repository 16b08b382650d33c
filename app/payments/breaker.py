"""The payment circuit breaker: pybreaker, with its state in Redis when REDIS_URL is set,
or in the serve process's memory when the web processes of `backroom serve` share it
(`app.shared_state`).

pybreaker keeps the state (closed, open, half-open), the failure count and the open time;
calls themselves run outside its lock (see `_call`).

pybreaker lets every call through while half-open; CONTRACT wants one trial call to
decide. So a trial token (a lock in process, `SET NX` in Redis, `take_trial` in the serve
process) admits exactly one caller
once the open period has passed, and everyone else keeps failing fast until it answers.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.managers import RemoteError
from typing import Any, TypeVar

import pybreaker
from redis.exceptions import RedisError

from app.shared_state import SHARED_ERRORS, SharedCircuitStorage, StateProxy

T = TypeVar("T")
log = logging.getLogger(__name__)

TRIAL_SECONDS = 30  # a trial call that never reports back stops blocking the next one
STATE_NAMES = {"closed": "closed", "open": "open", "half-open": "half_open"}


class BreakerOpen(Exception):
    """The circuit is open: the call was not made. `retry_after` is in whole seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"circuit open, retry after {retry_after}s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class BreakerStatus:
    name: str
    state: str
    failures: int
    opened_at: datetime | None
    retry_after: int


class PaymentBreaker:
    """Wraps gateway calls; only exceptions of `failure_types` count as failures."""

    def __init__(
        self,
        *,
        name: str,
        fail_max: int,
        reset_seconds: int,
        redis: Any | None = None,
        shared: StateProxy | None = None,
        namespace: str = "backroom",
        failure_types: tuple[type[BaseException], ...] = (Exception,),
    ) -> None:
        self.name = name
        self.reset_seconds = reset_seconds
        self._redis = redis
        self._trial_key = f"{namespace}:breaker:{name}:trial"
        self._trial_lock = threading.Lock()
        storage: pybreaker.CircuitBreakerStorage
        storage = pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)
        self._state_keys: list[str] = []
        self._shared: SharedCircuitStorage | None = None
        if redis is None and shared is not None:
            storage = self._shared = SharedCircuitStorage(shared, name)
        if redis is not None:
            try:
                storage = in_redis = pybreaker.CircuitRedisStorage(
                    pybreaker.STATE_CLOSED, redis, namespace=f"{namespace}:breaker:{name}"
                )
                keys = ("state", "fail_counter", "opened_at")
                self._state_keys = [in_redis._namespace(key) for key in keys]
            except RedisError as exc:
                # Payments must still work with Redis down; the state is then per process.
                log.warning("Redis unreachable (%s): the %s breaker keeps its state in process",
                            exc, name)  # fmt: skip
                self._redis = redis = None
        self._failure_types = failure_types
        self._cb = pybreaker.CircuitBreaker(
            fail_max=fail_max,
            reset_timeout=reset_seconds,
            state_storage=storage,
            name=name,
            exclude=[lambda exc: not isinstance(exc, self._failure_types)],
            throw_new_error_on_trip=False,
        )

    def _snapshot(self) -> tuple[str, int, datetime | None]:
        """(state, consecutive failures, opened at), read in one round trip from Redis."""
        storage = self._cb._state_storage
        if self._shared is not None:
            return self._shared.snapshot()
        if self._redis is not None:
            try:
                raw_state, raw_failures, raw_opened = self._redis.mget(self._state_keys)
            except RedisError:
                log.warning("Redis unreachable: the %s breaker reads its fallback", self.name)
            else:
                if raw_state is not None:  # a missing state is re-created by pybreaker below
                    opened_at = None
                    if raw_opened:
                        opened_at = datetime(*time.gmtime(int(raw_opened))[:6], tzinfo=UTC)
                    return raw_state.decode(), int(raw_failures or 0), opened_at
        raw = storage.state
        return raw, storage.counter, storage.opened_at if raw != "closed" else None

    def status(self, now: datetime | None = None) -> BreakerStatus:
        now = now or datetime.now(UTC)
        raw, failures, opened_at = self._snapshot()
        if raw == "closed":
            opened_at = None
        state = STATE_NAMES.get(raw, raw)
        retry_after = 0
        if raw == "open" and opened_at is not None:
            remaining = (opened_at + timedelta(seconds=self.reset_seconds) - now).total_seconds()
            if remaining <= 0:
                state = "half_open"
            retry_after = max(0, math.ceil(remaining))
        return BreakerStatus(self.name, state, failures, opened_at, retry_after)

    def check(self) -> BreakerStatus:
        """Fail fast with BreakerOpen while the open period lasts; no call is made. Returns
        what it read, for `call(checked=...)`."""
        status = self.status()
        if status.state == "open":
            raise BreakerOpen(max(1, status.retry_after))
        return status

    def call(
        self,
        func: Callable[..., T],
        *args: Any,
        checked: BreakerStatus | None = None,
        **kwargs: Any,
    ) -> T:
        """Call through the breaker; raises BreakerOpen instead of calling when open.

        `checked`: a closed status `check()` has just read, reused instead of reading it
        again (one round trip less to shared state). Should the circuit open in between,
        this call goes out like any call already under way when it opened, and counts."""
        status = checked if checked is not None and checked.state == "closed" else None
        status = status or self.status()
        if status.state == "closed":
            # A success only resets the run of failures; with none to reset, nothing is
            # written (the common case costs one read of the shared state, not four calls).
            return self._call(func, *args, report_success=status.failures > 0, **kwargs)
        if status.state == "open":
            raise BreakerOpen(max(1, status.retry_after))
        if not self._take_trial():
            raise BreakerOpen(1)
        try:
            return self._call(func, *args, **kwargs)
        finally:
            self._release_trial()

    def _call(
        self, func: Callable[..., T], *args: Any, report_success: bool = True, **kwargs: Any
    ) -> T:
        # pybreaker runs the guarded call while holding its lock, which would let only one
        # payment in the process talk to the gateway at a time. So the call runs here,
        # unlocked, and only its outcome goes through pybreaker's state machine.
        try:
            result = func(*args, **kwargs)
        except self._failure_types as exc:
            self._report(exc)
            raise
        except Exception:
            if report_success:
                self._report(None)  # any other answer means the gateway is up
            raise
        if report_success:
            self._report(None)
        return result

    def _report(self, failure: BaseException | None) -> None:
        def outcome() -> None:
            if failure is not None:
                raise failure

        cb = self._cb
        with cb._lock:
            stored = cb.current_state
            if stored != cb._state.name:
                # Moved by another process: adopt it as it is. pybreaker's own refresh
                # would announce the change, and a "closed" announced resets the shared
                # count of failures other processes have just recorded.
                cb._state = cb._create_new_state(stored, prev_state=cb._state, notify=False)
            try:
                cb.call(outcome)
            except pybreaker.CircuitBreakerError:
                pass  # opened meanwhile by another call: nothing more to record
            except self._failure_types:
                pass  # counted; the caller re-raises the original failure

    def _take_trial(self) -> bool:
        if self._shared is not None:
            try:
                return self._shared.take_trial(TRIAL_SECONDS)
            except SHARED_ERRORS:
                log.warning("shared state unreachable: the trial is admitted in this process only")
        if self._redis is not None:
            try:
                return bool(self._redis.set(self._trial_key, b"1", nx=True, ex=TRIAL_SECONDS))
            except RedisError:
                log.warning("Redis unreachable: the trial call is admitted in this process only")
        return self._trial_lock.acquire(blocking=False)

    def _release_trial(self) -> None:
        if self._trial_lock.locked():
            self._trial_lock.release()
            return
        try:
            if self._shared is not None:
                self._shared.release_trial()
            elif self._redis is not None:
                self._redis.delete(self._trial_key)
        except (RedisError, OSError, EOFError, RemoteError):  # the marker expires by itself
            log.warning("Redis unreachable: the trial marker will expire on its own")

    def reset(self) -> None:
        """Close the circuit (admin action and tests)."""
        self._cb.close()
