"""The real processes: `backroom serve` (embedded) and `backroom web` + `backroom worker`."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.conftest import create_postgres_database, drop_postgres_database, need
from tests.deploy.processes import BACKROOM, free_port, get, running, wait_healthy

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
    finally:
        drop_postgres_database(pg, url)
