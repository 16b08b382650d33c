"""The real processes: `backroom serve` (embedded) and `backroom web` + `backroom worker`."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from tests.conftest import create_postgres_database, drop_postgres_database, need
from tests.deploy.processes import BACKROOM, call, free_port, get, running, wait_healthy

pytestmark = pytest.mark.slow


def _clean_env(tmp_path, **extra: str) -> dict[str, str]:
    env = {
        "BACKROOM_DATA_DIR": str(tmp_path),
        "DATABASE_URL": "",
        "REDIS_URL": "",
        "SECRET_KEY": "",
        "BACKROOM_DEMO_DATA": "1",
        "PORT": str(free_port()),
    }
    env.update(extra)
    return env


def test_serve_migrates_seeds_and_serves_web_and_scheduler(tmp_path):
    env = _clean_env(tmp_path)
    base = f"http://127.0.0.1:{env['PORT']}"
    with running(["serve"], env, tmp_path / "serve.log") as process:
        health = wait_healthy(base)
        assert health["checks"]["scheduler"]["ok"] is True
        status, products = get(f"{base}/api/v1/products?per_page=100")
        assert status == 200
        assert products["total"] >= 50
        assert process.poll() is None
    assert (tmp_path / "secret_key").exists()


def reserves_answered(metrics_dir: Path) -> dict[str, float]:
    """Flash-sale reservations answered, per web process, from prometheus_client's file for
    each process (counter_<pid>.db) in serve's multiprocess directory."""
    answered: dict[str, float] = {}
    for path in metrics_dir.glob("counter_*.db"):
        for key, value, _, _ in MmapedDict.read_all_values_from_file(str(path)):
            _, _, labels, _ = json.loads(key)
            if labels.get("endpoint") == "api.flash_reserve":
                pid = path.stem.split("_")[1]
                answered[pid] = answered.get(pid, 0.0) + value
    return answered


def wait_for_scheduler_logs(log: Path, workers: int, seconds: float = 20.0) -> str:
    """The log once each web process has said whether it leads the scheduler."""
    deadline = time.monotonic() + seconds
    while True:
        text = log.read_text()
        said = text.count("scheduler started as leader") + text.count("another scheduler leads")
        if said >= workers or time.monotonic() > deadline:
            return text
        time.sleep(0.2)


def test_serve_runs_web_processes_sharing_one_limiter_and_one_scheduler(
    tmp_path, tmp_path_factory, monkeypatch
):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)  # serve's default, then
    stale = tmp_path / "metrics" / "counter_1.db"
    stale.parent.mkdir()
    stale.write_bytes(b"a previous run's counts")
    env = _clean_env(
        tmp_path,
        BACKROOM_DEMO_DATA="0",
        FLASH_RATE_LIMIT="7 per minute",
        METRICS_TOKEN="scrape",
        # serve leaves its socket's directory behind; a short path (sockets allow ~107 bytes)
        TMPDIR=str(tmp_path_factory.mktemp("t")),
    )
    port = int(env["PORT"])
    log = tmp_path / "serve.log"
    with running(["serve", "--workers", "2"], env, log) as process:
        wait_healthy(f"http://127.0.0.1:{port}")
        assert not stale.exists()
        account = {"username": "hammer", "password": "password123", "email": "h@example.com"}
        assert call(port, "POST", "/api/v1/register", account)[0] == 201
        status, body = call(port, "POST", "/api/v1/auth/token", account)
        assert status == 200
        token = json.loads(body)["token"]

        def reserve(_: int) -> int:
            # No such sale (404), but every call counts against the customer's budget.
            path = "/api/v1/flash-sales/999999/reservations"
            return call(port, "POST", path, {"product_id": 1, "quantity": 1}, token)[0]

        with ThreadPoolExecutor(8) as pool:
            answers = Counter(pool.map(reserve, range(40)))
        assert answers == {404: 7, 429: 33}  # exactly the budget, whichever process answered
        per_process = reserves_answered(stale.parent)
        assert len(per_process) == 2, per_process  # both web processes took some
        assert sum(per_process.values()) == 40

        assert call(port, "GET", "/metrics")[0] == 401
        status, body = call(port, "GET", "/metrics", token="scrape")
        assert status == 200
        [requests] = [family for family in text_string_to_metric_families(body.decode())
                      if family.name == "backroom_http_requests"]  # fmt: skip
        reserves = {sample.labels["status"]: sample.value for sample in requests.samples
                    if sample.labels["endpoint"] == "api.flash_reserve"}  # fmt: skip
        assert reserves == {"404": 7.0, "429": 33.0}  # summed over both processes
        # The dashboard's traffic agrees: each process adds its counts within 5 s.
        assert _traffic_soon(tmp_path / "backroom.db", "flash_sales") == {"4xx": 7, "429": 33}
        text = wait_for_scheduler_logs(log, workers=2)
        assert text.count("scheduler started as leader") == 1, text
        assert "another scheduler leads" in text
        assert "with 2 web process(es)" in text
        assert process.poll() is None


