"""Start the system under test with a fresh database, and always take it down again.

Two setups:

* `embedded` - `backroom serve` (granian, two web processes per core, the scheduler in one
  of them, SQLite under a fresh temporary BACKROOM_DATA_DIR, limiter and breaker state in
  the serve process's memory), exactly what `make run` runs.
* `scaled` - a fresh PostgreSQL database created next to TEST_DATABASE_URL, `backroom db
  upgrade` + `backroom demo-data`, then `backroom web --workers N` (gunicorn gthread) and
  `backroom worker`, with REDIS_URL=TEST_REDIS_URL.

Both take an optional `before_start(env)`: called with the server's environment once the
schema and the demo data are in place (for `embedded` the bench then runs `backroom db
upgrade` and `backroom demo-data` itself first) and before any server process starts, so
bulk data can be written into the database with nothing else using it.

Every server process is started in its own session (process group) and the whole group is
terminated on the way out - on success, on error and on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
# Settings of the environment running the bench that must not leak into the server.
SCRUBBED = (
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "PORT",
    "HOST",
    "BACKROOM_DATA_DIR",
    "BACKROOM_ADMIN_USERNAME",
    "BACKROOM_ADMIN_PASSWORD",
    "METRICS_TOKEN",
    "WEB_WORKERS",
    "WEB_THREADS",
)
BeforeStart = Callable[[dict[str, str]], None]


class ServerError(RuntimeError):
    """The server could not be started; the message says why (with its log tail)."""


@dataclass
class Server:
    """A running setup: where it answers, its processes, and notes for the report."""

    setup: str
    description: str
    port: int
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    healthy_after: float | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def web_pid(self) -> int:
        return self.procs["web"].pid

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise ServerError(
                    f"{name} process exited with {proc.returncode}\n{self.log_tail(name)}"
                )

    def log_tail(self, name: str, lines: int = 15) -> str:
        path = self.logs.get(name)
        if path is None or not path.exists():
            return ""
        text = path.read_text(errors="replace").splitlines()
        return "\n".join(line[:300] for line in text[-lines:])


def backroom_command() -> list[str]:
    """The installed console script next to this interpreter, else `python -m app.cli`."""
    script = Path(sys.executable).parent / "backroom"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "app.cli"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def base_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update(
        PORT=str(port),
        BACKROOM_DATA_DIR=str(data_dir),
        BACKROOM_DEMO_DATA="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def spawn(
    server: Server, name: str, args: list[str], env: dict[str, str], log_dir: Path
) -> subprocess.Popen[bytes]:
    log_path = log_dir / f"{name}.log"
    handle: IO[bytes] = log_path.open("wb")
    try:
        proc = subprocess.Popen(
            backroom_command() + args,
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: we can end it and its children
        )
    finally:
        handle.close()
    server.procs[name] = proc
    server.logs[name] = log_path
    return proc


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL it if it has not gone within `timeout`."""
    if proc.poll() is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # stragglers of a dead leader
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _get_status(port: int, path: str, timeout: float = 2.0) -> int | None:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        conn.close()


def wait_ready(server: Server, *, start_timeout: float, health_timeout: float) -> None:
    """Wait until GET /products answers (200 expected), then (softly) until GET /health is 200.

    A server that answers 5xx on the catalog page is up but broken: it is measured anyway and
    the errors column shows it, so a broken page cannot hide behind a start-up failure.
    """
    started = time.monotonic()
    deadline = started + start_timeout
    while True:
        server.check_alive()
        status = _get_status(server.port, "/products")
        if status == 200:
            break
        if status is not None and deadline - time.monotonic() > 5.0:
            deadline = time.monotonic() + 5.0  # it answers: give a broken page 5 s, no more
        if time.monotonic() > deadline:
            if status is not None:
                server.notes.append(f"GET /products still answered {status} after start-up")
                break
            raise ServerError(
                f"no answer from GET /products within {start_timeout:.0f}s\n"
                f"{server.log_tail('web')}"
            )
        time.sleep(0.2)
    deadline = time.monotonic() + health_timeout
    last: int | None = None
    while time.monotonic() < deadline:
        server.check_alive()
        last = _get_status(server.port, "/health")
        if last == 200:
            server.healthy_after = round(time.monotonic() - started, 1)
            return
        time.sleep(0.5)
    server.notes.append(
        f"GET /health never answered 200 within {health_timeout:.0f}s (last: {last}); "
        "benchmarking anyway"
    )


