"""The payment circuit breaker: closed → open after `fail_max` consecutive gateway failures;
open fails fast (`BreakerOpen`) for `reset_seconds`; then one trial call decides (success
closes, failure reopens).

The state machine is here; its state (the run of failures, the open time, the trial) is
kept behind `BreakerState`: in Redis when REDIS_URL is set (one breaker for every process on
every host), in the serve process's memory for the web processes of `backroom serve`
(`app.shared_state`), else in this process. Each operation is atomic in its store, so
processes need no lock of their own: failures are counted by increment, the first failure
at the limit sets the open time (a failure of a call already under way when it opened is
counted but leaves it), and the trial is a marker only one caller can set, which expires
should its caller never report back. Gateway calls run outside any lock, side by side.

A payment while all is well costs one read of the state (`status`, or the `check` whose
closed status `call(checked=...)` reuses) and no write: a success writes only to end a run
of failures. Whoever takes the trial reads the state again first, so a trial admitted just
after another has given its verdict does not judge a second time.

With Redis or the serve process's state unreachable, every operation falls back to this
process's own state (logged): payments go on with a per-process breaker, and the shared
state is used again as soon as it answers. Nothing here raises into a payment but the
gateway's own answer or `BreakerOpen`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from redis.exceptions import RedisError

from app.shared_state import InProcessBreakerState, SharedBreakerState, StateProxy

T = TypeVar("T")
log = logging.getLogger(__name__)

TRIAL_SECONDS = 30  # a trial call that never reports back stops blocking the next one
# The states a status reports, as the API and the metrics name them.
STATE_NAMES = {"closed": "closed", "open": "open", "half_open": "half_open"}


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


class BreakerState(Protocol):
    """Where one breaker's state lives. Every operation is atomic; `errors` are what its
    calls raise when the state cannot be reached."""

    where: str
    errors: tuple[type[Exception], ...]

    def read(self) -> tuple[int, float | None]:
        """(consecutive failures, open time as a timestamp or None while closed)."""

    def count_failure(self, fail_max: int, now: float) -> None:
        """One more failure; at `fail_max` or more, open at `now` unless already open."""

    def clear_failures(self) -> None:
        """A success: the run of failures is over (an open circuit stays open)."""

    def close(self) -> None:
        """No failures, not open."""

    def reopen(self, now: float) -> None:
        """The trial failed: one more failure, open again from `now`."""

    def take_trial(self, seconds: float) -> bool:
        """Admit one caller until it releases the trial or `seconds` pass."""

    def release_trial(self) -> None: ...


class RedisBreakerState:
    """A breaker's state in Redis, under `{namespace}:breaker:{name}:…`: `failures` (INCR),
    `opened_at` (a timestamp, SET NX on opening), `trial` (SET NX with an expiry). A read
    is one MGET."""

    where = "Redis"
    errors: tuple[type[Exception], ...] = (RedisError,)

    def __init__(self, client: Any, prefix: str) -> None:
        self._client = client
        self._failures = f"{prefix}:failures"
        self._opened_at = f"{prefix}:opened_at"
        self._trial = f"{prefix}:trial"

    def read(self) -> tuple[int, float | None]:
        failures, opened_at = self._client.mget([self._failures, self._opened_at])
        return int(failures or 0), None if opened_at is None else float(opened_at)

    def count_failure(self, fail_max: int, now: float) -> None:
        if int(self._client.incr(self._failures)) >= fail_max:
            self._client.set(self._opened_at, repr(now), nx=True)

    def clear_failures(self) -> None:
        self._client.set(self._failures, 0)

    def close(self) -> None:
        self._client.pipeline().set(self._failures, 0).delete(self._opened_at).execute()

    def reopen(self, now: float) -> None:
        self._client.pipeline().incr(self._failures).set(self._opened_at, repr(now)).execute()

    def take_trial(self, seconds: float) -> bool:
        return bool(self._client.set(self._trial, b"1", nx=True, px=int(seconds * 1000)))

    def release_trial(self) -> None:
        self._client.delete(self._trial)


class PaymentBreaker:
    """Wraps gateway calls; only exceptions of `failure_types` count as failures, any other
    answer (a decline, say) shows the gateway is up."""

    def __init__(
        self,
        *,
        name: str,
        fail_max: int,
        reset_seconds: float,
        redis: Any | None = None,
        shared: StateProxy | None = None,
        namespace: str = "backroom",
        failure_types: tuple[type[BaseException], ...] = (Exception,),
    ) -> None:
        self.name = name
        self.fail_max = fail_max
        self.reset_seconds = reset_seconds
        self._failure_types = failure_types
        own: BreakerState = InProcessBreakerState()
        self._states: tuple[BreakerState, ...] = (own,)  # the shared one first, if any
        if redis is not None:
            self._states = (RedisBreakerState(redis, f"{namespace}:breaker:{name}"), own)
        elif shared is not None:
            self._states = (SharedBreakerState(shared, name), own)

    def status(self, now: datetime | None = None) -> BreakerStatus:
        now = now or datetime.now(UTC)
        failures, opened = self._use(lambda state: state.read())
        if opened is None:
            return BreakerStatus(self.name, "closed", failures, None, 0)
        opened_at = datetime.fromtimestamp(opened, UTC)
        remaining = (opened_at + timedelta(seconds=self.reset_seconds) - now).total_seconds()
        state = "open" if remaining > 0 else "half_open"
        return BreakerStatus(self.name, state, failures, opened_at, max(0, math.ceil(remaining)))

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
            return self._closed_call(status, func, args, kwargs)
        if status.state == "open":
            raise BreakerOpen(max(1, status.retry_after))
        admitted = self._use(lambda state: state if state.take_trial(TRIAL_SECONDS) else None)
        if admitted is None:
            raise BreakerOpen(1)
        try:
            # Another trial may have given its verdict between the read above and ours.
            status = self.status()
            if status.state == "closed":
                return self._closed_call(status, func, args, kwargs)
            if status.state == "open":
                raise BreakerOpen(max(1, status.retry_after))
            return self._run(
                func,
                args,
                kwargs,
                failed=lambda state: state.reopen(time.time()),
                answered=lambda state: state.close(),
            )
        finally:
            self._release(admitted)

    def reset(self) -> None:
        """Close the circuit (admin action and tests)."""
        for state in self._states:
            try:
                state.close()
                state.release_trial()
            except state.errors as exc:
                log.warning("%s unreachable (%s): the %s breaker was reset in this process only",
                            state.where, exc, self.name)  # fmt: skip

    def _closed_call(
        self, status: BreakerStatus, func: Callable[..., T], args: Any, kwargs: Any
    ) -> T:
        # A success only ends a run of failures; with none to end, nothing is written.
        return self._run(
            func,
            args,
            kwargs,
            failed=lambda state: state.count_failure(self.fail_max, time.time()),
            answered=(lambda state: state.clear_failures()) if status.failures else None,
        )

    def _run(
        self,
        func: Callable[..., T],
        args: Any,
        kwargs: Any,
        *,
        failed: Callable[[BreakerState], None],
        answered: Callable[[BreakerState], None] | None,
    ) -> T:
        try:
            result = func(*args, **kwargs)
        except self._failure_types:
            self._use(failed)
            raise
        except Exception:
            if answered is not None:
                self._use(answered)  # any other answer means the gateway is up
            raise
        if answered is not None:
            self._use(answered)
        return result

    def _use(self, operation: Callable[[BreakerState], T]) -> T:
        """`operation` on the shared state; while that cannot be reached, on this process's."""
        *shared, own = self._states
        for state in shared:
            try:
                return operation(state)
            except state.errors as exc:
                log.warning("%s unreachable (%s): the %s breaker uses this process's state",
                            state.where, exc, self.name)  # fmt: skip
        return operation(own)

    def _release(self, admitted: BreakerState) -> None:
        try:
            admitted.release_trial()
        except admitted.errors as exc:
            log.warning("%s unreachable (%s): the %s breaker's trial marker will expire",
                        admitted.where, exc, self.name)  # fmt: skip
