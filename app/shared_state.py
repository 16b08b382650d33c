"""What the web processes of `backroom serve` share: the rate limiter's counts and the
payment circuit breaker, kept in the memory of the serve process itself.

`backroom serve` runs several web processes (granian workers forked from it, one per core
by default). A rate limit and a circuit breaker must still be one limit and one breaker
across them, exactly as in one process. So the serve process holds that state in memory
(`SharedState`: limits' own in-memory moving windows, and an `InProcessBreakerState` per
breaker) and serves it to its workers over a Unix socket with `multiprocessing.managers`,
authenticated by a key made at start. Workers find the socket and the key in the
environment serve gives them (`STATE_ADDRESS`, `STATE_KEY`); nothing else can reach it.

Every call is one round trip, answered atomically, so counting is exact whatever process
asks. Should the serve process's state be unreachable, the limiter counts in the worker
(flask-limiter's in-memory fallback) and the breaker keeps its own state, as with Redis
down in the scaled deployment: degraded, never a 500. A worker's handle (`StateProxy`)
whose connection broke connects afresh on its next call.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
import time
from multiprocessing.managers import BaseManager, BaseProxy, RemoteError
from multiprocessing.util import Finalize
from pathlib import Path
from typing import Any

from limits.storage import MovingWindowSupport, Storage

from app.rate_limits import InProcessLimits

STATE_ADDRESS = "BACKROOM_STATE_ADDRESS"
STATE_KEY = "BACKROOM_STATE_KEY"
SHARED_LIMITS = "backroom-shared://"
# A call that cannot reach the state: the socket is gone, refused, or closed mid-answer.
SHARED_ERRORS: tuple[type[Exception], ...] = (OSError, EOFError, RemoteError)
LIMITS_METHODS = frozenset(
    {"incr", "get", "get_expiry", "clear", "reset", "check", "acquire_entry", "get_moving_window"}
)


class InProcessBreakerState:
    """One circuit breaker's state in this process's memory, each operation under one lock:
    a process's own breaker (alone, or while its shared state is unreachable), and each
    breaker the serve process keeps for its web processes (`SharedState`).

    The operations are those of `app.payments.breaker.BreakerState`: a run of failures
    opens the circuit (the first failure at the limit sets the open time; failures of calls
    already under way when it opened are counted but leave it), a success ends the run, the
    trial's verdict closes or reopens, and one trial at a time is admitted."""

    where = "this process"
    errors: tuple[type[Exception], ...] = ()  # nothing here can be out of reach

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None  # a timestamp, while open
        self._trial_ends = 0.0  # monotonic time at which an unreleased trial stops counting

    def read(self) -> tuple[int, float | None]:
        with self._lock:
            return self._failures, self._opened_at

    def count_failure(self, fail_max: int, now: float) -> None:
        with self._lock:
            self._failures += 1
            if self._failures >= fail_max and self._opened_at is None:
                self._opened_at = now

    def clear_failures(self) -> None:
        with self._lock:
            self._failures = 0

    def close(self) -> None:
        with self._lock:
            self._failures, self._opened_at = 0, None

    def reopen(self, now: float) -> None:
        with self._lock:
            self._failures += 1
            self._opened_at = now

    def take_trial(self, seconds: float) -> bool:
        """Admit one trial call until it is released or `seconds` pass."""
        now = time.monotonic()
        with self._lock:
            if self._trial_ends > now:
                return False
            self._trial_ends = now + seconds
            return True

    def release_trial(self) -> None:
        with self._lock:
            self._trial_ends = 0.0


class SharedState:
    """The state itself, in the serve process. Every method is atomic: the limits under one
    lock, each breaker under its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._limits = InProcessLimits()
        self._breakers: dict[str, InProcessBreakerState] = {}

    def limits(self, method: str, args: tuple[Any, ...]) -> Any:
        if method not in LIMITS_METHODS:
            raise ValueError(f"not a limits storage method: {method}")
        with self._lock:
            return getattr(self._limits, method)(*args)

    def breaker(self, name: str) -> dict[str, Any]:
        """The breaker's state, failures and open time (a timestamp, or None)."""
        failures, opened_at = self._breaker(name).read()
        state = "closed" if opened_at is None else "open"
        return {"state": state, "failures": failures, "opened_at": opened_at}

    def count_failure(self, name: str, fail_max: int, now: float) -> None:
        self._breaker(name).count_failure(fail_max, now)

    def clear_failures(self, name: str) -> None:
        self._breaker(name).clear_failures()

    def close_circuit(self, name: str) -> None:
        self._breaker(name).close()

    def reopen_circuit(self, name: str, now: float) -> None:
        self._breaker(name).reopen(now)

    def take_trial(self, name: str, seconds: float) -> bool:
        """Admit one trial call per breaker until it is released or `seconds` pass."""
        return self._breaker(name).take_trial(seconds)

    def release_trial(self, name: str) -> None:
        self._breaker(name).release_trial()

    def _breaker(self, name: str) -> InProcessBreakerState:
        with self._lock:
            breaker = self._breakers.get(name)
            if breaker is None:
                breaker = self._breakers[name] = InProcessBreakerState()
            return breaker


class RemoteState(BaseProxy):
    """multiprocessing's proxy of `SharedState` (a connection per thread). Used through
    `StateProxy`, which replaces it when a connection breaks."""

    _exposed_ = (
        "limits", "breaker", "count_failure", "clear_failures", "close_circuit",
        "reopen_circuit", "take_trial", "release_trial",
    )  # fmt: skip

    def call(self, method: str, args: tuple[Any, ...]) -> Any:
        return self._callmethod(method, args)


class StateManager(BaseManager):
    pass


StateManager.register("shared_state", proxytype=RemoteState)