@contextlib.contextmanager
def embedded_server(
    *,
    workers: int | None = None,
    threads: int | None = None,
    before_start: BeforeStart | None = None,
    start_timeout: float = 60.0,
    health_timeout: float = 30.0,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """`backroom serve` on a fresh SQLite database in a temporary data directory."""
    data_dir = Path(tempfile.mkdtemp(prefix="backroom-bench-"))
    port = free_port()
    env = {**base_env(data_dir, port), **(extra_env or {})}
    args = ["serve"]
    if workers:
        args += ["--workers", str(workers)]
    if threads:
        args += ["--threads", str(threads)]
    server = Server(
        setup="embedded",
        description=(
            "backroom serve: granian, "
            + (str(workers) if workers else "one per core")
            + " web process(es)"
            + (f" of {threads} threads" if threads else "")
            + ", scheduler in one, SQLite, limiter state in serve's memory"
        ),
        port=port,
    )
    try:
        if before_start is not None:
            # serve would do both itself; done first so the data is there before it starts
            # (it seeds demo data only into an empty database).
            _run_step(["db", "upgrade"], env, "backroom db upgrade")
            _run_step(["demo-data"], env, "backroom demo-data")
            before_start(env)
        spawn(server, "web", args, env, data_dir)
        wait_ready(server, start_timeout=start_timeout, health_timeout=health_timeout)
        yield server
    finally:
        for proc in server.procs.values():
            stop_process(proc)
        shutil.rmtree(data_dir, ignore_errors=True)


@contextlib.contextmanager
def fresh_postgres_database(admin_url: str) -> Iterator[str]:
    """CREATE DATABASE backroom_bench_<random> next to `admin_url`; DROP it WITH (FORCE) after."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(admin_url)
    name = f"backroom_bench_{secrets.token_hex(4)}"
    engine = create_engine(url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            with engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def _run_step(args: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(
        backroom_command() + args,
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        output = (done.stdout + done.stderr).decode(errors="replace")[-3000:]
        raise ServerError(f"{what} failed with {done.returncode}\n{output}")


@contextlib.contextmanager
def scaled_server(
    *,
    database_url: str,
    redis_url: str,
    workers: int,
    threads: int | None = None,
    before_start: BeforeStart | None = None,
    start_timeout: float = 120.0,
    health_timeout: float = 40.0,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """gunicorn workers + a scheduler process on a fresh PostgreSQL database and Redis."""
    data_dir = Path(tempfile.mkdtemp(prefix="backroom-bench-"))
    port = free_port()
    server = Server(
        setup="scaled",
        description=(
            f"backroom web: gunicorn gthread x{workers} workers"
            + (f" x{threads} threads" if threads else "")
            + " + backroom worker, PostgreSQL, Redis"
        ),
        port=port,
    )
    prefix = f"backroom-bench-{secrets.token_hex(4)}"
    server.notes.append(f"Redis keys under REDIS_KEY_PREFIX={prefix} (this run's own)")
    try:
        with fresh_postgres_database(database_url) as db_url:
            env = base_env(data_dir, port)
            env.update(
                DATABASE_URL=db_url,
                REDIS_URL=redis_url,
                REDIS_KEY_PREFIX=prefix,
                SECRET_KEY=secrets.token_hex(32),  # one key for every process
            )
            env.update(extra_env or {})
            if threads:
                env["WEB_THREADS"] = str(threads)
            _run_step(["db", "upgrade"], env, "backroom db upgrade")
            _run_step(["demo-data"], env, "backroom demo-data")
            if before_start is not None:
                before_start(env)
            try:
                spawn(
                    server,
                    "web",
                    ["web", "--workers", str(workers), "--bind", f"{HOST}:{port}"],
                    env,
                    data_dir,
                )
                spawn(server, "worker", ["worker"], env, data_dir)
                wait_ready(server, start_timeout=start_timeout, health_timeout=health_timeout)
                yield server
            finally:
                for proc in server.procs.values():
                    stop_process(proc)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def run_seeder(
    module: str,
    args: list[str],
    env: dict[str, str],
    *,
    timeout: float,
    what: str,
    error: type[RuntimeError] = RuntimeError,
) -> dict[str, Any]:
    """Run a seeding module (`python -m tests.bench.<module> ARGS`) with the server's
    environment, before the server starts; its last stdout line is a JSON object.
    Raises `error` (with the end of its output) if it fails or overruns."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", f"tests.bench.{module}", *args],
            env={**env, "PYTHONUNBUFFERED": "1"},
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise error(f"seeding {what} took over {timeout:.0f}s") from exc
    lines = done.stdout.decode(errors="replace").strip().splitlines()
    if done.returncode != 0 or not lines:
        output = (done.stdout + done.stderr).decode(errors="replace")[-3000:]
        raise error(f"seeding {what} failed with {done.returncode}\n{output}")
    data: dict[str, Any] = json.loads(lines[-1])
    return data


def spawn_client(spec: dict[str, Any]) -> subprocess.Popen[bytes]:
    """Start the load generator in its own process, the spec on its stdin."""
    with tempfile.TemporaryFile() as handle:
        handle.write(json.dumps(spec).encode())
        handle.seek(0)
        return subprocess.Popen(
            [sys.executable, "-m", "tests.bench.client"],
            cwd=ROOT,
            stdin=handle,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
