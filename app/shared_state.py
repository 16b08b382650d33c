"""What the web processes of `backroom serve` share: the rate limiter's counts and the
payment circuit breaker, kept in the memory of the serve process itself.

`backroom serve` runs several web processes (granian workers forked from it, one per core
by default). A rate limit and a circuit breaker must still be one limit and one breaker
across them, exactly as in one process. So the serve process holds that state in memory
(`SharedState`: limits' own in-memory moving windows, and a few fields per breaker) and
serves it to its workers over a Unix socket with `multiprocessing.managers`, authenticated
by a key made at start. Workers find the socket and the key in the environment serve gives
them (`STATE_ADDRESS`, `STATE_KEY`); nothing else can reach it.

Every call is one round trip, answered under one lock, so counting is exact whatever
process asks. Should the serve process's state be unreachable, the limiter counts in the
worker (flask-limiter's in-memory fallback) and the breaker keeps its own state, as with
Redis down in the scaled deployment: degraded, never a 500.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
import time
from datetime import UTC, datetime
from multiprocessing.managers import BaseManager, BaseProxy, RemoteError
from multiprocessing.util import Finalize
from pathlib import Path
from typing import Any

import pybreaker
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
BREAKER_FIELDS = ("state", "fail_counter", "success_counter", "opened_at")


class SharedState:
    """The state itself, in the serve process. Every method runs under one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._limits = InProcessLimits()
        self._breakers: dict[str, dict[str, Any]] = {}
        self._trials: dict[str, float] = {}  # breaker name -> monotonic time the trial ends

    def limits(self, method: str, args: tuple[Any, ...]) -> Any:
        if method not in LIMITS_METHODS:
            raise ValueError(f"not a limits storage method: {method}")
        with self._lock:
            return getattr(self._limits, method)(*args)

    def breaker(self, name: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._fields(name))

    def set_field(self, name: str, field: str, value: Any) -> None:
        if field not in BREAKER_FIELDS:
            raise ValueError(f"not a breaker field: {field}")
        with self._lock:
            self._fields(name)[field] = value

    def incr_field(self, name: str, field: str) -> int:
        with self._lock:
            fields = self._fields(name)
            fields[field] = int(fields[field]) + 1
            return int(fields[field])

    def take_trial(self, name: str, seconds: float) -> bool:
        """Admit one trial call per breaker until it is released or `seconds` pass."""
        now = time.monotonic()
        with self._lock:
            if self._trials.get(name, 0.0) > now:
                return False
            self._trials[name] = now + seconds
            return True

    def release_trial(self, name: str) -> None:
        with self._lock:
            self._trials.pop(name, None)

    def _fields(self, name: str) -> dict[str, Any]:
        fields = self._breakers.get(name)
        if fields is None:
            fields = self._breakers[name] = {
                "state": pybreaker.STATE_CLOSED, "fail_counter": 0, "success_counter": 0,
                "opened_at": None,
            }  # fmt: skip
        return fields


class StateProxy(BaseProxy):
    """A worker's handle on `SharedState`: the same methods, each one round trip."""

    _exposed_ = ("limits", "breaker", "set_field", "incr_field", "take_trial", "release_trial")

    def limits(self, method: str, *args: Any) -> Any:
        return self._call("limits", (method, args))

    def breaker(self, name: str) -> dict[str, Any]:
        return dict(self._call("breaker", (name,)))

    def set_field(self, name: str, field: str, value: Any) -> None:
        self._call("set_field", (name, field, value))

    def incr_field(self, name: str, field: str) -> int:
        return int(self._call("incr_field", (name, field)))

    def take_trial(self, name: str, seconds: float) -> bool:
        return bool(self._call("take_trial", (name, seconds)))

    def release_trial(self, name: str) -> None:
        self._call("release_trial", (name,))

    def _call(self, method: str, args: tuple[Any, ...]) -> Any:
        try:
            return self._callmethod(method, args)
        except (OSError, EOFError):
            # The thread's connection is broken: the next call opens a new one.
            self._tls.__dict__.pop("connection", None)  # type: ignore[attr-defined]
            raise


class StateManager(BaseManager):
    pass


StateManager.register("shared_state", proxytype=StateProxy)