class StateProxy:
    """A worker's handle on `SharedState`: the same methods, each one round trip.

    A connection that broke stays broken in multiprocessing's proxy. So a call that finds
    it broken (OSError, EOFError) drops that proxy and fails like a call to a state that is
    gone; the next call connects afresh (`StateManager.connect()`, a new proxy)."""

    def __init__(self, address: str, authkey: bytes) -> None:
        self._address = address
        self._authkey = authkey
        self._remote: RemoteState | None = self._connect()  # raises when unreachable

    def limits(self, method: str, *args: Any) -> Any:
        return self._call("limits", (method, args))

    def breaker(self, name: str) -> dict[str, Any]:
        return dict(self._call("breaker", (name,)))

    def count_failure(self, name: str, fail_max: int, now: float) -> None:
        self._call("count_failure", (name, fail_max, now))

    def clear_failures(self, name: str) -> None:
        self._call("clear_failures", (name,))

    def close_circuit(self, name: str) -> None:
        self._call("close_circuit", (name,))

    def reopen_circuit(self, name: str, now: float) -> None:
        self._call("reopen_circuit", (name, now))

    def take_trial(self, name: str, seconds: float) -> bool:
        return bool(self._call("take_trial", (name, seconds)))

    def release_trial(self, name: str) -> None:
        self._call("release_trial", (name,))

    def _connect(self) -> RemoteState:
        manager = StateManager(address=self._address, authkey=self._authkey)
        manager.connect()
        remote: RemoteState = manager.shared_state()  # type: ignore[attr-defined]
        return remote

    def _call(self, method: str, args: tuple[Any, ...]) -> Any:
        remote = self._remote
        if remote is None:
            remote = self._remote = self._connect()
        try:
            return remote.call(method, args)
        except (OSError, EOFError):
            if self._remote is remote:  # not already replaced by another thread
                self._remote = None
            raise


def serve_state() -> dict[str, str]:
    """Serve a new `SharedState` from this process, on threads, for as long as it lives.

    Returns the environment its workers need to reach it. The socket is in a new private
    directory under the system's temporary one (Unix socket paths must be short)."""
    state = SharedState()

    class Serving(StateManager):
        pass

    Serving.register("shared_state", callable=lambda: state, proxytype=RemoteState)
    folder = tempfile.mkdtemp(prefix="backroom-state-")
    # Removed at exit after multiprocessing unlinks the socket (its finalizer runs at 0).
    Finalize(None, shutil.rmtree, args=(folder,), kwargs={"ignore_errors": True}, exitpriority=-1)
    address = str(Path(folder) / "state.sock")
    key = secrets.token_bytes(32)
    server = Serving(address=address, authkey=key).get_server()
    threading.Thread(target=server.serve_forever, name="shared-state", daemon=True).start()
    return {STATE_ADDRESS: address, STATE_KEY: key.hex()}


_connected: tuple[int, StateProxy] | None = None
_connect_lock = threading.Lock()


def connect_shared_state() -> StateProxy | None:
    """This process's handle on the serve process's state, or None when it serves none
    (tests, `backroom web`, `backroom worker`). Connects once per process; raises one of
    SHARED_ERRORS when the state cannot be reached."""
    global _connected
    address = os.environ.get(STATE_ADDRESS)
    if not address:
        return None
    with _connect_lock:
        if _connected is None or _connected[0] != os.getpid():
            proxy = StateProxy(address, bytes.fromhex(os.environ[STATE_KEY]))
            _connected = (os.getpid(), proxy)
        return _connected[1]


class SharedLimitsStorage(Storage, MovingWindowSupport):
    """limits storage backed by the serve process's memory (`backroom-shared://`)."""

    STORAGE_SCHEME = ["backroom-shared"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **_: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions)

    @property
    def base_exceptions(self) -> tuple[type[Exception], ...]:
        return SHARED_ERRORS

    def _call(self, method: str, *args: Any) -> Any:
        state = connect_shared_state()
        if state is None:
            raise ConnectionError(f"{STATE_ADDRESS} is not set: no shared state to count in")
        return state.limits(method, *args)

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        return int(self._call("incr", key, expiry, amount))

    def get(self, key: str) -> int:
        return int(self._call("get", key))

    def get_expiry(self, key: str) -> float:
        return float(self._call("get_expiry", key))

    def check(self) -> bool:
        try:
            return bool(self._call("check"))
        except SHARED_ERRORS:
            return False

    def reset(self) -> int | None:
        result = self._call("reset")
        return None if result is None else int(result)

    def clear(self, key: str) -> None:
        self._call("clear", key)

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        return bool(self._call("acquire_entry", key, limit, expiry, amount))

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        start, count = self._call("get_moving_window", key, limit, expiry)
        return float(start), int(count)


class SharedBreakerState:
    """A circuit breaker's state in the serve process's memory, through a worker's handle
    (`app.payments.breaker.BreakerState`); each operation is one round trip."""

    where = "the serve process's state"
    errors = SHARED_ERRORS

    def __init__(self, state: StateProxy, name: str) -> None:
        self._state = state
        self._name = name

    def read(self) -> tuple[int, float | None]:
        fields = self._state.breaker(self._name)
        opened_at = fields["opened_at"]
        return int(fields["failures"]), None if opened_at is None else float(opened_at)

    def count_failure(self, fail_max: int, now: float) -> None:
        self._state.count_failure(self._name, fail_max, now)

    def clear_failures(self) -> None:
        self._state.clear_failures(self._name)

    def close(self) -> None:
        self._state.close_circuit(self._name)

    def reopen(self, now: float) -> None:
        self._state.reopen_circuit(self._name, now)

    def take_trial(self, seconds: float) -> bool:
        return self._state.take_trial(self._name, seconds)

    def release_trial(self) -> None:
        self._state.release_trial(self._name)
