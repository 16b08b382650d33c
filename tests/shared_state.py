"""Helpers for tests of the state `backroom serve` shares with its web processes: serve it
from the test process (as the serve process does) or from a child process that can die."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.util import Finalize
from pathlib import Path

import pytest

from app.config import ROOT
from app.shared_state import STATE_ADDRESS, STATE_KEY, StateProxy, serve_state

# `app.shared_state` names the function `app/__init__.py` imports, not the module.
MODULE = importlib.import_module("app.shared_state")
SERVE = (
    "import json, sys; from app.shared_state import serve_state; "
    "print(json.dumps(serve_state()), flush=True); sys.stdin.read()"
)


def serve_here(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A new state served from this process, found through the environment as a web process
    of `backroom serve` finds it; the connection cached for this process is forgotten."""
    env = serve_state()
    reach(monkeypatch, env)
    return env


def reach(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(MODULE, "_connected", None)


def forget(env: dict[str, str]) -> None:
    """Remove the socket's private directory when this process exits, after
    multiprocessing's own exit finalizer (priority 0) has unlinked the socket."""
    Finalize(None, shutil.rmtree, args=(Path(env[STATE_ADDRESS]).parent, True), exitpriority=-1)


def connect(env: dict[str, str]) -> StateProxy:
    """A handle of its own on the state at `env`, as another process would open it."""
    return StateProxy(env[STATE_ADDRESS], bytes.fromhex(env[STATE_KEY]))


def dead_address(tmp_path: Path) -> dict[str, str]:
    """An environment naming a socket nothing listens on."""
    return {STATE_ADDRESS: str(tmp_path / "gone" / "state.sock"), STATE_KEY: "00" * 32}


@contextmanager
def served_elsewhere() -> Iterator[tuple[dict[str, str], subprocess.Popen[str]]]:
    """A state served by a child process (a serve process the test can kill)."""
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE],
        cwd=ROOT,
        env=os.environ.copy(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    env: dict[str, str] = {}
    try:
        env = json.loads(process.stdout.readline())
        yield env, process
    finally:
        stop(process)
        process.stdin.close()
        process.stdout.close()
        if env:
            forget(env)


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(10)