def serve_state() -> dict[str, str]:
    """Serve a new `SharedState` from this process, on threads, for as long as it lives.

    Returns the environment its workers need to reach it. The socket is in a new private
    directory under the system's temporary one (Unix socket paths must be short)."""
    state = SharedState()

    class Serving(StateManager):
        pass

    Serving.register("shared_state", callable=lambda: state, proxytype=StateProxy)
    folder = tempfile.mkdtemp(prefix="backroom-state-")
    # Removed at exit after multiprocessing unlinks the socket (its finalizer runs at 0).
    Finalize(None, shutil.rmtree, args=(folder,), kwargs={"ignore_errors": True}, exitpriority=-1)
    address = str(Path(folder) / "state.sock")
    key = secrets.token_bytes(32)
    server = Serving(address=address, authkey=key).get_server()
    server.stop_event = threading.Event()  # type: ignore[attr-defined]  # serve_forever's
    threading.Thread(target=server.accepter, name="shared-state", daemon=True).start()
    return {STATE_ADDRESS: address, STATE_KEY: key.hex()}


_connected: tuple[int, StateProxy] | None = None
_connect_lock = threading.Lock()


def connect_shared_state() -> StateProxy | None:
    """This process's handle on the serve process's state, or None when it serves none
    (tests, `backroom web`, `backroom worker`). Connects once per process."""
    global _connected
    address = os.environ.get(STATE_ADDRESS)
    if not address:
        return None
    with _connect_lock:
        if _connected is None or _connected[0] != os.getpid():
            manager = StateManager(address=address, authkey=bytes.fromhex(os.environ[STATE_KEY]))
            manager.connect()
            _connected = (os.getpid(), manager.shared_state())  # type: ignore[attr-defined]
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


class SharedCircuitStorage(pybreaker.CircuitBreakerStorage):
    """pybreaker's state in the serve process's memory; while that cannot be reached, in
    this process (a fallback that never raises into a payment)."""

    def __init__(self, state: StateProxy, name: str) -> None:
        super().__init__(name)
        self._shared = state
        self._fallback = pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)

    def snapshot(self) -> tuple[str, int, datetime | None]:
        """(state, consecutive failures, opened at) in one round trip."""
        try:
            fields = self._shared.breaker(self.name)
        except SHARED_ERRORS:
            fallback = self._fallback
            return fallback.state, fallback.counter, fallback.opened_at
        opened = fields["opened_at"]
        opened_at = datetime.fromtimestamp(opened, UTC) if opened is not None else None
        return str(fields["state"]), int(fields["fail_counter"]), opened_at

    def take_trial(self, seconds: float) -> bool:
        return self._shared.take_trial(self.name, seconds)

    def release_trial(self) -> None:
        self._shared.release_trial(self.name)

    def _get(self, field: str) -> Any:
        try:
            return self._shared.breaker(self.name)[field]
        except SHARED_ERRORS:
            return getattr(self._fallback, _FALLBACK_NAMES[field])

    def _set(self, field: str, value: Any) -> None:
        """Set `state` or `opened_at` (a timestamp)."""
        try:
            self._shared.set_field(self.name, field, value)
        except SHARED_ERRORS:
            if field == "opened_at":
                self._fallback.opened_at = datetime.fromtimestamp(value, UTC)
            else:
                self._fallback.state = value

    def _incr(self, field: str) -> None:
        try:
            self._shared.incr_field(self.name, field)
        except SHARED_ERRORS:
            if field == "fail_counter":
                self._fallback.increment_counter()
            else:
                self._fallback.increment_success_counter()

    @property
    def state(self) -> str:
        return str(self._get("state"))

    @state.setter
    def state(self, state: str) -> None:
        self._set("state", state)

    def increment_counter(self) -> None:
        self._incr("fail_counter")

    def reset_counter(self) -> None:
        self._set_counter("fail_counter")

    def increment_success_counter(self) -> None:
        self._incr("success_counter")

    def reset_success_counter(self) -> None:
        self._set_counter("success_counter")

    def _set_counter(self, field: str) -> None:
        try:
            self._shared.set_field(self.name, field, 0)
        except SHARED_ERRORS:
            if field == "fail_counter":
                self._fallback.reset_counter()
            else:
                self._fallback.reset_success_counter()

    @property
    def counter(self) -> int:
        return int(self._get("fail_counter"))

    @property
    def success_counter(self) -> int:
        return int(self._get("success_counter"))

    @property
    def opened_at(self) -> datetime | None:
        value = self._get("opened_at")
        if value is None or isinstance(value, datetime):
            return value
        return datetime.fromtimestamp(value, UTC)

    @opened_at.setter
    def opened_at(self, value: datetime) -> None:
        self._set("opened_at", value.timestamp())


_FALLBACK_NAMES = {
    "state": "state",
    "fail_counter": "counter",
    "success_counter": "success_counter",
    "opened_at": "opened_at",
}