def test_web_and_worker_run_apart_with_one_scheduler_leader(tmp_path):
    pg = os.environ.get("TEST_DATABASE_URL", "")
    redis = os.environ.get("TEST_REDIS_URL", "")
    need("PostgreSQL and Redis", bool(pg and redis), "set TEST_DATABASE_URL and TEST_REDIS_URL")
    url = create_postgres_database(pg)
    try:
        env = _clean_env(
            tmp_path, DATABASE_URL=url, REDIS_URL=redis, SECRET_KEY="scaled-test-secret"
        )
        base = f"http://127.0.0.1:{env['PORT']}"
        subprocess.run([BACKROOM, "db", "upgrade"], env={**os.environ, **env}, check=True)
        subprocess.run([BACKROOM, "demo-data"], env={**os.environ, **env}, check=True)
        with (
            running(["worker"], env, tmp_path / "worker1.log"),
            running(["worker"], env, tmp_path / "worker2.log"),
            running(
                ["web", "--workers", "2", "--bind", f"127.0.0.1:{env['PORT']}"],
                env,
                tmp_path / "web.log",
            ),
        ):
            wait_healthy(base, seconds=45)
            status, body = get(f"{base}/api/v1/products?q=knife")
            assert status == 200
            assert body["total"] >= 1
            # While both run: one leads, the other waits for the lock.
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                logs = [(tmp_path / f"worker{n}.log").read_text() for n in (1, 2)]
                if all("scheduler started as leader" in log or "another scheduler leads" in log
                       for log in logs):  # fmt: skip
                    break
                time.sleep(0.2)
            leaders = [log.count("scheduler started as leader") for log in logs]
            waiting = ["another scheduler leads" in log for log in logs]
            assert sorted(leaders) == [0, 1], logs
            assert waiting[leaders.index(0)], logs
            # The worker's lines reach the log store /monitoring/logs reads, as the web's do.
            assert _stored_soon(url, "scheduler started as leader%"), "worker lines not stored"
    finally:
        drop_postgres_database(pg, url)


def _stored_soon(url: str, pattern: str, seconds: float = 15.0) -> bool:
    """Whether a line LIKE `pattern` lands in the log store within `seconds`."""
    engine = create_engine(url)
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                found = connection.execute(
                    text("SELECT count(*) FROM log_events WHERE message LIKE :p"), {"p": pattern}
                ).scalar()
            if found:
                return True
            time.sleep(0.3)
        return False
    finally:
        engine.dispose()


def _traffic_soon(database: Path, area: str, seconds: float = 15.0) -> dict[str, int]:
    """The area's requests by status kind in traffic_minutes, once both processes wrote."""
    engine = create_engine(f"sqlite:///{database}")
    counts: dict[str, int] = {}
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                counts = {
                    str(status): int(n)
                    for status, n in connection.execute(
                        text(
                            "SELECT status, sum(count) FROM traffic_minutes WHERE area = :a "
                            "GROUP BY status"
                        ),
                        {"a": area},
                    )
                }
            if sum(counts.values()) >= 40:
                break
            time.sleep(0.5)
        return counts
    finally:
        engine.dispose()
