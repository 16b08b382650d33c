"""The state `backroom serve` keeps for its web processes (app.shared_state): served over a
Unix socket, found through the environment, counting exactly whichever process asks."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from multiprocessing.managers import RemoteError
from pathlib import Path

import pytest
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app.config import ROOT
from app.shared_state import (
    SHARED_ERRORS,
    SHARED_LIMITS,
    STATE_ADDRESS,
    STATE_KEY,
    RemoteState,
    SharedLimitsStorage,
    StateManager,
    StateProxy,
    connect_shared_state,
)
from tests.shared_state import MODULE, connect, dead_address, reach, served_elsewhere, stop


@pytest.fixture
def storage(served_state):
    return SharedLimitsStorage(SHARED_LIMITS)


def test_it_serves_the_state_on_a_private_socket_named_in_the_environment(served_state):
    socket_dir = Path(served_state[STATE_ADDRESS]).parent
    assert stat.S_IMODE(socket_dir.stat().st_mode) == 0o700
    assert stat.S_ISSOCK(Path(served_state[STATE_ADDRESS]).stat().st_mode)
    assert len(bytes.fromhex(served_state[STATE_KEY])) == 32
    proxy = connect_shared_state()
    assert isinstance(proxy, StateProxy)
    assert connect_shared_state() is proxy  # one connection per process
    assert proxy.breaker("payment")["state"] == "closed"


def test_it_connects_again_in_a_new_process(served_state, monkeypatch):
    stale = connect_shared_state()
    monkeypatch.setattr(MODULE, "_connected", (-1, stale))  # as seen after a fork
    fresh = connect_shared_state()
    assert fresh is not stale
    fresh.count_failure("payment", 3, time.time())
    assert stale.breaker("payment")["failures"] == 1  # one state behind both


def test_there_is_no_shared_state_without_the_environment(monkeypatch):
    monkeypatch.delenv(STATE_ADDRESS, raising=False)
    monkeypatch.setattr(MODULE, "_connected", None)
    assert connect_shared_state() is None
    storage = SharedLimitsStorage(SHARED_LIMITS)
    assert storage.check() is False
    with pytest.raises(storage.base_exceptions):
        storage.acquire_entry("flash", 5, 60)


def test_the_limits_scheme_names_the_shared_storage(served_state):
    assert isinstance(storage_from_string(SHARED_LIMITS), SharedLimitsStorage)


def test_it_admits_exactly_the_limit_in_a_moving_window(storage):
    assert [storage.acquire_entry("flash/user:1", 5, 60) for _ in range(8)] == [True] * 5 + [
        False
    ] * 3
    start, count = storage.get_moving_window("flash/user:1", 5, 60)
    assert count == 5
    assert 0 < start <= time.time()
    assert storage.get_moving_window("flash/user:2", 5, 60)[1] == 0  # a budget per key
    storage.clear("flash/user:1")
    assert storage.get_moving_window("flash/user:1", 5, 60)[1] == 0
    assert storage.acquire_entry("flash/user:1", 5, 60)
    assert storage.check() is True


def test_it_counts_fixed_windows_and_resets(storage):
    assert [storage.incr("login", 60) for _ in range(3)] == [1, 2, 3]
    assert storage.get("login") == 3
    assert storage.get_expiry("login") > time.time()
    storage.reset()
    assert storage.get("login") == 0


def test_the_limits_library_counts_through_it(storage):
    window = MovingWindowRateLimiter(storage)
    limit = parse("2 per minute")
    assert [window.hit(limit, "flash", "user:7") for _ in range(3)] == [True, True, False]
    assert window.get_window_stats(limit, "flash", "user:7").remaining == 0


def test_it_reports_a_state_it_cannot_reach(monkeypatch, tmp_path):
    reach(monkeypatch, dead_address(tmp_path))
    storage = SharedLimitsStorage(SHARED_LIMITS)
    assert storage.check() is False
    with pytest.raises(storage.base_exceptions):
        storage.acquire_entry("flash", 5, 60)
    with pytest.raises(storage.base_exceptions):
        storage.get_moving_window("flash", 5, 60)


def test_it_refuses_what_is_not_a_limits_method(served_state):
    proxy = connect_shared_state()
    with pytest.raises(ValueError, match="not a limits storage method"):
        proxy.limits("__init__")
    with pytest.raises(ValueError, match="not a limits storage method"):
        proxy.limits("storage")
    assert proxy.breaker("payment") == {"state": "closed", "failures": 0, "opened_at": None}
    assert proxy.limits("check") is True  # the refusals left the connection usable


def test_it_serves_only_the_methods_of_the_state(served_state):
    remote = StateManager(
        address=served_state[STATE_ADDRESS], authkey=bytes.fromhex(served_state[STATE_KEY])
    )
    remote.connect()
    with pytest.raises(RemoteError, match="not in exposed"):
        remote.shared_state().call("_breaker", ("payment",))


def test_it_keeps_each_breaker_s_run_of_failures_and_open_time(served_state):
    proxy = connect_shared_state()
    proxy.count_failure("payment", 2, 100.0)
    assert proxy.breaker("payment") == {"state": "closed", "failures": 1, "opened_at": None}
    proxy.count_failure("payment", 2, 101.0)
    proxy.count_failure("payment", 2, 102.0)  # a call under way when it opened
    assert proxy.breaker("payment") == {"state": "open", "failures": 3, "opened_at": 101.0}
    assert proxy.breaker("other")["state"] == "closed"  # a state per breaker
    proxy.clear_failures("payment")
    assert proxy.breaker("payment") == {"state": "open", "failures": 0, "opened_at": 101.0}
    proxy.reopen_circuit("payment", 110.0)
    assert proxy.breaker("payment") == {"state": "open", "failures": 1, "opened_at": 110.0}
    proxy.close_circuit("payment")
    assert proxy.breaker("payment") == {"state": "closed", "failures": 0, "opened_at": None}


def test_a_handle_whose_connection_broke_connects_afresh(served_state, monkeypatch):
    proxy = connect_shared_state()
    proxy.count_failure("payment", 3, time.time())
    used: list[RemoteState] = []
    answer = RemoteState.call

    def breaks_once(remote, method, args):
        used.append(remote)
        if len(used) == 1:
            raise EOFError("connection closed mid-answer")
        return answer(remote, method, args)

    monkeypatch.setattr(RemoteState, "call", breaks_once)
    with pytest.raises(EOFError):
        proxy.breaker("payment")
    assert proxy.breaker("payment")["failures"] == 1  # the same state, reached again
    assert used[1] is not used[0]  # through a new connection


def test_a_handle_on_a_state_that_is_gone_fails_each_call_without_hanging():
    with served_elsewhere() as (env, serve):
        proxy = connect(env)
        assert proxy.breaker("payment")["state"] == "closed"
        stop(serve)
        for _ in range(2):  # the first finds the connection broken, the next cannot connect
            with pytest.raises(SHARED_ERRORS):
                proxy.breaker("payment")


def test_it_admits_one_trial_until_released_or_expired(served_state):
    proxy = connect_shared_state()
    assert proxy.take_trial("payment", 30) is True
    assert proxy.take_trial("payment", 30) is False
    assert proxy.take_trial("other", 30) is True  # a trial per breaker
    proxy.release_trial("payment")
    assert proxy.take_trial("payment", 0.05) is True
    time.sleep(0.1)
    assert proxy.take_trial("payment", 30) is True  # the unreleased trial expired


HAMMER = """
import sys, threading
from app.shared_state import SharedLimitsStorage
limit, attempts = int(sys.argv[1]), int(sys.argv[2])
storage = SharedLimitsStorage("backroom-shared://")
assert storage.check()
print("ready", flush=True)
sys.stdin.readline()
won = []
def hammer():
    won.append(sum(storage.acquire_entry("flash/user:1", limit, 60) for _ in range(attempts)))
threads = [threading.Thread(target=hammer) for _ in range(2)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(sum(won), flush=True)
"""


@pytest.mark.slow
def test_it_admits_exactly_the_limit_across_processes(served_state, storage):
    limit, attempts, processes = 37, 40, 3  # 240 attempts from 6 threads in 3 processes
    hammers = [
        subprocess.Popen(
            [sys.executable, "-c", HAMMER, str(limit), str(attempts)],
            cwd=ROOT,
            env={**os.environ, **served_state},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    try:
        for hammer in hammers:
            assert hammer.stdout.readline().strip() == "ready"
        for hammer in hammers:  # released together
            hammer.stdin.write("go\n")
            hammer.stdin.flush()
        admitted = [int(hammer.communicate(timeout=60)[0]) for hammer in hammers]
    finally:
        for hammer in hammers:
            if hammer.poll() is None:
                hammer.kill()
                hammer.wait(10)
    assert [hammer.returncode for hammer in hammers] == [0] * processes
    assert sum(admitted) == limit, admitted
    assert storage.get_moving_window("flash/user:1", limit, 60)[1] == limit
